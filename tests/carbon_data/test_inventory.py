"""Inventories built from the database agree with the pure calculator; frozen snapshots stay frozen."""

from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.audit import Actor
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inputs import production_totals, set_measured_parameter, set_production
from engine.carbon_data.inventory import build_inventory, emission_intensity
from engine.carbon_data.readings import record_reading, record_readings
from engine.carbon_data.snapshots import freeze_snapshot, list_snapshots, snapshot_details
from engine.carbon_data.sources import add_source, list_sources, update_source
from engine.emissions import calc_input_from_dict, calculate, inventory_to_json
from engine.planning.baselines import (
    add_baseline,
    add_target,
    annual_value,
    evaluate_baseline,
    target_progress_for,
)
from tests.carbon_data.conftest import verify_year


def setup_small_plant(db, org, *, year=2023):
    """Diesel at the quarry (Jan 10 t, Feb 2.5 t), grid power at the kiln (Feb 100 MWh), clinker."""
    with db.unit_of_work(org_id=org.id) as uow:
        session = uow.session
        diesel = add_source(
            session,
            org_id=org.id,
            actor=org.actor,
            org_unit_id=org.quarry,
            code="D1",
            name="矿山柴油",
            category="combustion",
            fuel_or_material="柴油",
            unit="t",
            tier="measured",
        )
        power = add_source(
            session,
            org_id=org.id,
            actor=org.actor,
            org_unit_id=org.kiln,
            code="E1",
            name="外购电",
            category="purchased_electricity",
            unit="MWh",
        )
        clinker = add_source(
            session,
            org_id=org.id,
            actor=org.actor,
            org_unit_id=org.kiln,
            code="K1",
            name="熟料过程",
            category="process",
            fuel_or_material="熟料",
            unit="t",
            parameters={"cao_content": "0.65", "mgo_content": "0.02"},
        )
        record_readings(
            session,
            org_id=org.id,
            actor=org.actor,
            entries=[
                {"source_id": diesel.id, "period": f"{year}-01", "quantity": "10"},
                {"source_id": diesel.id, "period": f"{year}-02", "quantity": "2.5"},
                {"source_id": power.id, "period": f"{year}-02", "quantity": "100"},
                {"source_id": clinker.id, "period": f"{year}-02", "quantity": "1000"},
            ],
        )
    return diesel.id, power.id, clinker.id


def test_inventory_matches_the_pure_calculator_and_a_hand_checked_golden(db, alpha):
    setup_small_plant(db, alpha)
    with db.read_session(org_id=alpha.id) as session:
        result = build_inventory(session, org_id=alpha.id, year=2023)
    # Hand-checked: diesel 12.5 t × 42.652 GJ/t × 0.0202 tC/GJ × 0.98 × 44/12 = 38.69887 tCO2;
    # Hunan 2023 grid 100 MWh × 0.4976 = 49.76; clinker 1000 t × (0.65 × 44/56 + 0.02 × 44/40) = 532.714286.
    document = result.json
    assert document["total_tco2e"] == 621.173156
    assert document["by_category"] == {
        "combustion": 38.69887,
        "process": 532.714286,
        "purchased_electricity": 49.76,
    }
    assert document["by_org_unit"] == {"矿山": 38.69887, "1# 窑": 582.474286}
    assert document["by_period"] == {"2023-01": 30.959096, "2023-02": 590.21406}
    assert result.grid_year == 2023
    assert [line["name"] for line in document["lines"]] == [
        "D1 矿山柴油",
        "D1 矿山柴油",
        "E1 外购电",
        "K1 熟料过程",
    ]
    # The same lines through the calculator's public JSON input give the same result.
    direct = inventory_to_json(calculate(calc_input_from_dict(result.inputs)))
    assert {**direct, "origin": None} == {**document, "origin": None}
    assert result.inputs["lines"][0] == {
        "category": "combustion",
        "quantity": "10",
        "unit": "t",
        "name": "D1 矿山柴油",
        "fuel": "柴油",
        "tier": "measured",
        "org_unit": "矿山",
        "period": "2023-01",
    }


