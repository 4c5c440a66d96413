"""PostgreSQL row-level security as a second wall behind the application's tenant scoping (RELIABILITY T15).

The web instances connect as a role that owns nothing, is no superuser and has no BYPASSRLS; every table
with an ``org_id`` (but the identity tables read before an organization is known) has FORCE ROW LEVEL
SECURITY and one policy reading the organization the transaction was given. Raw SQL as that role with no
organization set sees nothing, and the whole app still works through it."""

import re

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError

from engine.config import Settings
from engine.db import Database
from engine.migrate import RoleError, grant_application_role
from engine.tenancy import RLS_EXEMPT_TABLES, RLS_POLICY, scope_connection
from tests.conftest import create_application_role
from tests.web.conftest import CATALOG, SECRET_KEY, WebEnv, csrf_of
from tests.web.routes import route_rules
from tests.web.test_security import concrete, demo_object_ids
from web.app import create_app

APP_ROLE = "tanguan_app_rls"
pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _org_tables(connection) -> list[str]:
    return (
        connection.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped "
                "WHERE c.relkind = 'r' AND n.nspname = current_schema() ORDER BY c.relname"
            )
        )
        .scalars()
        .all()
    )


@pytest.fixture
def app_role_web(web, tmp_path):
    """The same database, served by an app that connects as the unprivileged application role."""
    with web.db.engine.begin() as connection:
        create_application_role(connection, role=APP_ROLE)
    url = make_url(web.db.url).set(username=APP_ROLE).render_as_string(hide_password=False)
    db = Database(url)
    settings = Settings(data_dir=tmp_path / "var-app-role", database_url=url, secret_key=SECRET_KEY)
    try:
        yield WebEnv(db=db, app=create_app(settings=settings, db=db, catalog=CATALOG), settings=settings)
    finally:
        db.dispose()


def test_the_application_role_sees_no_row_without_an_organization(web, app_role_web):
    with web.db.engine.connect() as admin:
        tables = [t for t in _org_tables(admin) if t not in RLS_EXEMPT_TABLES]
        forced = admin.execute(
            text(
                "SELECT count(*) FROM pg_class c WHERE c.relname = ANY(:tables) AND c.relrowsecurity "
                "AND c.relforcerowsecurity AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid "
                "AND p.polname = :policy) AND c.relnamespace = current_schema()::regnamespace"
            ),
            {"tables": tables, "policy": RLS_POLICY},
        ).scalar_one()
        role = admin.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}
        ).one()
        owned = admin.execute(
            text("SELECT count(*) FROM pg_tables WHERE tableowner = :r"), {"r": APP_ROLE}
        ).scalar_one()
        all_rows = {t: admin.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
        demo_org, other_org = (
            admin.execute(
                text(
                    "SELECT id FROM organization WHERE slug IN ('xiangfeng-cement', 'other-co') "
                    "ORDER BY slug DESC"
                )
            )
            .scalars()
            .all()
        )
        demo_rows = {
            t: admin.execute(
                text(f'SELECT count(*) FROM "{t}" WHERE org_id = :o'), {"o": demo_org}
            ).scalar_one()
            for t in tables
        }
    assert len(tables) >= 25 and forced == len(tables), (
        "every organization's table has FORCE RLS and the policy"
    )
    assert role == (False, False) and owned == 0
    assert sum(all_rows.values()) > 500
    with app_role_web.db.engine.connect() as connection:
        unset = {t: connection.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
        connection.rollback()
        scope_connection(connection, org_id=demo_org)
        scoped = {t: connection.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
        connection.rollback()
        scope_connection(connection, org_id=other_org)
        others_view = connection.execute(
            text("SELECT count(*) FROM record WHERE org_id = :o"), {"o": demo_org}
        ).scalar_one()
        changed = connection.execute(
            text("UPDATE record SET title = 'forged' WHERE org_id = :o"), {"o": demo_org}
        ).rowcount
        connection.rollback()
        scope_connection(connection, org_id=other_org)
        with pytest.raises(ProgrammingError, match="row-level security"):
            connection.execute(
                text("UPDATE audit_chain_head SET org_id = :demo WHERE org_id = :other"),
                {"demo": demo_org, "other": other_org},
            )
        connection.rollback()
        with pytest.raises(DBAPIError, match="permission denied"):
            connection.execute(text("TRUNCATE audit_event"))
    print(
        f"\nT15 row-level security: {len(tables)} tables forced; rows visible with no organization set "
        f"{sum(unset.values())} of {sum(all_rows.values())}; with the demo organization set "
        f"{sum(scoped.values())} = {sum(demo_rows.values())}; another organization's view of the demo's "
        f"records {others_view}, updated {changed}"
    )
    assert sum(unset.values()) == 0
    assert scoped == demo_rows
    assert others_view == 0 and changed == 0


def test_a_superuser_or_an_owner_is_refused_as_the_application_role(web):
    with web.db.engine.begin() as connection, pytest.raises(RoleError, match="superuser"):
        grant_application_role(connection, role=make_url(web.db.url).username or "postgres")


def test_the_whole_app_works_through_the_application_role(app_role_web):
    """Every page and API read as each of two roles, then a signed transition with an evidence file."""
    web = app_role_web
    ids = demo_object_ids(web)
    checked, failures = 0, []
    for role in ("admin", "carbon_manager"):
        client = web.as_role(role)
        for rule in route_rules(web.app):
            if rule.method != "GET":
                continue
            response = client.get(concrete(rule.path, ids))
            checked += 1
            if response.status_code >= 500:
                failures.append((role, rule.path, response.status_code))
    print(f"\nT15 app through the application role: {checked} GET requests, {len(failures)} × 5xx")
    assert not failures, failures

    auditor = web.as_role("internal_auditor")
    with web.db.unit_of_work(all_orgs=True) as uow:
        record_id, version = uow.session.execute(
            text("SELECT id, version FROM record WHERE state = 'effectiveness_review' AND workflow_key = :k"),
            {"k": "nonconformity"},
        ).first()
    done = auditor.post(
        f"/r/{record_id}/transition/verify_effective",
        data={
            "csrf_token": csrf_of(auditor.get(f"/r/{record_id}").text),
            "version": str(version),
            "criteria": "连续 4 周点检记录完整",
            "evidence": "第 10–13 周点检表",
            "result": "effective",
            "signature_password": "Xiangfeng#2026",
        },
        files={"evidence_file": ("复测报告.pdf", b"%PDF-1.4\n%%EOF\n")},
    )
    assert done.status_code == 303, re.findall(r'data-error-for="([^"]+)">([^<]*)<', done.text)
    detail = auditor.get(f"/r/{record_id}").text
    assert "复测报告.pdf" in detail
    admin = web.as_role("admin")
    verified = admin.post("/audit/verify", headers={"X-CSRF-Token": csrf_of(admin.get("/audit").text)})
    assert verified.status_code == 200 and "broken" not in verified.text.lower()
