"""The JSON API with personal access tokens: same rules as the pages."""

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from engine.identity.auth import revoke_api_token
from engine.identity.users import get_user_by_email
from tests.web.conftest import BASE_URL
from tests.web.conftest import api_token as token_for
from tests.web.conftest import bearer_client as bearer


def test_a_token_authenticates_and_keeps_the_role_rules(web):
    carbon = bearer(web, token_for(web, "carbon@xiangfeng.example"))
    me = carbon.get("/api/v1/me").json()
    assert me["email"] == "carbon@xiangfeng.example" and me["roles"] == ["carbon_manager"]
    assert me["organization"]["slug"] == "xiangfeng-cement"
    events = carbon.get("/api/v1/audit-events").json()
    assert events["events"] and events["events"][0]["seq"] > events["events"][-1]["seq"]
    assert carbon.get("/api/v1/users").status_code == 403
    assert carbon.post("/api/v1/audit-events/verify").json()["ok"] is True  # no CSRF for bearer tokens
    staff = bearer(web, token_for(web, "staff@xiangfeng.example"))
    assert staff.get("/api/v1/audit-events").status_code == 403


def test_keyset_pagination_walks_the_whole_trail_once(web):
    admin = bearer(web, token_for(web, "admin@xiangfeng.example"))
    seen, before = [], None
    while True:
        page = admin.get("/api/v1/audit-events", params={"before": before} if before else {}).json()
        seen += [event["seq"] for event in page["events"]]
        before = page["next_before_seq"]
        if before is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) and seen[-1] == 1


def test_revoked_unknown_and_disabled_tokens_are_refused(web):
    token = token_for(web, "gm@xiangfeng.example", name="bi")
    assert bearer(web, token).get("/api/v1/me").status_code == 200
    with web.db.unit_of_work(all_orgs=True) as uow:
        assert (
            revoke_api_token(
                uow.session, user=get_user_by_email(uow.session, email="gm@xiangfeng.example"), name="bi"
            )
            == 1
        )
    assert bearer(web, token).get("/api/v1/me").status_code == 401
    assert bearer(web, "tgn_forged").get("/api/v1/me").status_code == 401
    assert TestClient(web.app, base_url=BASE_URL).get("/api/v1/me").status_code == 401


def test_another_organizations_objects_answer_404(web):
    from tests.web.conftest import OTHER_ORG_ADMIN

    with web.db.engine.connect() as connection:
        from sqlalchemy import text

        demo_user = connection.execute(
            text("SELECT id FROM user_account WHERE email = 'gm@xiangfeng.example'")
        ).scalar()
    other = bearer(web, token_for(web, OTHER_ORG_ADMIN))
    response = other.get(f"/api/v1/users/{demo_user}")
    assert response.status_code == 404 and "gm@" not in response.text
    assert all(u["email"] != "gm@xiangfeng.example" for u in other.get("/api/v1/users").json())


def test_openapi_lists_the_api(web):
    spec = web.client().get("/openapi.json").json()
    assert {"/api/v1/me", "/api/v1/audit-events", "/api/v1/users"} <= set(spec["paths"])


def test_token_cli_prints_a_token_once_and_stores_only_its_hash(tmp_path):
    env = {**os.environ, "TANGUAN_DATA_DIR": str(tmp_path)}
    env.pop("TANGUAN_DATABASE_URL", None)
    tanguan = str(Path(sys.executable).with_name("tanguan"))
    for args in (["db", "upgrade"], ["demo"]):
        subprocess.run([tanguan, *args], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [tanguan, "token", "create", "--user", "carbon@xiangfeng.example", "--name", "meters"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    token = created.stdout.strip()
    assert token.startswith("tgn_") and len(token) > 40
    import sqlite3

    stored = (
        sqlite3.connect(tmp_path / "tanguan.sqlite3").execute("SELECT token_hash FROM api_token").fetchall()
    )
    assert stored and all(token not in row[0] for row in stored)
