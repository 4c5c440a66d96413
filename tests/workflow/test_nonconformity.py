"""The nonconformity → corrective action process through the engine's service API."""

import pytest
from sqlalchemy import text

from engine.audit import verify_chain
from engine.records.queries import get_record
from engine.records.signatures import signatures_of
from engine.workflow.errors import (
    FormRefused,
    GuardRefused,
    NotAvailable,
    RoleRefused,
    SeparationRefused,
    SignatureRefused,
    VersionConflict,
)
from engine.workflow.lifecycle import create_record, fire_transition
from engine.workflow.signing import signing_unit_of_work
from tests.workflow.conftest import PASSWORD, SECRET

REPORT = {
    "title": "窑尾烟气在线监测数据缺失",
    "source": "monitoring",
    "description": "3 月 5 日 2 小时数据缺失",
    "found_on": "2026-03-05",
    "clause": "8.6",
}


def new_nc(shop, actor="staff"):
    with shop.db.unit_of_work(org_id=shop.org_id) as uow:
        record = create_record(
            uow.session,
            workflow=shop.catalog.get("nonconformity"),
            org_id=shop.org_id,
            actor=shop.people[actor],
            form_data=REPORT,
        )
        return record.id


def fire(shop, record_id, trigger, actor, data=None, signature_password=None, version=None, **kwargs):
    person = shop.people[actor]

    def work(session, password_verified):
        return fire_transition(
            session,
            record_id=record_id,
            trigger=trigger,
            actor=person,
            form_data=data or {},
            expected_version=version or get_record(session, record_id=record_id).version,
            password_verified=password_verified,
            **kwargs,
        )

    return signing_unit_of_work(
        shop.db,
        org_id=shop.org_id,
        actor=person,
        record_id=record_id,
        trigger=trigger,
        signature_password=signature_password,
        reauthenticate=shop.reauthenticate_as(person),
        work=work,
    )


def actions(shop, status):
    return [
        {
            "description": "更换分析仪采样探头",
            "owner": str(shop.people["owner"].id),
            "due": "2026-04-30",
            "status": status,
        }
    ]


def run_to_review(shop):
    nc = new_nc(shop)
    fire(shop, nc, "assess", "quality", {"severity": "major", "containment": "人工取样补测"})
    fire(shop, nc, "analyse", "quality", {"method": "five_why", "cause": "探头积灰未定期清理"})
    fire(shop, nc, "plan", "owner", {"actions": actions(shop, "open")})
    fire(shop, nc, "start", "owner")
    fire(shop, nc, "complete", "owner", {"actions": actions(shop, "done")})
    return nc


def state_of(shop, nc):
    with shop.db.read_session(org_id=shop.org_id) as session:
        return get_record(session, record_id=nc)


def test_the_full_cycle_closes_with_a_verified_effective_signature(shop):
    nc = run_to_review(shop)
    effective = {
        "criteria": "连续 30 天数据完整率 100%",
        "evidence": "在线监测平台导出记录",
        "result": "effective",
    }
    result = fire(shop, nc, "verify_effective", "auditor", effective, signature_password=PASSWORD)
    record = state_of(shop, nc)
    assert record.state == "closed" and record.closed_at is not None and record.version == 7
    assert record.number.startswith("NC-") and record.data["severity"] == "major"
    with shop.db.read_session(org_id=shop.org_id) as session:
        signatures = signatures_of(session, record=record, secret_key=SECRET)
    assert [(s.meaning, s.signer_name, s.status) for s in signatures] == [
        ("verified_effective", "auditor", "valid")
    ]
    assert result.signature_id == signatures[0].id
    with shop.db.engine.connect() as connection:
        trail = connection.execute(
            text(
                "SELECT action, from_state, to_state FROM audit_event "
                "WHERE subject_type = 'record' ORDER BY seq"
            )
        ).all()
        open_tasks = connection.execute(text("SELECT count(*) FROM task WHERE closed_at IS NULL")).scalar()
        assert verify_chain(connection, org_id=shop.org_id).ok
    assert [row[0] for row in trail] == [
        "create",
        "assess",
        "analyse",
        "plan",
        "start",
        "complete",
        "verify_effective",
    ]
    assert trail[-1][1:] == ("effectiveness_review", "closed") and open_tasks == 0


def test_the_implementer_cannot_verify_effectiveness(shop):
    nc = run_to_review(shop)
    shop.people["owner"] = shop.people["owner"].__class__(
        id=shop.people["owner"].id, name="owner", roles=frozenset({"process_owner", "quality_manager"})
    )
    effective = {"criteria": "c", "evidence": "e", "result": "effective"}
    with pytest.raises(SeparationRefused) as refused:
        fire(shop, nc, "verify_effective", "owner", effective, signature_password=PASSWORD)
    assert "实施人" in refused.value.reason.zh and state_of(shop, nc).state == "effectiveness_review"


def test_closing_needs_every_action_done(shop):
    nc = new_nc(shop)
    fire(shop, nc, "assess", "quality", {"severity": "minor", "containment": "x"})
    fire(shop, nc, "analyse", "quality", {"method": "fishbone", "fishbone_category": "machine", "cause": "y"})
    fire(shop, nc, "plan", "owner", {"actions": actions(shop, "open")})
    fire(shop, nc, "start", "owner")
    with pytest.raises(GuardRefused) as refused:
        fire(shop, nc, "complete", "owner", {"actions": actions(shop, "open")})
    assert "尚未完成" in refused.value.reason.zh and state_of(shop, nc).state == "implementing"


