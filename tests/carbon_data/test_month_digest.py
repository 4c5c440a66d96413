"""The digest of a month's data (what a data batch's signatures cover): it changes with any reading,
production or measured parameter of that month — also when the month's total does not — and with nothing
else."""

from datetime import datetime, timedelta

from engine.carbon_data.inputs import set_measured_parameter, set_production
from engine.carbon_data.month_digest import month_data_digest
from engine.carbon_data.parsing import LOCAL_TZ
from engine.carbon_data.readings import record_readings
from tests.carbon_data.test_sources_readings import add_diesel

FEBRUARY = datetime(2024, 2, 1, tzinfo=LOCAL_TZ)


def digest(db, org, period="2024-02"):
    with db.read_session(org_id=org.id) as session:
        return month_data_digest(session, org_id=org.id, period=period)


def enter(db, org, entries):
    with db.unit_of_work(org_id=org.id) as uow:
        record_readings(uow.session, org_id=org.id, actor=org.actor, entries=entries)


def test_the_digest_follows_every_reading_production_and_parameter_of_its_month_only(db, orgs):
    alpha, beta = orgs
    coal = add_diesel(db, alpha, code="COAL", fuel_or_material="烟煤", org_unit_id=alpha.kiln)
    hours = [(FEBRUARY + timedelta(hours=hour)).isoformat() for hour in range(48)]
    enter(db, alpha, [{"source_id": coal, "period": moment, "quantity": "1.5"} for moment in hours])
    before = digest(db, alpha)
    assert [(s["source_id"], s["readings"], s["total"]) for s in before["readings"]] == [
        (coal, 48, "72.000000")
    ]

    moved = [
        {"source_id": coal, "period": hours[0], "quantity": "2"},
        {"source_id": coal, "period": hours[1], "quantity": "1"},
    ]
    enter(db, alpha, moved)  # the same total, one hour's value moved to another
    after = digest(db, alpha)
    assert after["readings"][0]["total"] == "72.000000" and after != before

    unchanged = digest(db, alpha)
    enter(db, alpha, [{"source_id": coal, "period": "2024-03", "quantity": "9"}])  # another month
    other = add_diesel(db, beta, code="COAL", org_unit_id=beta.kiln)
    enter(db, beta, [{"source_id": other, "period": "2024-02", "quantity": "9"}])  # another organization
    assert digest(db, alpha) == unchanged

    with db.unit_of_work(org_id=alpha.id) as uow:
        set_production(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            product_id=alpha.clinker,
            period="2024-02",
            quantity="1000",
        )
    with_production = digest(db, alpha)
    assert with_production["production"][0]["quantity"] == "1000.000000" and with_production != unchanged
    with db.unit_of_work(org_id=alpha.id) as uow:
        set_measured_parameter(
            uow.session,
            org_id=alpha.id,
            actor=alpha.actor,
            source_id=coal,
            period="2024-02",
            carbon_content="0.0261",
        )
    assert digest(db, alpha)["measured_parameters"][0]["carbon_content"] == "0.0261"
