"""Bulk meter ingestion (idempotent, all-or-nothing), spreadsheet import, tenant isolation, demo data."""

import io
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from demo.emissions import seed_demo_emissions
from demo.seed import seed_demo
from engine.audit import SYSTEM, verify_chain
from engine.carbon_data.aggregation import monthly_totals
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.imports import COLUMNS, header_text, import_readings, import_template
from engine.carbon_data.ingest import ingest_readings
from engine.carbon_data.inputs import production_totals, set_measured_parameter, set_production
from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.models import ActivityReading, EmissionSource, InventorySnapshot, ProductionOutput
from engine.carbon_data.parsing import LOCAL_TZ
from engine.carbon_data.readings import record_reading
from engine.carbon_data.sources import add_source, get_source, list_sources, update_source
from engine.identity.models import Product
from engine.models.audit import AuditEvent
from engine.planning.baselines import target_progress_for
from engine.planning.models import EmissionTarget


def add_meter_sources(db, org, count=2):
    ids = []
    with db.unit_of_work(org_id=org.id) as uow:
        for index in range(count):
            source = add_source(
                uow.session,
                org_id=org.id,
                actor=org.actor,
                org_unit_id=org.kiln,
                code=f"M{index + 1}",
                name=f"电表 {index + 1}",
                category="purchased_electricity",
                unit="kWh",
                tier="measured",
            )
            ids.append(source.id)
    return ids


def hourly(source_ids, *, hours, start=datetime(2024, 3, 1, tzinfo=LOCAL_TZ), quantity=1.5):
    return [
        {
            "source_id": source_id,
            "period_start": (start + timedelta(hours=hour)).isoformat(),
            "quantity": quantity,
        }
        for hour in range(hours)
        for source_id in source_ids
    ]


def reading_count(db, org_id):
    with db.read_session(org_id=org_id) as session:
        return session.execute(select(func.count()).select_from(ActivityReading)).scalar_one()


def test_bulk_ingestion_is_idempotent_per_key(db, alpha):
    sources = add_meter_sources(db, alpha)
    readings = hourly(sources, hours=300)
    with db.unit_of_work(org_id=alpha.id) as uow:
        first = ingest_readings(
            uow.session,
            org_id=alpha.id,
            readings=readings,
            idempotency_key="meter-2024-03-a",
            actor=alpha.actor,
        )
    with db.unit_of_work(org_id=alpha.id) as uow:
        replay = ingest_readings(
            uow.session,
            org_id=alpha.id,
            readings=readings,
            idempotency_key="meter-2024-03-a",
            actor=alpha.actor,
        )
    assert (first.inserted, first.sources, first.replayed) == (600, 2, False)
    assert first.first_period_start == "2024-02-29T16:00:00.000000Z"
    assert replay.replayed and replay.to_dict() == first.to_dict()
    assert reading_count(db, alpha.id) == 600
    # The same key for another request is refused.
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        ingest_readings(
            uow.session,
            org_id=alpha.id,
            readings=readings[:10],
            idempotency_key="meter-2024-03-a",
            actor=alpha.actor,
        )
    assert caught.value.issues[0].field == "idempotency_key"
    with db.read_session(org_id=alpha.id) as session:
        totals = monthly_totals(session, org_id=alpha.id, year=2024)
        assert {t.quantity for t in totals} == {Decimal("450")}  # 300 h × 1.5 kWh, all in March
        actions = (
            session.execute(select(AuditEvent.action).where(AuditEvent.subject_type == "reading_batch"))
            .scalars()
            .all()
        )
        assert actions == ["ingested"]
        assert verify_chain(session.connection(), org_id=alpha.id).ok


def test_bulk_ingestion_is_all_or_nothing(db, alpha):
    sources = add_meter_sources(db, alpha)
    readings = hourly(sources, hours=50)
    readings[3] = {**readings[3], "quantity": -2}
    readings[7] = {**readings[7], "period_start": "yesterday", "qty": 1}
    readings[9] = {**readings[9], "unit": "t"}
    readings[11] = dict(readings[10])
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        ingest_readings(
            uow.session, org_id=alpha.id, readings=readings, idempotency_key="k", actor=alpha.actor
        )
    assert {(i.row, i.field) for i in caught.value.issues} == {
        (4, "quantity"),
        (8, "qty"),
        (8, "period_start"),
        (10, "unit"),
        (12, "period_start"),
    }
    assert reading_count(db, alpha.id) == 0
    # Readings that clash with stored ones: refused by row, nothing inserted, the key stays free.
    good = hourly(sources, hours=50)
    with db.unit_of_work(org_id=alpha.id) as uow:
        ingest_readings(
            uow.session, org_id=alpha.id, readings=good[:20], idempotency_key="k1", actor=alpha.actor
        )
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        ingest_readings(
            uow.session, org_id=alpha.id, readings=good[18:], idempotency_key="k2", actor=alpha.actor
        )
    assert [(i.row, i.field) for i in caught.value.issues] == [(1, "period_start"), (2, "period_start")]
    assert reading_count(db, alpha.id) == 20
    with db.unit_of_work(org_id=alpha.id) as uow:
        result = ingest_readings(
            uow.session, org_id=alpha.id, readings=good[20:], idempotency_key="k2", actor=alpha.actor
        )
    assert result.inserted == 80 and reading_count(db, alpha.id) == 100


