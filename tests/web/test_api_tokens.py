"""Personal access tokens open the JSON API only, within their scopes and until they expire; the tokens
page creates (secret shown once), lists and revokes them, audited."""

import os
import re
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine.audit import verify_chain
from engine.models.base import utcnow
from tests.web.conftest import ALL_SCOPES, OTHER_ORG_ADMIN, OTHER_PASSWORD, api_token, bearer_client, csrf_of
from tests.web.routes import route_rules
from tests.web.test_security import concrete, demo_object_ids


def test_a_token_opens_no_page_and_writes_nothing_there(web):
    """A leaked integration token of an administrator: no page answers it (with or without the session
    cookie of the same browser), no form is accepted without a CSRF token, nothing is written."""
    token = api_token(web, "admin@xiangfeng.example", name="leaked")
    ids = demo_object_ids(web)
    pages = [rule for rule in route_rules(web.app) if not rule.is_api]
    signed_in = web.as_role("admin")
    before = web.table_fingerprint()
    answers = []
    for rule in pages:
        path = concrete(rule.path, ids)
        data = {"year": "2025", "roles": "admin", "reason": "token", "version": "1", "name": "x"}
        for client in (bearer_client(web, token), signed_in):
            headers = {"Authorization": f"Bearer {token}"}
            response = client.request(
                rule.method, path, headers=headers, data=data if rule.is_unsafe else None
            )
            answers.append((rule.method, rule.path, response.status_code))
    refused = [answer for answer in answers if answer[2] == 403]
    print(f"\nbearer token on pages: {len(answers)} requests, {len(refused)} refused (403)")
    assert refused == answers
    after = web.table_fingerprint()
    after.pop("user_session"), before.pop("user_session")
    assert after == before
    page = bearer_client(web, token, **{"Accept-Language": "en"}).get("/emissions")
    assert "API tokens work on the JSON API (/api/v1) only" in page.text


def test_the_snapshot_of_the_report_is_not_frozen_by_a_token(web):
    """The incident: an integration token froze a snapshot through the HTML form."""
    token = api_token(web, "admin@xiangfeng.example", name="bi-export")
    with web.db.engine.connect() as connection:
        snapshots = connection.execute(text("SELECT count(*) FROM inventory_snapshot")).scalar()
    response = bearer_client(web, token).post("/emissions/snapshots", data={"year": "2025"})
    assert response.status_code == 403
    with web.db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM inventory_snapshot")).scalar() == snapshots