def test_a_wrong_signature_password_is_refused_and_logged(shop):
    nc = run_to_review(shop)
    effective = {"criteria": "c", "evidence": "e", "result": "effective"}
    with pytest.raises(SignatureRefused):
        fire(shop, nc, "verify_effective", "auditor", effective, signature_password="wrong")
    with pytest.raises(SignatureRefused):
        fire(shop, nc, "verify_effective", "auditor", effective)
    with shop.db.engine.connect() as connection:
        failures = connection.execute(
            text("SELECT count(*) FROM audit_event WHERE action='signature_failed'")
        ).scalar()
    assert failures == 2 and state_of(shop, nc).state == "effectiveness_review"


def test_ineffective_reopens_planning_with_a_comment(shop):
    nc = run_to_review(shop)
    with pytest.raises(FormRefused) as refused:
        fire(shop, nc, "ineffective", "quality", {"criteria": "c", "result": "ineffective"})
    assert "comment" in refused.value.field_errors
    fire(shop, nc, "ineffective", "quality", {"criteria": "c", "result": "ineffective"}, comment="仍有缺失")
    assert state_of(shop, nc).state == "actions_planned"


def test_refusals_leave_the_database_unchanged(shop):
    nc = new_nc(shop)
    with shop.db.engine.connect() as connection:
        before = connection.execute(text("SELECT count(*), max(seq) FROM audit_event")).one()
    with pytest.raises(NotAvailable):
        fire(shop, nc, "complete", "quality", {"actions": actions(shop, "done")})
    with pytest.raises(RoleRefused):
        fire(shop, nc, "assess", "staff", {"severity": "minor", "containment": "x"})
    with pytest.raises(FormRefused) as invalid:
        fire(
            shop, nc, "assess", "quality", {"severity": "apocalyptic", "containment": "x", "state": "closed"}
        )
    assert set(invalid.value.field_errors) == {"severity"}
    with pytest.raises(VersionConflict):
        fire(shop, nc, "assess", "quality", {"severity": "minor", "containment": "x"}, version=99)
    with shop.db.engine.connect() as connection:
        after = connection.execute(text("SELECT count(*), max(seq) FROM audit_event")).one()
    assert after == before and state_of(shop, nc).state == "reported" and state_of(shop, nc).version == 1


def test_a_user_of_another_organization_cannot_be_named(shop, db):
    nc = new_nc(shop)
    fire(shop, nc, "assess", "quality", {"severity": "minor", "containment": "x"})
    fire(shop, nc, "analyse", "quality", {"method": "five_why", "cause": "y"})
    bad = actions(shop, "open")
    bad[0]["owner"] = "999999"
    with pytest.raises(FormRefused) as refused:
        fire(shop, nc, "plan", "owner", {"actions": bad})
    assert set(refused.value.field_errors) == {"actions.1.owner"}


def test_a_signature_goes_stale_when_the_record_changes_and_a_copied_one_never_verifies(shop):
    nc = run_to_review(shop)
    fire(
        shop,
        nc,
        "verify_effective",
        "auditor",
        {"criteria": "c", "evidence": "e", "result": "effective"},
        signature_password=PASSWORD,
    )
    other = run_to_review(shop)
    edit = (
        "UPDATE record SET data = json_set(data, '$.cause', 'edited') WHERE id = :id"
        if shop.db.is_sqlite
        else 'UPDATE record SET data = (data::jsonb || \'{"cause": "edited"}\')::json WHERE id = :id'
    )
    columns = "record_version, trigger, meaning, signer_id, signer_name, signed_at, content_hash, seal"
    with shop.db.engine.begin() as connection:
        connection.execute(text(edit), {"id": nc})
        connection.execute(
            text(
                f"INSERT INTO signature (org_id, record_id, {columns}) "
                f"SELECT org_id, :other, {columns} FROM signature WHERE record_id = :id"
            ),
            {"other": other, "id": nc},
        )
    with shop.db.read_session(org_id=shop.org_id) as session:
        stale = signatures_of(session, record=get_record(session, record_id=nc), secret_key=SECRET)
        copied = signatures_of(session, record=get_record(session, record_id=other), secret_key=SECRET)
    assert [s.status for s in stale] == ["stale"] and [s.status for s in copied] == ["invalid"]


def test_five_failed_signing_attempts_in_a_row_raise_a_security_alert(shop):
    nc = run_to_review(shop)
    effective = {"criteria": "c", "evidence": "e", "result": "effective"}
    for _ in range(5):
        with pytest.raises(SignatureRefused):
            fire(shop, nc, "verify_effective", "auditor", effective, signature_password="wrong")
    with shop.db.engine.connect() as connection:
        alerts = connection.execute(
            text("SELECT subject_id, reason FROM audit_event WHERE action = 'security_alert'")
        ).all()
    assert alerts == [(str(shop.people["auditor"].id), "5 failed signing attempts in a row")]


def test_whitespace_is_not_an_answer_to_a_required_field(shop):
    nc = new_nc(shop)
    with pytest.raises(FormRefused) as refused:
        fire(shop, nc, "assess", "quality", {"severity": "minor", "containment": "   \t "})
    assert set(refused.value.field_errors) == {"containment"}


def test_ineffective_needs_an_ineffective_result(shop):
    nc = run_to_review(shop)
    with pytest.raises(GuardRefused):
        fire(shop, nc, "ineffective", "quality", {"criteria": "c", "result": "effective"}, comment="?")
