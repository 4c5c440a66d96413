"""Sources and manual readings: audited writes, validation messages, exact SQL monthly totals."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.audit import verify_chain
from engine.carbon_data.aggregation import MonthlyTotal, monthly_totals
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.ingest import ingest_readings
from engine.carbon_data.parsing import LOCAL_TZ, as_utc
from engine.carbon_data.readings import list_readings, record_reading, record_readings
from engine.carbon_data.sources import add_source, get_source, update_source
from engine.models.audit import AuditEvent


def events(db, org_id, subject_type):
    with db.read_session(org_id=org_id) as session:
        return session.execute(
            select(AuditEvent.action, AuditEvent.subject_id, AuditEvent.payload)
            .where(AuditEvent.org_id == org_id, AuditEvent.subject_type == subject_type)
            .order_by(AuditEvent.seq)
        ).all()


def add_diesel(db, org, **overrides):
    values = dict(
        org_unit_id=org.quarry,
        code="Q-DIESEL",
        name="矿山柴油",
        category="combustion",
        fuel_or_material="diesel",
        unit="t",
    )
    values.update(overrides)
    with db.unit_of_work(org_id=org.id) as uow:
        return add_source(uow.session, org_id=org.id, actor=org.actor, **values).id


def test_a_source_and_its_readings_are_audited_in_the_chain(db, alpha):
    source_id = add_diesel(db, alpha, meter="加油机 D-01", method="加油台账")
    with db.unit_of_work(org_id=alpha.id) as uow:
        first = record_reading(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            source_id=source_id,
            period="2024-03",
            quantity="12.5",
        )
    with db.unit_of_work(org_id=alpha.id) as uow:
        corrected = record_reading(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            source_id=source_id,
            period="2024-03",
            quantity="12.75",
        )
        update_source(
            uow.session,
            org_id=alpha.id,
            source_id=source_id,
            actor=alpha.actor,
            changes={"tier": "measured"},
            reason="加装流量计",
        )
    assert (first.action, corrected.action) == ("created", "updated")
    with db.read_session(org_id=alpha.id) as session:
        source = get_source(session, org_id=alpha.id, source_id=source_id)
        assert source.fuel_or_material == "柴油"  # canonical name from the factor library
        readings = list_readings(
            session,
            org_id=alpha.id,
            source_id=source_id,
            start=datetime(2024, 1, 1, tzinfo=UTC),
            end=datetime(2025, 1, 1, tzinfo=UTC),
        )
        assert [(r.quantity, r.tier) for r in readings] == [(Decimal("12.75"), "statistical")]
        # The month 2024-03 starts at midnight China Standard Time.
        assert as_utc(readings[0].period_start) == datetime(2024, 2, 29, 16, tzinfo=UTC)
        assert verify_chain(session.connection(), org_id=alpha.id).ok
    source_events = events(db, alpha.id, "emission_source")
    assert [e.action for e in source_events] == ["created", "updated"]
    assert '"tier":["statistical","measured"]' in source_events[1].payload
    assert '"reason":"加装流量计"' in source_events[1].payload
    reading_events = events(db, alpha.id, "activity_reading")
    assert [e.action for e in reading_events] == ["created", "corrected"]
    assert '"quantity":["12.5","12.75"]' in reading_events[1].payload


def test_source_problems_are_listed_with_field_and_both_languages(db, alpha, orgs):
    beta = orgs[1]
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        add_source(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            org_unit_id=beta.kiln,  # another organization's unit
            code="E1",
            name="外购电",
            category="purchased_electricity",
            unit="t",  # electricity in tonnes
        )
    fields = {issue.field: issue for issue in caught.value.issues}
    assert set(fields) == {"org_unit_id", "unit"}
    assert "不" in fields["unit"].message_zh and "unit" in fields["unit"].message_en
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        add_source(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            org_unit_id=alpha.kiln,
            code="C1",
            name="窑煤",
            category="combustion",
            fuel_or_material="柴由",
            unit="t",
        )
    (issue,) = caught.value.issues
    assert issue.field == "fuel_or_material"
    assert "柴油" in issue.message_zh and "did you mean" in issue.message_en
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        add_source(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            org_unit_id=alpha.kiln,
            code="P1",
            name="熟料",
            category="process",
            fuel_or_material="熟料",
            unit="t",
            parameters={"cao_content": "0.65"},  # mgo_content missing
        )
    assert [i.field for i in caught.value.issues] == ["parameters.mgo_content"]


def test_manual_readings_are_validated_all_or_nothing(db, alpha):
    source_id = add_diesel(db, alpha)
    entries = [
        {"source_id": source_id, "period": "2024-01", "quantity": "10"},
        {"source_id": source_id, "period": "2024-13", "quantity": "-1", "unit": "MWh"},
        {"source_id": 999_999, "period": "2024-02", "quantity": "x", "tier": "guess"},
        {"source_id": source_id, "period": "2024-01", "quantity": 3},
    ]
    with pytest.raises(EmissionsDataError) as caught, db.unit_of_work(org_id=alpha.id) as uow:
        record_readings(uow.session, org_id=alpha.id, actor=alpha.actor, entries=entries)
    found = {(i.row, i.field) for i in caught.value.issues}
    assert found == {
        (2, "period"),
        (2, "quantity"),
        (2, "unit"),
        (3, "source_id"),
        (3, "quantity"),
        (3, "tier"),
        (4, "period"),
    }
    assert all(i.message_zh and i.message_en for i in caught.value.issues)
    with db.read_session(org_id=alpha.id) as session:
        assert monthly_totals(session, org_id=alpha.id, year=2024) == []
    # A compatible unit is converted: 500 kg is 0.5 t.
    with db.unit_of_work(org_id=alpha.id) as uow:
        record_reading(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            source_id=source_id,
            period="2024-05",
            quantity=500,
            unit="kg",
        )
    with db.read_session(org_id=alpha.id) as session:
        assert monthly_totals(session, org_id=alpha.id, year=2024) == [
            MonthlyTotal(source_id, "2024-05", Decimal("0.5"))
        ]


def test_monthly_totals_are_exact_sums_per_china_time_month(db, alpha):
    coal = add_diesel(db, alpha, code="COAL", fuel_or_material="烟煤", org_unit_id=alpha.kiln)
    diesel = add_diesel(db, alpha)
    start = datetime(2024, 1, 31, 20, tzinfo=LOCAL_TZ)  # 8 hours before February (China time)
    readings, expected = [], {}
    for hour in range(24):
        moment = start + timedelta(hours=hour)
        for source_id, quantity in ((coal, "0.1"), (diesel, "1.000001")):
            readings.append(
                {"source_id": source_id, "period_start": moment.isoformat(), "quantity": quantity}
            )
            key = (source_id, moment.strftime("%Y-%m"))
            expected[key] = expected.get(key, Decimal(0)) + Decimal(quantity)
    # Last instant of 2024 and first of 2025 (China time): one counts, the other does not.
    readings.append({"source_id": coal, "period_start": "2024-12-31T23:59:59+08:00", "quantity": 7})
    readings.append({"source_id": coal, "period_start": "2024-12-31T16:00:00Z", "quantity": 9})
    expected[(coal, "2024-12")] = Decimal(7)
    with db.unit_of_work(org_id=alpha.id) as uow:
        ingest_readings(
            uow.session, org_id=alpha.id, readings=readings, idempotency_key="k1", actor=alpha.actor
        )
    with db.read_session(org_id=alpha.id) as session:
        totals = monthly_totals(session, org_id=alpha.id, year=2024)
        only_coal = monthly_totals(session, org_id=alpha.id, year=2024, source_ids=[coal])
        next_year = monthly_totals(session, org_id=alpha.id, year=2025)
    assert {(t.source_id, t.period): t.quantity for t in totals} == expected
    assert {(coal, "2024-01"): Decimal("0.4"), (diesel, "2024-02"): Decimal("20.000020")}.items() <= {
        (t.source_id, t.period): t.quantity for t in totals
    }.items()
    assert [t.source_id for t in only_coal] == [coal, coal, coal]
    assert next_year == [MonthlyTotal(coal, "2025-01", Decimal(9))]


def test_quantities_are_rounded_half_even_to_six_decimals(db, alpha):
    source_id = add_diesel(db, alpha)
    with db.unit_of_work(org_id=alpha.id) as uow:
        for month, quantity in (("2024-01", "0.0000005"), ("2024-02", "0.0000015"), ("2024-03", 0.1 + 0.2)):
            record_reading(
                uow.session,
                org_id=alpha.id,
                actor=alpha.actor,
                source_id=source_id,
                period=month,
                quantity=quantity,
            )
    with db.read_session(org_id=alpha.id) as session:
        totals = monthly_totals(session, org_id=alpha.id, year=2024)
    assert [t.quantity for t in totals] == [Decimal(0), Decimal("0.000002"), Decimal("0.3")]