def test_latest_grid_year_is_used_and_named_when_the_year_has_no_factor(db, alpha):
    setup_small_plant(db, alpha, year=2025)
    with db.read_session(org_id=alpha.id) as session:
        result = build_inventory(session, org_id=alpha.id, year=2025)
        explicit = build_inventory(session, org_id=alpha.id, year=2025, grid_year=2022)
        with pytest.raises(EmissionsDataError) as caught:
            build_inventory(session, org_id=alpha.id, year=2025, grid_year=2015)
    assert result.grid_year == 2023
    power = next(line for line in result.json["lines"] if line["category"] == "purchased_electricity")
    assert power["trace"]["factors"][0]["note"].startswith("湖南 2023")
    assert next(line for line in explicit.json["lines"] if line["name"] == "E1 外购电")["tco2e"] == 49.0
    (issue,) = caught.value.issues
    assert (issue.field, issue.source_code, issue.period) == ("year", "E1", "2025-02")
    assert "E1" in issue.message_zh and "2021" in issue.message_en


def test_a_regional_grid_without_a_factor_for_the_year_takes_its_latest_year_not_the_national_one(db, alpha):
    # 西南 has no 2023 factor: the inventory takes 西南 2022 (0.2268), not national 2023 (0.5306).
    with db.unit_of_work(org_id=alpha.id) as uow:
        power = add_source(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            org_unit_id=alpha.kiln,
            code="E2",
            name="西南外购电",
            category="purchased_electricity",
            unit="MWh",
            region="西南",
        )
        record_reading(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            source_id=power.id,
            period="2023-03",
            quantity="100",
        )
    with db.read_session(org_id=alpha.id) as session:
        result = build_inventory(session, org_id=alpha.id, year=2023)
    (line,) = result.json["lines"]
    assert line["tco2e"] == 22.68
    assert line["trace"]["factors"][0]["note"] == "西南 2022 (average)"
    assert result.grid_year == 2022


def test_intensity_needs_production_data(db, alpha):
    setup_small_plant(db, alpha)
    with db.read_session(org_id=alpha.id) as session, pytest.raises(EmissionsDataError) as caught:
        build_inventory(session, org_id=alpha.id, year=2023, product_id=alpha.clinker)
    (issue,) = caught.value.issues
    assert issue.field == "production" and "产量" in issue.message_zh and "intensity" in issue.message_en
    with db.unit_of_work(org_id=alpha.id) as uow:
        for month, quantity in (("2023-01", "400"), ("2023-02", "600")):
            set_production(
                uow.session,
                org_id=alpha.id,
                actor=alpha.actor,
                product_id=alpha.clinker,
                period=month,
                quantity=quantity,
                output_value_10k_cny="25",
            )
    with db.read_session(org_id=alpha.id) as session:
        totals = production_totals(session, org_id=alpha.id, year=2023)
        value = emission_intensity(session, org_id=alpha.id, year=2023, product_id=alpha.clinker)
        document = build_inventory(session, org_id=alpha.id, year=2023, product_id=alpha.clinker).json
    assert totals[alpha.clinker].quantity == Decimal(1000)
    assert totals[alpha.clinker].output_value_10k_cny == Decimal(50)
    assert round(value.per_product, 9) == Decimal("0.621173156")
    assert document["intensity"]["tco2e_per_product_unit"] == 0.621173
    assert document["intensity"]["tco2e_per_10k_cny"] == 12.423463


