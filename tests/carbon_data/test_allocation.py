"""Allocation units (issue 14 item 7): a two-line cement plant whose purchased electricity is metered at
the site and allocated to kiln lines A and B, by sub-meter and by output share; hand-computed figures.

Kiln line A: 2,000 t clinker, line B: 1,000 t, CaO 0.56 and MgO 0.04 → 0.56 × 44/56 + 0.04 × 44/40
= 0.44 + 0.044 = 0.484 tCO2/t: A 968, B 484 tCO2. The site buys 1,000 MWh (湖南 2022, 0.4900 tCO2/MWh)
= 490 tCO2. Entity total 968 + 484 + 490 = 1,942.
- Sub-meters A 550 MWh, B 350 MWh: A 490 × 0.55 = 269.5, B 490 × 0.35 = 171.5, unmetered 100 MWh = 49 left
  on the site. Line A 968 + 269.5 = 1,237.5 (0.61875 t/t), B 484 + 171.5 = 655.5 (0.6555 t/t).
- Output shares 2,000 : 1,000: A 490 × 2/3 = 326.666667 (half-even, 6 decimals), B the rest 163.333333.
  Line A 1,294.666667, B 647.333333, nothing left on the site."""

from decimal import Decimal

import pytest
from sqlmodel import select

from engine.carbon_data.allocation import ShareInput, node_inventory, set_allocation, set_product_unit
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inputs import set_production
from engine.carbon_data.models import AllocationKey, AllocationShare
from engine.carbon_data.readings import record_readings
from engine.carbon_data.sources import add_source
from engine.identity.models import OrgUnitKind
from engine.identity.organizations import add_org_unit, add_product
from engine.models.audit import AuditEvent
from engine.planning.performance import add_parameter, evaluate_parameters

YEAR = 2022


@pytest.fixture
def plant(db, alpha):
    """HN (legal entity) → SITE → kiln lines LA and LB (LA with its kiln process), and the sister
    facility tree of the fixture's organization left as it is (its KILN1 and QUARRY have no sources)."""
    org = alpha
    ids = {}
    with db.unit_of_work(org_id=org.id) as uow:
        s = uow.session
        units = {}
        for code, kind, parent, name in (
            ("HN", OrgUnitKind.legal_entity, None, "湘峰水泥"),
            ("SITE", OrgUnitKind.site, "HN", "厂区"),
            ("LA", OrgUnitKind.production_line, "SITE", "A 线"),
            ("LB", OrgUnitKind.production_line, "SITE", "B 线"),
            ("LA-KILN", OrgUnitKind.process, "LA", "A 线烧成"),
            ("OFFICE", OrgUnitKind.department, "SITE", "办公楼"),
        ):
            units[code] = add_org_unit(
                s, org_id=org.id, kind=kind, code=code, name=name, parent=units.get(parent), actor=org.actor
            )
        site, line_a, line_b, kiln_a = units["SITE"], units["LA"], units["LB"], units["LA-KILN"]
        sources = {}
        for code, unit, fields in (
            ("KA", kiln_a, {"category": "process", "fuel_or_material": "熟料", "unit": "t"}),
            ("KB", line_b, {"category": "process", "fuel_or_material": "熟料", "unit": "t"}),
            ("EL", site, {"category": "purchased_electricity", "unit": "MWh", "region": "湖南"}),
        ):
            if fields["category"] == "process":
                fields["parameters"] = {"cao_content": "0.56", "mgo_content": "0.04"}
            sources[code] = add_source(
                s, org_id=org.id, actor=org.actor, org_unit_id=unit.id, code=code, name=code, **fields
            ).id
        record_readings(
            s,
            org_id=org.id,
            actor=org.actor,
            entries=[
                {"source_id": sources["KA"], "period": f"{YEAR}-01", "quantity": "1200"},
                {"source_id": sources["KA"], "period": f"{YEAR}-02", "quantity": "800"},
                {"source_id": sources["KB"], "period": f"{YEAR}-02", "quantity": "1000"},
                {"source_id": sources["EL"], "period": f"{YEAR}-01", "quantity": "400"},
                {"source_id": sources["EL"], "period": f"{YEAR}-02", "quantity": "600"},
            ],
        )
        products = {}
        for code, unit, months in (("CLKA", line_a, ("1200", "800")), ("CLKB", line_b, ("0", "1000"))):
            product = add_product(s, org_id=org.id, code=code, name=f"熟料（{unit.name}）", actor=org.actor)
            set_product_unit(s, org_id=org.id, actor=org.actor, product_id=product.id, org_unit_id=unit.id)
            for month, quantity in zip(("01", "02"), months, strict=True):
                set_production(
                    s,
                    org_id=org.id,
                    actor=org.actor,
                    product_id=product.id,
                    period=f"{YEAR}-{month}",
                    quantity=quantity,
                )
            products[code] = product.id
        ids = {
            "entity": units["HN"].id,
            "site": site.id,
            "LA": line_a.id,
            "LB": line_b.id,
            "kiln_a": kiln_a.id,
            "office": units["OFFICE"].id,
            **sources,
            **products,
        }
    return org, ids


