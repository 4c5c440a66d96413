"""Generated security tests over every route: CSRF on every unsafe route, headers on every response,
and the route × role × tenant authorization matrix."""

import pytest
from sqlalchemy import text
from sqlmodel import select

from engine.audit import SYSTEM
from engine.carbon_data.snapshots import freeze_snapshot
from engine.evidence.store import store_evidence
from engine.forms.spec import Text
from engine.identity.auth import create_api_token, revoke_api_token
from engine.identity.models import ApiToken
from engine.identity.users import get_user
from engine.notifications.service import notify
from engine.report_templates.example import example_docx
from engine.report_templates.registry import report_type
from engine.report_templates.service import upload_template
from tests.web.conftest import ALL_ROLES, CATALOG, OTHER_ORG_ADMIN, OTHER_PASSWORD, csrf_of
from tests.web.routes import route_rules

OBJECT_PARAMS = {
    "user_id",
    "record_id",
    "evidence_id",
    "token_id",
    "snapshot_id",
    "notification_id",
    "unit_id",
    "version}",  # a report template's version (the path's parameter, not the evidence route's word)
}


def demo_object_ids(web) -> dict[str, int | str]:
    """Ids of demo-organization objects for path parameters: the demo admin's own account, so that
    allowed calls without a body are refused as invalid or as acting on oneself, and change nothing; an
    API token of the admin's that is revoked already (revoking it again is refused); a notification of
    the admin's."""
    with web.db.engine.connect() as connection:
        admin_id = connection.execute(
            text("SELECT id FROM user_account WHERE email = 'admin@xiangfeng.example'")
        ).scalar()
        demo_org_id = connection.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()
        hq_unit = connection.execute(
            text("SELECT id FROM org_unit WHERE code = 'HQ' AND org_id = :o"), {"o": demo_org_id}
        ).scalar()
        reported_nc = connection.execute(
            text("SELECT id FROM record WHERE state = 'reported' AND workflow_key = 'nonconformity'")
        ).scalar()
        first = {  # the trust chain's subjects
            table: connection.execute(
                text(f"SELECT min(id) FROM {table} WHERE org_id = :o"), {"o": demo_org_id}
            ).scalar()
            for table in ("emission_source", "performance_parameter", "product")
        }
    with web.db.unit_of_work(org_id=demo_org_id) as uow:
        evidence_id = store_evidence(
            uow.session,
            org_id=demo_org_id,
            actor=SYSTEM,
            evidence_store=web.settings.evidence_store,
            filename="电表抄表单.csv",
            chunks=[b"meter,kWh\nM-01,1200\n"],
            max_bytes=web.settings.evidence_max_bytes,
        ).id
        admin = get_user(uow.session, user_id=admin_id)
        create_api_token(uow.session, user=admin, org_id=demo_org_id, name="matrix", scopes=["read"])
        revoke_api_token(uow.session, user=admin, name="matrix")
        token_id = uow.session.exec(select(ApiToken.id).where(ApiToken.name == "matrix")).first()
        upload_template(  # an organization's own template: the GHG report is exported through it
            uow.session,
            org_id=demo_org_id,
            actor=SYSTEM,
            report_type="ghg_report",
            filename="本厂温室气体报告模板.docx",
            content=example_docx(report_type("ghg_report")),
        )
        snapshot_id = freeze_snapshot(
            uow.session, org_id=demo_org_id, year=2025, actor=SYSTEM, reason="年度报送"
        ).id
        (notice,) = notify(
            uow.session,
            user_ids=[admin_id],
            kind="reminder",
            subject=Text(zh="请复核不符合项", en="Please review the nonconformity"),
            record_id=reported_nc,
        )
    return {
        "token_id": token_id,
        "user_id": admin_id,
        "record_id": reported_nc,
        "evidence_id": evidence_id,
        "snapshot_id": snapshot_id,
        "notification_id": notice.id,
        "workflow_key": "nonconformity",
        "trigger": "assess",
        "unit_id": hq_unit,
        "clause": "9.3",
        "report_type": "ghg_report",
        "version": 1,
        "source_id": first["emission_source"],
        "parameter_id": first["performance_parameter"],
        "product_id": first["product"],
        "period": "2025-03",
        "row_code": "COAL-FC",
    }