def api_operations(web) -> list[tuple[str, str, str]]:
    """(method, path, scope) of every operation of the published API."""
    spec = web.client().get("/openapi.json").json()
    return [
        (method.upper(), path, operation["security"][0]["bearerAuth"][0])
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def test_every_api_operation_needs_its_declared_scope(web):
    operations = api_operations(web)
    declared = {(method, path): scope for method, path, scope in operations}
    assert declared == {
        ("GET", "/api/v1/me"): "read",
        ("GET", "/api/v1/users"): "read",
        ("GET", "/api/v1/users/{user_id}"): "read",
        ("GET", "/api/v1/audit-events"): "read",
        ("POST", "/api/v1/audit-events/verify"): "read",
        ("GET", "/api/v1/records"): "read",
        ("POST", "/api/v1/records"): "records:write",
        ("GET", "/api/v1/records/{record_id}"): "read",
        ("GET", "/api/v1/records/{record_id}/transitions"): "read",
        ("GET", "/api/v1/workflows"): "read",
        ("GET", "/api/v1/workflows/{workflow_key}"): "read",
        ("POST", "/api/v1/records/{record_id}/transitions/{trigger}"): "records:write",
        ("POST", "/api/v1/meter-readings"): "meter:write",
    }
    ids = demo_object_ids(web)
    tokens = {
        scope: api_token(web, "admin@xiangfeng.example", scopes=[scope], name=scope) for scope in ALL_SCOPES
    }
    before = web.table_fingerprint()
    for method, path, scope in operations:
        url = concrete(path, ids) + ("?workflow=nonconformity" if path == "/api/v1/records" else "")
        body = {"version": 999, "data": {}, "workflow": "nonconformity", "readings": []}
        for held, token in tokens.items():
            response = bearer_client(web, token).request(
                method,
                url,
                json=body if method == "POST" else None,
                headers={"Idempotency-Key": "scope-sweep"},
            )
            if held == scope:
                assert response.status_code != 403 and response.status_code < 500, (
                    method,
                    path,
                    response.text,
                )
            else:
                assert response.status_code == 403, (method, path, held, response.status_code)
                assert response.json()["type"] == "urn:tanguan:problem:scope"
                assert scope in response.json()["detail"]
    after = web.table_fingerprint()
    for volatile in ("audit_event", "heads"):  # the scope-less meter post of an empty list is refused first
        before.pop(volatile), after.pop(volatile)
    assert after == before


def test_expired_tokens_are_refused_and_use_is_recorded(web):
    soon = api_token(web, "carbon@xiangfeng.example", name="soon", expires_at=utcnow() + timedelta(days=1))
    client = bearer_client(web, soon)
    assert client.get("/api/v1/me").status_code == 200
    with web.db.engine.connect() as connection:
        last_used = connection.execute(
            text("SELECT last_used_at FROM api_token WHERE name = 'soon'")
        ).scalar()
    assert last_used is not None
    with web.db.engine.begin() as connection:  # a day later
        connection.execute(
            text("UPDATE api_token SET expires_at = :past WHERE name = 'soon'"),
            {"past": utcnow() - timedelta(seconds=1)},
        )
    refused = client.get("/api/v1/me")
    assert refused.status_code == 401 and refused.json()["type"] == "urn:tanguan:problem:not-authenticated"
    assert refused.headers["www-authenticate"] == "Bearer"


def _tanguan(env, *args: str) -> subprocess.CompletedProcess:
    tanguan = str(Path(sys.executable).with_name("tanguan"))
    return subprocess.run([tanguan, *args], env=env, capture_output=True, text=True)


def test_token_cli_takes_scopes_and_an_expiry(tmp_path):
    env = {**os.environ, "TANGUAN_DATA_DIR": str(tmp_path)}
    env.pop("TANGUAN_DATABASE_URL", None)
    for args in (["db", "upgrade"], ["demo"]):
        assert _tanguan(env, *args).returncode == 0
    user = ["token", "create", "--user", "carbon@xiangfeng.example"]
    made = [
        _tanguan(
            env, *user, "--name", "meters", "--scope", "meter:write", "--scope", "read", "--expires", "90"
        ),
        _tanguan(env, *user, "--name", "bi", "--expires", "2099-06-30"),
    ]
    assert all(done.returncode == 0 and done.stdout.strip().startswith("tgn_") for done in made)
    bad_scope = _tanguan(env, *user, "--name", "x", "--scope", "admin")
    assert bad_scope.returncode == 2 and bad_scope.stderr.strip() == "error: --scope: Unknown scope: admin"
    bad_date = _tanguan(env, *user, "--name", "x", "--expires", "2025-02-30")
    assert bad_date.returncode == 2 and "--expires" in bad_date.stderr and "Traceback" not in bad_date.stderr
    past = _tanguan(env, *user, "--name", "x", "--expires", "2020-01-01")
    assert past.returncode == 2 and "future" in past.stderr
    rows = (
        sqlite3.connect(tmp_path / "tanguan.sqlite3")
        .execute("SELECT name, scopes, expires_at FROM api_token ORDER BY id")
        .fetchall()
    )
    assert [(name, scopes) for name, scopes, _ in rows] == [
        ("meters", '["read", "meter:write"]'),
        ("bi", '["read"]'),
    ]
    assert rows[1][2].startswith("2099-06-29 16:00:00")  # midnight in China is 16:00 UTC the day before


def test_tokens_of_before_scopes_keep_the_api_and_lose_the_pages(tmp_path):
    from alembic import command

    from engine.migrate import alembic_config

    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection=connection), "0006")
        for statement in (
            "INSERT INTO organization (slug, name, name_en, region, industry, created_at) "
            "VALUES ('o', '甲', '', '湖南', '', '2026-01-01')",
            "INSERT INTO user_account (email, display_name, password_hash, is_active, must_change_password, "
            "created_at) VALUES ('a@b.c', '甲', 'x', TRUE, FALSE, '2026-01-01')",
            "INSERT INTO api_token (token_hash, user_id, org_id, name, created_at) "
            "VALUES ('h', 1, 1, 'old', '2026-01-01')",
        ):
            connection.execute(text(statement))
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection=connection), "head")
        scopes, expires = connection.execute(text("SELECT scopes, expires_at FROM api_token")).one()
    assert scopes == '["read", "records:write", "meter:write"]' and expires is None
    engine.dispose()


def _new_token(client, name: str, scopes: list[str], expires_on: str = ""):
    page = client.get("/tokens").text
    return client.post(
        "/tokens",
        data={"csrf_token": csrf_of(page), "name": name, "scopes": scopes, "expires_on": expires_on},
    )