def test_measured_parameters_are_used_and_a_missing_month_is_named(db, alpha):
    with db.unit_of_work(org_id=alpha.id) as uow:
        coal = add_source(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            org_unit_id=alpha.kiln,
            code="COAL",
            name="窑煤",
            category="combustion",
            fuel_or_material="烟煤",
            unit="t",
            factor_choice="measured",
        )
        for month in ("2023-01", "2023-02"):
            record_reading(
                uow.session, org_id=alpha.id, actor=alpha.actor, source_id=coal.id, period=month, quantity=100
            )
        set_measured_parameter(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            source_id=coal.id,
            period="2023-01",
            ncv="23",
            ncv_unit="GJ/t",
        )
    with db.read_session(org_id=alpha.id) as session, pytest.raises(EmissionsDataError) as caught:
        build_inventory(session, org_id=alpha.id, year=2023)
    (issue,) = caught.value.issues
    assert (issue.field, issue.source_code, issue.period) == ("measured_parameter", "COAL", "2023-02")
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        set_measured_parameter(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            source_id=coal.id,
            period="2023-02",
            oxidation_rate="93",
        )
    assert [i.field for i in caught.value.issues] == ["oxidation_rate"]
    with db.unit_of_work(org_id=alpha.id) as uow:
        set_measured_parameter(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            source_id=coal.id,
            period="2023-02",
            ncv="22",
            ncv_unit="GJ/t",
        )
    with db.read_session(org_id=alpha.id) as session:
        lines = build_inventory(session, org_id=alpha.id, year=2023).json["lines"]
    # 100 t × 23 GJ/t × 0.0261 tC/GJ × 0.93 × 44/12 (measured NCV, default carbon content and oxidation)
    assert lines[0]["tco2e"] == 204.7023
    assert lines[0]["trace"]["factor_choice"]["tier"] == "partly_measured"
    assert lines[1]["tco2e"] == 195.8022


def test_a_snapshot_is_refused_by_the_service_itself_until_every_month_is_verified(db, alpha):
    setup_small_plant(db, alpha)
    with pytest.raises(EmissionsDataError) as refused, db.unit_of_work(org_id=alpha.id) as uow:
        freeze_snapshot(uow.session, org_id=alpha.id, year=2023, actor=alpha.actor)
    assert "2023-01" in refused.value.issues[0].message_zh and refused.value.issues[0].field == "year"
    with db.read_session(org_id=alpha.id) as session:
        assert list_snapshots(session, org_id=alpha.id, year=2023) == []