def concrete(path: str, ids: dict[str, int]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", str(value))
    assert "{" not in path, f"no test value for a parameter of {path}"
    return path


def test_every_route_declares_who_may_call_it(web):
    rules = route_rules(web.app)
    assert len(rules) >= 20


CSRF_VARIANTS = [
    "no_token",
    "wrong_token",
    "token_of_another_session",
    "cross_site_origin",
    "cross_site_fetch",
]


def test_every_unsafe_route_refuses_requests_without_a_valid_csrf_token(web):
    admin = web.as_role("admin")
    own_token = csrf_of(admin.get("/").text)
    other_token = csrf_of(web.as_role("carbon_manager").get("/").text)
    ids = demo_object_ids(web)
    unsafe = [rule for rule in route_rules(web.app) if rule.is_unsafe]
    before = web.table_fingerprint()
    refused = 0
    for rule in unsafe:
        path = concrete(rule.path, ids)
        for variant in CSRF_VARIANTS:
            headers, data = {}, {"locale": "en", "roles": "staff", "org_id": "1", "reason": "x"}
            if variant == "wrong_token":
                data["csrf_token"] = "0" * 64
            elif variant == "token_of_another_session":
                data["csrf_token"] = other_token
            elif variant == "cross_site_origin":
                data["csrf_token"], headers["Origin"] = own_token, "https://evil.example"
            elif variant == "cross_site_fetch":
                data["csrf_token"], headers["Sec-Fetch-Site"] = own_token, "cross-site"
            response = admin.request(rule.method, path, data=data, headers=headers)
            assert response.status_code == 403, (rule.method, path, variant, response.status_code)
            refused += 1
    assert web.table_fingerprint() == before
    print(f"\nT11 CSRF: unsafe routes {len(unsafe)}, refused {refused}/{len(unsafe) * len(CSRF_VARIANTS)}")
    # The same session with its token is accepted (the refusals above were about the token).
    assert admin.post("/audit/verify", headers={"X-CSRF-Token": own_token}).status_code == 200


def test_get_requests_change_nothing(web):
    ids = demo_object_ids(web)
    clients = [web.as_role(role) for role in ALL_ROLES]
    before = web.table_fingerprint()
    for client in clients:
        for rule in route_rules(web.app):
            if rule.method == "GET":
                client.get(concrete(rule.path, ids))
    after = web.table_fingerprint()
    before.pop("user_session"), after.pop("user_session")
    assert after == before


REQUIRED_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
}


def test_every_response_carries_the_security_headers(web):
    ids = demo_object_ids(web)
    checked = 0
    for client in (web.client(), web.as_role("admin")):
        for rule in route_rules(web.app):
            if rule.method != "GET":
                continue
            response = client.get(concrete(rule.path, ids))
            csp = response.headers["content-security-policy"]
            for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "'nonce-"):
                assert directive in csp, (rule.path, directive)
            # A directive is a name and its value; ``sandbox`` (on downloads of uploaded files) has none.
            directives = dict(
                (part.strip().split(" ", 1) + [""])[:2] for part in csp.split(";") if part.strip()
            )
            assert "unsafe-eval" not in csp and "unsafe-inline" not in directives["script-src"]
            # Mermaid's SVG carries style elements: inline styles (never scripts) on the diagram page only.
            assert "unsafe-inline" not in directives["style-src"] or rule.path.endswith("/diagram")
            for name, value in REQUIRED_HEADERS.items():
                assert response.headers[name] == value, (rule.path, name)
            assert response.headers["cache-control"] == "no-store"
            if rule.path.startswith("/evidence/") and response.status_code == 200:
                assert "sandbox" in directives and "attachment;" in response.headers["content-disposition"]
            checked += 1
    assert checked >= 20


def test_the_nonce_changes_per_response_and_matches_the_scripts(web):
    first, second = web.client().get("/login"), web.client().get("/login")
    nonce = first.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert nonce != second.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    scripts = first.text.count("<script ")
    assert scripts >= 2 and first.text.count(f'nonce="{nonce}"') == scripts and "<script>" not in first.text


def test_jinja_autoescape_is_on_and_injection_stays_text(web):
    from web.templating import environment

    assert environment("zh_CN").autoescape is not False
    payload = '"><script>alert(1)</script><div hx-get="/admin/users" hx-trigger="load">{{7*7}}'
    admin = web.as_role("admin")
    page = admin.get("/admin/users").text
    admin.post(
        "/admin/users",
        data={
            "csrf_token": csrf_of(page),
            "email": "x@xiangfeng.example",
            "display_name": payload,
            "roles": ["staff"],
        },
    )
    listing = admin.get("/admin/users").text
    assert "<script>alert(1)</script>" not in listing and 'hx-trigger="load"' not in listing
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing and "{{7*7}}" in listing