def test_another_organizations_source_is_refused(db, orgs):
    alpha, beta = orgs
    (beta_source,) = add_meter_sources(db, beta, count=1)
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        ingest_readings(
            uow.session,
            org_id=alpha.id,
            readings=hourly([beta_source], hours=2),
            idempotency_key="x",
            actor=alpha.actor,
        )
    assert [(i.row, i.field) for i in caught.value.issues] == [(1, "source_id"), (2, "source_id")]
    with pytest.raises(EmissionsDataError), db.unit_of_work(org_id=alpha.id) as uow:
        record_reading(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            source_id=beta_source,
            period="2024-01",
            quantity=1,
        )
    with pytest.raises(EmissionsDataError), db.unit_of_work(org_id=alpha.id) as uow:
        update_source(
            uow.session, org_id=alpha.id, source_id=beta_source, actor=alpha.actor, changes={"name": "x"}
        )
    with pytest.raises(EmissionsDataError), db.unit_of_work(org_id=alpha.id) as uow:
        set_measured_parameter(
            uow.session, org_id=alpha.id, actor=alpha.actor, source_id=beta_source, period="2024-01", ncv="20"
        )
    with pytest.raises(EmissionsDataError), db.unit_of_work(org_id=alpha.id) as uow:
        set_production(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            product_id=beta.clinker,
            period="2024-01",
            quantity=1,
        )
    with db.unit_of_work(org_id=beta.id) as uow:
        ingest_readings(
            uow.session,
            org_id=beta.id,
            readings=hourly([beta_source], hours=5),
            idempotency_key="x",
            actor=beta.actor,
        )
    with db.read_session(org_id=alpha.id) as session:
        assert monthly_totals(session, org_id=alpha.id, year=2024) == []
        assert list_sources(session, org_id=alpha.id) == []
        assert get_source(session, org_id=alpha.id, source_id=beta_source) is None
    with db.read_session(org_id=beta.id) as session:
        assert [t.quantity for t in monthly_totals(session, org_id=beta.id, year=2024)] == [Decimal("7.5")]


def xlsx(rows):
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "readings"
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


HEADER = [header_text(key) for key, _, _ in COLUMNS]


def test_the_template_has_the_bilingual_header_and_the_sources(db, alpha):
    add_meter_sources(db, alpha, count=1)
    with db.read_session(org_id=alpha.id) as session:
        content = import_template(session, org_id=alpha.id)
    workbook = load_workbook(io.BytesIO(content))
    assert [cell.value for cell in workbook["readings"][1]] == HEADER
    assert HEADER[:3] == ["排放源编码 Source code", "期间 Period (YYYY-MM or timestamp)", "数量 Quantity"]
    assert workbook["排放源 Sources"]["A2"].value == "M1"


def test_import_reports_every_bad_row_and_imports_nothing(db, alpha):
    add_meter_sources(db, alpha, count=1)
    content = xlsx(
        [
            HEADER,
            ["M1", "2024-01", 1000, "", "measured", "一月"],
            ["M9", "2024-02", 5, None, None, None],
            ["M1", "2024-13", -5, "t", "guess", None],
            ["M1", "2024-01", 7, None, None, None],
            [None, None, None, None, None, None],
            ["M1", datetime(2024, 3, 1, 8, 0), "abc", "MWh", None, "x" * 201],
        ]
    )
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        import_readings(
            uow.session, org_id=alpha.id, actor=alpha.actor, filename="data.xlsx", content=content
        )
    found = [(i.row, i.field) for i in caught.value.issues]
    assert found == [
        (3, HEADER[0]),
        (4, HEADER[1]),
        (4, HEADER[3]),
        (4, HEADER[2]),
        (4, HEADER[4]),
        (5, HEADER[1]),
        (7, HEADER[2]),
        (7, HEADER[5]),
    ]
    issue = caught.value.issues[0]
    assert "M9" in issue.message_zh and "M9" in issue.message_en
    assert "第 2 行" in caught.value.issues[5].message_zh and "row 2" in caught.value.issues[5].message_en
    assert reading_count(db, alpha.id) == 0
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        import_readings(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            filename="x.xlsx",
            content=xlsx([["编码", "数量"]]),
        )
    assert {i.field for i in caught.value.issues} == {"编码", HEADER[0], HEADER[1]}