def test_a_snapshot_is_frozen_and_refreezing_the_same_inputs_returns_it(db, alpha):
    diesel, _, clinker = setup_small_plant(db, alpha)
    verify_year(db, alpha, 2023)
    with db.unit_of_work(org_id=alpha.id) as uow:
        first = freeze_snapshot(uow.session, org_id=alpha.id, year=2023, actor=alpha.actor)
    with db.unit_of_work(org_id=alpha.id) as uow:
        again = freeze_snapshot(uow.session, org_id=alpha.id, year=2023, actor=alpha.actor)
    assert again.id == first.id
    frozen_result = first.result
    # Later changes to data and to a source's parameters do not touch the snapshot. Changing a verified
    # month needs a reason and sends its batch back (8.6), which the service path enforces by itself.
    manager = Actor(alpha.actor.id, alpha.actor.name, frozenset({"carbon_manager"}))
    with pytest.raises(EmissionsDataError), db.unit_of_work(org_id=alpha.id) as uow:
        record_reading(
            uow.session, org_id=alpha.id, actor=manager, source_id=diesel, period="2023-01", quantity="11"
        )
    with db.unit_of_work(org_id=alpha.id) as uow:
        record_reading(
            uow.session,
            org_id=alpha.id,
            actor=manager,
            source_id=diesel,
            period="2023-01",
            quantity="11",
            reason="1 月柴油台账更正",
        )
        update_source(
            uow.session,
            org_id=alpha.id,
            source_id=clinker,
            actor=alpha.actor,
            changes={"parameters": {"cao_content": "0.66", "mgo_content": "0.02"}},
        )
    with pytest.raises(EmissionsDataError), db.unit_of_work(org_id=alpha.id) as uow:
        freeze_snapshot(uow.session, org_id=alpha.id, year=2023, actor=alpha.actor)  # January went back
    verify_year(db, alpha, 2023, months=[1])
    # Freezing the year again restates it: without a reason it is refused, naming the field.
    with pytest.raises(EmissionsDataError) as refused, db.unit_of_work(org_id=alpha.id) as uow:
        freeze_snapshot(uow.session, org_id=alpha.id, year=2023, actor=alpha.actor)
    assert [issue.field for issue in refused.value.issues] == ["freeze_reason"]
    assert "重新冻结即重述" in refused.value.issues[0].message_zh
    with db.unit_of_work(org_id=alpha.id) as uow:
        second = freeze_snapshot(
            uow.session, org_id=alpha.id, year=2023, actor=alpha.actor, reason="1 月柴油台账更正后重述"
        )
    assert second.id != first.id and second.inputs_sha256 != first.inputs_sha256
    with db.read_session(org_id=alpha.id) as session:
        details = snapshot_details(session, org_id=alpha.id, snapshot_id=second.id)
        restated = details.restatement
        assert restated is not None and restated.previous.id == first.id
        assert restated.total.before == first.total_tco2e and restated.total.after == second.total_tco2e
        assert restated.total.delta == second.total_tco2e - first.total_tco2e != 0
        by_category = sum((c.delta for c in restated.categories), Decimal(0))  # presented to 6 decimals
        assert abs(by_category - restated.total.delta) < Decimal("0.000002")
        assert restated.lines and all(change.before != change.after for change in restated.lines)
    with db.read_session(org_id=alpha.id) as session:
        stored = list_snapshots(session, org_id=alpha.id, year=2023)
        assert [s.id for s in stored] == [second.id, first.id]
        old = stored[1]
        assert old.result == frozen_result and round(old.total_tco2e, 6) == Decimal("621.173156")
        assert old.frozen is True
        # The stored inputs recalculate to the stored result.
        recalculated = inventory_to_json(calculate(calc_input_from_dict(old.inputs)))
        assert {**recalculated, "origin": None} == {**old.result, "origin": None}
        assert annual_value(session, org_id=alpha.id, year=2023).basis == f"snapshot #{second.id}"
    with pytest.raises(DBAPIError, match="frozen"), db.engine.begin() as connection:
        connection.execute(text("UPDATE inventory_snapshot SET total_tco2e = '0'"))
    with pytest.raises(DBAPIError, match="frozen"), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM inventory_snapshot"))


def test_baseline_and_target_progress(db, alpha):
    setup_small_plant(db, alpha, year=2023)
    setup_more = {"2024-02": "50"}  # less power in 2024
    with db.unit_of_work(org_id=alpha.id) as uow:
        power = list_sources(uow.session, org_id=alpha.id)[1]
        for month, quantity in setup_more.items():
            record_reading(
                uow.session,
                org_id=alpha.id,
                actor=alpha.actor,
                source_id=power.id,
                period=month,
                quantity=quantity,
            )
        base = add_baseline(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            name="2023 基准",
            periods=[{"year": 2023, "weight": 1}],
        )
        target = add_target(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            kind="total",
            base_year=2023,
            target_year=2030,
            reduction_pct=5,
        )
    with db.read_session(org_id=alpha.id) as session:
        evaluation = evaluate_baseline(session, org_id=alpha.id, baseline_id=base.id)
        progress = target_progress_for(session, org_id=alpha.id, target_id=target.id, current_year=2024)
    assert round(evaluation.baseline.value, 6) == Decimal("621.173156")
    assert evaluation.basis == {2023: "live"}
    assert round(progress.current_value, 6) == Decimal("24.880000")  # 50 MWh × 0.4976 (2023 factor)
    assert progress.on_track
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        add_target(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            kind="intensity",
            base_year=2030,
            target_year=2024,
            reduction_pct=120,
        )
    assert {i.field for i in caught.value.issues} == {"reduction_pct", "target_year", "product_id"}