def test_the_tokens_page_creates_shows_once_lists_and_revokes(web):
    carbon = web.as_role("carbon_manager")
    created = _new_token(carbon, "湘峰能源平台", ["meter:write", "read"], "2099-12-31")
    assert created.status_code == 200
    secret = re.search(r'id="new-token">(tgn_[^<]+)<', created.text).group(1)
    listing = carbon.get("/tokens").text
    assert secret not in listing and "湘峰能源平台" in listing  # shown once, then only its name
    row = re.search(r'<tr data-token="(\d+)">(.*?)</tr>', listing, re.S)
    token_id, cells = row.group(1), row.group(2)
    assert "只读" in cells and "写入计量数据" in cells and "meter:write" not in cells
    assert "2099/12/31 00:00" in cells and "尚未使用" in cells and "T" not in cells  # China time, a label
    api = bearer_client(web, secret)
    assert api.get("/api/v1/me").json()["email"] == "carbon@xiangfeng.example"
    assert api.post("/api/v1/records", json={"workflow": "nonconformity", "data": {}}).status_code == 403
    assert "尚未使用" not in carbon.get("/tokens").text  # last used is shown now

    # Others: a staff member sees none of it and cannot revoke it; an administrator sees it with its owner.
    staff = web.as_role("staff")
    assert "湘峰能源平台" not in staff.get("/tokens").text
    staff_page = staff.get("/tokens").text
    assert (
        staff.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(staff_page)}).status_code == 404
    )
    other = web.signed_in(OTHER_ORG_ADMIN, OTHER_PASSWORD)
    other_page = other.get("/tokens").text
    assert "湘峰能源平台" not in other_page
    assert (
        other.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(other_page)}).status_code == 404
    )
    admin = web.as_role("admin")
    admin_page = admin.get("/tokens").text
    assert "湘峰能源平台" in admin_page and "李娜" in admin_page
    assert api.get("/api/v1/me").status_code == 200

    revoked = carbon.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(listing)})
    assert revoked.status_code == 303 and revoked.headers["location"] == "/tokens"
    assert api.get("/api/v1/me").status_code == 401
    assert "已撤销" in carbon.get("/tokens").text
    again = carbon.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(listing)})
    assert again.status_code == 409
    with web.db.engine.connect() as connection:
        events = connection.execute(
            text(
                "SELECT action, actor_name FROM audit_event "
                "WHERE subject_type = 'api_token' AND subject_id = :id ORDER BY seq"
            ),
            {"id": token_id},
        ).all()
        assert [tuple(event) for event in events] == [("created", "李娜"), ("revoked", "李娜")]
        assert verify_chain(connection, org_id=1).ok


def test_an_administrator_revokes_anyones_token(web):
    carbon = web.as_role("carbon_manager")
    secret = re.search(r'id="new-token">(tgn_[^<]+)<', _new_token(carbon, "bi", ["read"]).text).group(1)
    admin = web.as_role("admin")
    page = admin.get("/tokens").text
    token_id = re.search(r'<tr data-token="(\d+)">\s*<td>bi</td>', page).group(1)
    assert admin.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(page)}).status_code == 303
    assert bearer_client(web, secret).get("/api/v1/me").status_code == 401
    with web.db.engine.connect() as connection:
        actor = connection.execute(
            text("SELECT actor_name FROM audit_event WHERE subject_type = 'api_token' AND action = 'revoked'")
        ).scalar()
    assert actor == "王磊"


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"name": "  ", "scopes": ["read"]}, "name", "请填写令牌名称"),
        ({"name": "x" * 121, "scopes": ["read"]}, "name", "名称最多 120 个字符"),
        ({"name": "bi", "scopes": []}, "scopes", "请至少选择一个权限范围"),
        ({"name": "bi", "scopes": ["admin"]}, "scopes", "未知的权限范围：admin"),
        ({"name": "bi", "scopes": ["read"], "expires_on": "2020-01-01"}, "expires", "到期时间必须在将来"),
        ({"name": "bi", "scopes": ["read"], "expires_on": "明天"}, "expires", "到期时间应为天数或日期"),
    ],
)
def test_a_bad_token_form_names_the_field_and_creates_nothing(web, form, field, message):
    client = web.as_role("staff")
    before = web.table_fingerprint()
    response = _new_token(client, form["name"], form["scopes"], form.get("expires_on", ""))
    assert response.status_code == 422
    error = re.search(r'id="token-error" data-field="(\w+)">(.*?)</div>', response.text, re.S)
    assert error.group(1) == field and message in error.group(2)
    assert 'id="new-token"' not in response.text
    assert web.table_fingerprint() == before