def workflow_allows(rule, roles: frozenset[str]) -> bool:
    """Creating a record is further limited by the workflow file's start roles."""
    creating = {
        ("POST", "/records/{workflow_key}"),
        ("POST", "/api/v1/records"),
        ("GET", "/records/{workflow_key}/new"),
        ("GET", "/records/{workflow_key}/import"),
        ("POST", "/records/{workflow_key}/import"),
    }
    if (rule.method, rule.path) in creating:
        return bool(roles & set(CATALOG.get("nonconformity").spec.start.roles))
    return True


@pytest.fixture
def principals(web):
    clients = {role: web.as_role(role) for role in ALL_ROLES}
    clients["other_org_admin"] = web.signed_in(OTHER_ORG_ADMIN, OTHER_PASSWORD)
    return clients


def test_route_role_tenant_matrix_has_no_leaks(web, principals):
    """Every route as every role, as an admin of another organization and anonymously."""
    ids = demo_object_ids(web)
    leak_markers = ["湖南湘峰水泥有限公司", "admin@xiangfeng.example", "余热电站发电量日报漏报"]
    rules = [rule for rule in route_rules(web.app) if rule.path != "/logout"]
    before = web.table_fingerprint()
    checks, leaks, rows = 0, [], []
    anonymous = web.client()
    for rule in rules:
        path = concrete(rule.path, ids)
        if rule.method == "GET" and rule.path == "/api/v1/records":
            path += "?workflow=nonconformity"  # a list is only worth walking with its required filter
        row = [f"{rule.method} {rule.path}"]
        for name, client in [*principals.items(), ("anonymous", anonymous)]:
            token = client.cookies.get("tanguan_session") and csrf_of(client.get("/profile").text)
            headers = {"X-CSRF-Token": token} if token else {}
            if name == "anonymous" and rule.is_unsafe:
                headers = {"X-CSRF-Token": csrf_of(client.get("/login").text)}
            # A body that passes validation yet changes nothing: the admin keeps its own role, and the
            # version is one no record has, so a transition is refused as stale.
            if rule.is_unsafe and rule.is_api:
                body = {"version": 999, "data": {}, "workflow": "nonconformity"}
                response = client.request(rule.method, path, headers=headers, json=body)
            else:
                data = {"roles": "admin", "reason": "matrix", "version": "999"} if rule.is_unsafe else None
                response = client.request(rule.method, path, headers=headers, data=data)
            status = response.status_code
            roles = frozenset(ALL_ROLES) if name == "other_org_admin" else frozenset({name})
            checks += 1
            if rule.requirement is None:
                ok = status < 500
            elif name == "anonymous":
                ok = status == (401 if rule.is_api else 303)
            elif not rule.allows(roles) or not workflow_allows(rule, roles):
                ok = status == 403
            elif name == "other_org_admin" and any(p in rule.path for p in OBJECT_PARAMS):
                ok = status == 404  # another organization's object: not found, never its content
            else:
                ok = status < 400 or status in (404, 409, 422)
            if name == "other_org_admin" and any(marker in response.text for marker in leak_markers):
                ok = False
            if not ok:
                leaks.append((rule.method, path, name, status))
            row.append(str(status))
        rows.append(row)
    header = ["route", *principals, "anonymous"]
    print("\nT15 authorization matrix (status per principal):")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(row))
    print(f"checks {checks}, leaks {len(leaks)}")
    assert leaks == []
    after = web.table_fingerprint()
    for volatile in ("user_session", "audit_event", "heads"):  # sign-ins of the fixture
        before.pop(volatile), after.pop(volatile)
    assert after == before


REVIEWED_MARKUP = {
    # The PDCA menu is our own template, autoescaped when rendered, then cached as markup per language.
    'web/templating.py: return Markup(environment(locale).get_template("_nav_sections.html',
    # A document's Markdown, rendered by engine.documents.renditions.markdown_html: raw HTML off (escaped),
    # images off, links only http(s), mailto and in-app (tests/web/test_documents.py, hostile input).
    'web/templates/documents/document.html: <div class="content">{{ view.content_html | safe }}</div>',
}


def test_every_safe_and_markup_use_is_reviewed():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    found = set()
    for path in [*root.joinpath("web").rglob("*.py"), *root.joinpath("web", "templates").rglob("*.html")]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if "|safe" in line.replace(" ", "") or ("Markup(" in line and "def " not in line):
                found.add(f"{path.relative_to(root)}: {line.strip()[:66]}")
    assert found <= REVIEWED_MARKUP, found - REVIEWED_MARKUP