def _allocate(db, org, ids, method, shares, basis="2022 年分表读数（EM-A1、EM-B1）"):
    with db.unit_of_work(org_id=org.id) as uow:
        return set_allocation(
            uow.session,
            org_id=org.id,
            actor=org.actor,
            source_id=ids["EL"],
            year=YEAR,
            method=method,
            basis=basis,
            shares=shares,
        )


def _submeters(ids, a="550", b="350"):
    return [ShareInput(ids["LA"], metered_quantity=a), ShareInput(ids["LB"], metered_quantity=b)]


def _figures(db, org):
    with db.read_session(org_id=org.id) as session:
        return node_inventory(session, org_id=org.id, year=YEAR)


def test_without_a_key_the_electricity_stays_on_the_site(db, plant):
    org, ids = plant
    nodes = _figures(db, org)
    assert nodes.total_tco2e == Decimal("1942")
    assert nodes.nodes[ids["LA"]].rolled == Decimal("968")
    assert nodes.nodes[ids["LB"]].rolled == Decimal("484")
    assert nodes.remainder(ids["entity"]) == Decimal("490")


def test_sub_meters_allocate_the_metered_part_and_leave_the_rest_on_the_site(db, plant):
    org, ids = plant
    _allocate(
        db,
        org,
        ids,
        "submeter",
        _submeters(ids),
    )
    nodes = _figures(db, org)
    line_a, line_b = nodes.nodes[ids["LA"]], nodes.nodes[ids["LB"]]
    assert [a.tco2e for a in line_a.allocated_in] == [Decimal("269.5")]
    assert [a.tco2e for a in line_b.allocated_in] == [Decimal("171.5")]
    assert line_a.rolled == Decimal("1237.5") and line_b.rolled == Decimal("655.5")
    assert nodes.nodes[ids["kiln_a"]].rolled == Decimal("968")  # the process keeps only its own source
    assert nodes.nodes[ids["site"]].attributed == Decimal("49")
    assert [n.unit.code for n in nodes.allocation_units(ids["entity"])] == ["LA", "LB"]
    remainder = nodes.remainder(ids["entity"])
    assert remainder == Decimal("49")
    assert line_a.rolled + line_b.rolled + remainder == nodes.total_tco2e == Decimal("1942")
    assert nodes.nodes[ids["entity"]].rolled == nodes.total_tco2e
    intensities = {i.product.code: i.per_unit for i in nodes.intensities(ids["LA"])}
    intensities |= {i.product.code: i.per_unit for i in nodes.intensities(ids["LB"])}
    assert intensities == {"CLKA": Decimal("0.61875"), "CLKB": Decimal("0.6555")}
    # A line's processes are its allocation units: the kiln process, and the line's own rest (the power).
    assert [n.unit.code for n in nodes.allocation_units(ids["LA"])] == ["LA-KILN"]
    assert nodes.remainder(ids["LA"]) == Decimal("269.5")


def test_output_shares_allocate_everything_exactly(db, plant):
    org, ids = plant
    _allocate(
        db,
        org,
        ids,
        "output_share",
        [ShareInput(ids["LA"], product_id=ids["CLKA"]), ShareInput(ids["LB"], product_id=ids["CLKB"])],
        basis="2022 年熟料产量统计月报",
    )
    nodes = _figures(db, org)
    line_a, line_b = nodes.nodes[ids["LA"]], nodes.nodes[ids["LB"]]
    assert [a.tco2e for a in line_a.allocated_in] == [Decimal("326.666667")]
    assert [a.tco2e for a in line_b.allocated_in] == [Decimal("163.333333")]
    assert line_a.allocated_in[0].share == Decimal(2) / 3
    assert line_a.rolled == Decimal("1294.666667") and line_b.rolled == Decimal("647.333333")
    assert nodes.remainder(ids["entity"]) == 0
    assert line_a.rolled + line_b.rolled + nodes.remainder(ids["entity"]) == nodes.total_tco2e


