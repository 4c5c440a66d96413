"""RELIABILITY T30: nothing is hard-deleted within retention, through the UI or the API. Every route is
tried with DELETE, and with the form actions a delete button would post to, as the admin (session and CSRF
token) and through the API (a token with every scope); no row of any table goes away. The one deletion the
product offers (an evidence file uploaded by mistake) is a tombstone with a required, audited reason; the
audit trail refuses deletes and its retention is at least the records' (checked whenever settings load).
Prints ``T30 hard deletes possible: 0/N``."""

import re

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlmodel import SQLModel

from engine.config import Settings, settings_problem
from tests.serving import run_tanguan, tanguan_env
from tests.web.conftest import api_token, bearer_client, csrf_of
from tests.web.routes import route_rules
from tests.web.test_security import concrete, demo_object_ids

DELETE_ACTIONS = ("delete", "remove", "destroy", "purge", "erase")
SESSION_TABLES = {"user_session", "login_attempt"}  # sign-in bookkeeping, not records


def _counts(web) -> dict[str, int]:
    with web.db.engine.connect() as connection:
        return {
            table.name: connection.execute(text(f"SELECT count(*) FROM {table.name}")).scalar()
            for table in SQLModel.metadata.sorted_tables
            if table.name not in SESSION_TABLES
        }


def test_t30_no_hard_delete_through_any_route(web):
    ids = demo_object_ids(web)
    rules = route_rules(web.app)
    # No route is a delete: none answers DELETE, and no unsafe route is named as one.
    assert [r for r in rules if r.method == "DELETE"] == []
    named = [r for r in rules if r.is_unsafe and any(word in r.path.lower() for word in DELETE_ACTIONS)]
    assert named == []
    admin = web.as_role("admin")
    token = csrf_of(admin.get("/").text)
    api = bearer_client(web, api_token(web, "admin@xiangfeng.example"))
    before = _counts(web)
    attempts = possible = 0
    for path in sorted({concrete(rule.path, ids) for rule in rules}):
        tries = [(admin, "DELETE", path, {"X-CSRF-Token": token})]
        tries += [
            (admin, "POST", f"{path.rstrip('/')}/{word}", {"X-CSRF-Token": token}) for word in DELETE_ACTIONS
        ]
        if path.startswith("/api/"):
            tries.append((api, "DELETE", path, {}))
        answered = []
        for client, method, target, headers in tries:
            response = client.request(method, target, headers=headers, data={"reason": "试删除"})
            attempts += 1
            if response.status_code < 400:
                answered.append((method, target, response.status_code))
        after = _counts(web)  # once per path: a row gone counts every try of the path as possible
        gone = {t: (before[t], after[t]) for t in before if after[t] < before[t]}
        possible += len(tries) if gone else len(answered)
        assert not (gone or answered), (gone, answered)
    # The audit trail refuses a delete at the database itself.
    attempts += 1
    try:
        with web.db.engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_event"))
        possible += 1
    except Exception as refused:  # noqa: BLE001 — the trigger's error, whichever driver raises it
        assert "append-only" in str(refused)
    assert _counts(web)["audit_event"] >= before["audit_event"]
    print(f"T30 hard deletes possible: {possible}/{attempts}")
    assert possible == 0 and attempts > 100


def test_the_deletion_the_product_offers_is_a_tombstone_with_a_reason(web):
    admin = web.as_role("admin")
    evidence_id = demo_object_ids(web)["evidence_id"]
    page = admin.get(f"/evidence-items/{evidence_id}")
    assert page.status_code == 200
    token = csrf_of(page.text)
    rows = _counts(web)["evidence_file"]
    blank = admin.post(f"/evidence-items/{evidence_id}/withdraw", data={"csrf_token": token, "reason": "  "})
    assert blank.status_code == 422 and 'data-error-for="reason"' in blank.text
    done = admin.post(
        f"/evidence-items/{evidence_id}/withdraw", data={"csrf_token": token, "reason": "上传错了文件"}
    )
    assert done.status_code == 303
    assert _counts(web)["evidence_file"] == rows
    with web.db.engine.connect() as connection:
        withdrawn, reason = connection.execute(
            text("SELECT withdrawn_at, withdrawn_reason FROM evidence_file WHERE id = :i"), {"i": evidence_id}
        ).first()
        audited = connection.execute(
            text(
                "SELECT reason FROM audit_event WHERE subject_type = 'evidence' "
                " AND action = 'evidence_withdrawn'"
            )
        ).scalar()
    assert withdrawn is not None and reason == audited == "上传错了文件"
    page = admin.get(f"/evidence-items/{evidence_id}").text
    assert "上传错了文件" in page and 'data-freshness="retracted"' in page
    again = admin.post(
        f"/evidence-items/{evidence_id}/withdraw", data={"csrf_token": token, "reason": "再撤一次"}
    )
    assert again.status_code == 422


def test_the_audit_trail_is_kept_at_least_as_long_as_the_records(tmp_path):
    assert Settings(records_retention_years=10, audit_retention_years=15).audit_retention_years == 15
    with pytest.raises(ValidationError) as refused:
        Settings(records_retention_years=10, audit_retention_years=5)
    assert re.search(r"TANGUAN_AUDIT_RETENTION_YEARS=5: .*records", settings_problem(refused.value))
    # Checked at start: every command stops with the one line (exit code 2).
    env = tanguan_env(tmp_path, TANGUAN_RECORDS_RETENTION_YEARS="10", TANGUAN_AUDIT_RETENTION_YEARS="3")
    result = run_tanguan("config", env=env, check=False)
    assert result.returncode == 2 and "TANGUAN_AUDIT_RETENTION_YEARS=3" in result.stderr