def test_reimporting_a_file_creates_no_duplicates_and_corrections_are_audited(db, alpha):
    (source_id,) = add_meter_sources(db, alpha, count=1)
    rows = [HEADER] + [["M1", f"2024-{month:02d}", 1000 + month, "MWh", None, None] for month in range(1, 13)]
    rows.append(["M1", datetime(2025, 1, 5, 8, 0), 250.5, "kWh", "统计", "抄表"])
    content = xlsx(rows)
    results = []
    for _ in range(2):
        with db.unit_of_work(org_id=alpha.id) as uow:
            results.append(
                import_readings(
                    uow.session, org_id=alpha.id, actor=alpha.actor, filename="a.xlsx", content=content
                )
            )
    first, second = results
    assert (first.inserted, first.updated, first.unchanged) == (13, 0, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 13)
    assert second.same_file_batches == (first.batch_id,)
    assert reading_count(db, alpha.id) == 13
    # The same data as CSV in GB18030 (what Excel on Chinese Windows writes), with one value corrected.
    lines = [",".join(HEADER)] + [f"M1,2024-{month:02d},{1000 + month},MWh,," for month in range(1, 13)]
    lines[3] = "M1,2024-03,999.5,MWh,,更正"
    with db.unit_of_work(org_id=alpha.id) as uow:
        third = import_readings(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            filename="a.csv",
            content="\n".join(lines).encode("gb18030"),
        )
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 11)
    with db.read_session(org_id=alpha.id) as session:
        totals = {t.period: t.quantity for t in monthly_totals(session, org_id=alpha.id, year=2024)}
        assert totals["2024-03"] == Decimal("999500")  # kWh, the source's unit
        assert totals["2024-01"] == Decimal("1001000")
        assert [t.quantity for t in monthly_totals(session, org_id=alpha.id, year=2025)] == [Decimal("250.5")]
        payloads = session.execute(
            select(AuditEvent.action, AuditEvent.payload).where(AuditEvent.subject_type == "reading_batch")
        ).all()
        assert [action for action, _ in payloads] == ["imported", "imported", "imported", "corrected"]
        assert '"M1@2024-03.quantity":["1003000","999500"]' in payloads[-1][1]
        assert '"M1@2024-03.note":[null,"更正"]' in payloads[-1][1]
        assert verify_chain(session.connection(), org_id=alpha.id).ok
    assert source_id


def test_demo_emissions_seed_is_idempotent_and_calculates(db):
    with db.unit_of_work(all_orgs=True) as uow:
        org_id = seed_demo(uow.session).id  # the demo seeder includes the emissions data
    with db.unit_of_work(org_id=org_id) as uow:
        assert seed_demo_emissions(uow.session, org_id=org_id, actor=SYSTEM) is False

    def count(session, model):
        return session.execute(select(func.count()).select_from(model)).scalar_one()

    with db.read_session(org_id=org_id) as session:
        assert count(session, EmissionSource) == 4
        assert count(session, ActivityReading) == 4 * 24
        assert count(session, ProductionOutput) == 3 * 24
        assert count(session, InventorySnapshot) == 0
        clinker = session.execute(select(Product.id).where(Product.code == "CLK")).scalar_one()
        result = build_inventory(session, org_id=org_id, year=2024, product_id=clinker)
        document = result.json
        assert set(document["by_category"]) == {"combustion", "process", "purchased_electricity"}
        assert 1_000_000 < document["total_tco2e"] < 1_500_000
        assert 0.7 < document["intensity"]["tco2e_per_product_unit"] < 0.95
        assert result.grid_year == 2023
        produced = production_totals(session, org_id=org_id, year=2024)[clinker]
        assert 1_400_000 < produced.quantity < 1_600_000
        target_id = session.execute(select(EmissionTarget.id)).scalar_one()
        progress = target_progress_for(session, org_id=org_id, target_id=target_id, current_year=2025)
        assert progress.target.reduction_pct == 5