def test_line_figures_feed_the_performance_parameters(db, plant):
    org, ids = plant
    _allocate(
        db,
        org,
        ids,
        "submeter",
        _submeters(ids),
    )
    with db.unit_of_work(org_id=org.id) as uow:
        add_parameter(
            uow.session,
            org_id=org.id,
            actor=org.actor,
            code="CPP-LA",
            name="A 线单位熟料排放",
            level="facility",
            formula="unit.LA / production.CLKA",
            unit="tCO2/t",
            org_unit_id=ids["LA"],
        )
    with db.read_session(org_id=org.id) as session:
        (value,) = evaluate_parameters(session, org_id=org.id, year=YEAR)
    assert value.value == Decimal("0.61875")


def test_replacing_a_key_is_audited_by_names(db, plant):
    org, ids = plant
    shares = _submeters(ids)
    _allocate(db, org, ids, "submeter", shares)
    _allocate(db, org, ids, "submeter", [shares[0], ShareInput(ids["LB"], metered_quantity="400")])
    with db.read_session(org_id=org.id) as session:
        assert len(session.exec(select(AllocationKey)).all()) == 1
        assert len(session.exec(select(AllocationShare)).all()) == 2
        events = session.exec(select(AuditEvent).where(AuditEvent.subject_type == "allocation_key")).all()
    assert [e.action for e in events] == ["created", "updated"]
    assert "LB B 线：400 MWh" in str(events[-1].payload)
    assert "LB B 线：350 MWh" in str(events[-1].payload)


def test_bad_keys_are_refused_naming_row_and_field_and_write_nothing(db, plant):
    org, ids = plant
    with pytest.raises(EmissionsDataError) as refused:
        _allocate(
            db,
            org,
            ids,
            "submeter",
            [
                ShareInput(ids["LA"], metered_quantity="-5"),
                ShareInput(ids["office"], metered_quantity="10"),
                ShareInput(ids["LA"], metered_quantity="abc"),
            ],
            basis=" ",
        )
    found = {(issue.row, issue.field) for issue in refused.value.issues}
    assert found == {
        (None, "basis"),
        (1, "metered_quantity"),
        (2, "target_unit_id"),
        (3, "target_unit_id"),
        (3, "metered_quantity"),
    }
    with pytest.raises(EmissionsDataError) as refused:
        _allocate(db, org, ids, "by_guess", [ShareInput(ids["LA"])], basis="分表\u202e读数")
    assert [i.field for i in refused.value.issues] == ["allocation_method", "basis"]
    assert "U+202E" in refused.value.issues[1].message_zh
    with pytest.raises(EmissionsDataError) as refused:
        _allocate(db, org, ids, "output_share", [ShareInput(ids["LA"], product_id=ids["CLKB"])])
    assert [(i.row, i.field) for i in refused.value.issues] == [(1, "product_id")]
    assert "不是“A 线”生产的" in refused.value.issues[0].message_zh
    with pytest.raises(EmissionsDataError) as refused, db.unit_of_work(org_id=org.id) as uow:
        set_allocation(
            uow.session,
            org_id=org.id,
            actor=org.actor,
            source_id=ids["KA"],
            year=YEAR,
            method="submeter",
            basis="x",
            shares=[ShareInput(ids["kiln_a"], metered_quantity="1")],
        )
    assert {(i.row, i.field) for i in refused.value.issues} == {(None, "source_id"), (1, "target_unit_id")}
    with db.read_session(org_id=org.id) as session:
        assert session.exec(select(AllocationKey)).all() == []
        assert session.exec(select(AllocationShare)).all() == []


def test_sub_meters_above_the_main_meter_are_named_when_the_figures_are_built(db, plant):
    org, ids = plant
    _allocate(
        db,
        org,
        ids,
        "submeter",
        _submeters(ids, a="700"),
    )
    with pytest.raises(EmissionsDataError) as refused:
        _figures(db, org)
    (issue,) = refused.value.issues
    assert issue.field == "metered_quantity"
    assert "分表合计 1050 MWh 超过总表 1000 MWh" in issue.message_zh
