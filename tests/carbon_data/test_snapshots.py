"""Freezing with a fallback grid factor needs a recorded reason; a snapshot shows what it froze."""

import json

import pytest
from sqlalchemy import text

from engine.audit import verify_chain
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.snapshots import freeze_snapshot, list_snapshots, snapshot_details
from tests.carbon_data.conftest import verify_year
from tests.carbon_data.test_inventory import setup_small_plant


def audit_events(db, org_id: int, subject_type: str, action: str | None = None) -> list[dict]:
    """The organization's events about ``subject_type`` (and ``action``): reason and payload, oldest first."""
    query = "SELECT reason, payload FROM audit_event WHERE org_id = :org AND subject_type = :subject"
    query += " AND action = :action" if action else ""
    with db.engine.connect() as connection:
        rows = connection.execute(
            text(query + " ORDER BY seq"), {"org": org_id, "subject": subject_type, "action": action}
        ).all()
    return [{"reason": row.reason, **json.loads(row.payload)} for row in rows]


def frozen_events(db, org_id: int) -> list[dict]:
    return audit_events(db, org_id, "inventory_snapshot", "frozen")


def test_a_fallback_grid_factor_needs_a_reason_for_every_caller(db, alpha):
    setup_small_plant(db, alpha, year=2024)  # no 2024 grid factor is published: 2023's is used
    verify_year(db, alpha, 2024)
    for reason in (None, "", "   "):
        with pytest.raises(EmissionsDataError) as refused, db.unit_of_work(org_id=alpha.id) as uow:
            freeze_snapshot(uow.session, org_id=alpha.id, year=2024, actor=alpha.actor, reason=reason)
        (issue,) = refused.value.issues
        assert issue.field == "freeze_reason" and issue.field_zh == "冻结原因"
        assert "2023" in issue.message_zh and "冻结原因" in issue.message_zh
        assert "reason" in issue.message_en and "2023" in issue.message_en
    with pytest.raises(EmissionsDataError) as refused, db.unit_of_work(org_id=alpha.id) as uow:
        freeze_snapshot(uow.session, org_id=alpha.id, year=2024, actor=alpha.actor, reason="长" * 1001)
    assert refused.value.issues[0].field == "freeze_reason"
    with db.read_session(org_id=alpha.id) as session:
        assert list_snapshots(session, org_id=alpha.id, year=2024) == []
    assert frozen_events(db, alpha.id) == []

    reason = "  省生态环境厅要求 3 月底前报送，2024 年电网因子尚未发布  "
    with db.unit_of_work(org_id=alpha.id) as uow:
        snapshot = freeze_snapshot(uow.session, org_id=alpha.id, year=2024, actor=alpha.actor, reason=reason)
    with db.read_session(org_id=alpha.id) as session:
        (stored,) = list_snapshots(session, org_id=alpha.id, year=2024)
    assert stored.id == snapshot.id and stored.reason == reason.strip()
    (event,) = frozen_events(db, alpha.id)
    assert event["reason"] == reason.strip() and event["subject_id"] == str(snapshot.id)
    assert event["changes"]["grid_year"] == [None, 2023]
    with db.engine.connect() as connection:
        assert verify_chain(connection, org_id=alpha.id).ok


def test_the_years_own_grid_factor_needs_no_reason(db, alpha):
    setup_small_plant(db, alpha, year=2023)
    verify_year(db, alpha, 2023)
    with db.unit_of_work(org_id=alpha.id) as uow:
        snapshot = freeze_snapshot(uow.session, org_id=alpha.id, year=2023, actor=alpha.actor)
    assert snapshot.reason is None
    (event,) = frozen_events(db, alpha.id)
    assert event["reason"] is None


def test_a_snapshots_details_are_its_inputs_factors_results_and_checked_hash(db, orgs):
    alpha, beta = orgs
    setup_small_plant(db, alpha, year=2024)
    verify_year(db, alpha, 2024)
    with db.unit_of_work(org_id=alpha.id) as uow:
        snapshot = freeze_snapshot(uow.session, org_id=alpha.id, year=2024, actor=alpha.actor, reason="报送")
    with db.read_session(org_id=alpha.id) as session:
        details = snapshot_details(session, org_id=alpha.id, snapshot_id=snapshot.id)
    assert details is not None
    assert details.frozen_by == "李娜" and details.reason == "报送"
    assert details.grid_year == 2023 and details.grid_year_fallback
    assert details.inputs_sha256_matches
    assert details.inputs_sha256 == snapshot.inputs_sha256 and len(details.inputs_sha256) == 64
    assert details.periods == ["2024-01", "2024-02"]
    activity = {row.name: row for row in details.activity}
    assert set(activity) == {"D1 矿山柴油", "E1 外购电", "K1 熟料过程"}
    diesel = activity["D1 矿山柴油"]
    assert diesel.unit == "t" and diesel.org_unit == "矿山" and diesel.category == "combustion"
    assert diesel.by_period == {"2024-01": "10", "2024-02": "2.5"} and diesel.total == "12.5"
    power_line = next(line for line in details.lines if line.name == "E1 外购电")
    assert power_line.period == "2024-02" and power_line.quantity == "100" and power_line.unit == "MWh"
    assert [(f.name, f.value, f.unit) for f in power_line.factors] == [("EF_grid", "0.4976", "tCO2/MWh")]
    assert "2023" in power_line.factors[0].document
    assert details.result["total_tco2e"] == float(snapshot.result["total_tco2e"])
    # Another organization's snapshot is not found, even by its number.
    with db.read_session(org_id=beta.id) as session:
        assert snapshot_details(session, org_id=beta.id, snapshot_id=snapshot.id) is None
