"""Web fixtures: the app over a migrated, demo-seeded database; clients signed in as each demo role."""

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from demo.context import seed_demo_context
from demo.seed import DEMO_LOGINS, DEMO_PASSWORD, demo_people, seed_demo
from engine.audit import SYSTEM
from engine.config import Settings
from engine.db import Database
from engine.identity.auth import create_api_token, default_org_id
from engine.identity.models import OrganizationCreate, TokenScope
from engine.identity.organizations import create_organization
from engine.identity.users import create_user, get_user_by_email, grant_membership
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
from tests.conftest import TemplateDatabases
from tests.s3 import s3_bucket, s3_endpoint  # noqa: F401  (fixtures: a local S3-compatible server)
from web.app import create_app

BASE_URL = "http://127.0.0.1"
OTHER_ORG_ADMIN = "boss@other.example"
OTHER_PASSWORD = "Other-Org-2026!"
ALL_ROLES = [login.role.value for login in DEMO_LOGINS]
ALL_SCOPES = [scope.value for scope in TokenScope]


@dataclass
class WebEnv:
    db: Database
    app: object
    settings: Settings

    def client(self, **headers: str) -> TestClient:
        return TestClient(self.app, base_url=BASE_URL, headers=headers, follow_redirects=False)

    def signed_in(self, email: str, password: str = DEMO_PASSWORD, **headers: str) -> TestClient:
        client = self.client(**headers)
        token = csrf_of(client.get("/login").text)
        response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
        assert response.status_code == 303, response.text
        return client

    def as_role(self, role: str) -> TestClient:
        login = next(login for login in DEMO_LOGINS if login.role.value == role)
        return self.signed_in(login.email)

    def table_fingerprint(self) -> dict[str, int]:
        """Row counts of every table plus the chain heads: equal before and after means nothing changed."""
        with self.db.engine.connect() as connection:
            tables = [
                "organization", "org_unit", "product", "user_account", "membership", "audit_event",
                "audit_chain_head", "user_session", "api_token", "record", "task", "signature",
            ]  # fmt: skip
            counts = {t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables}
            counts["heads"] = connection.execute(
                text("SELECT coalesce(sum(last_seq), 0) FROM audit_chain_head")
            ).scalar()
            counts["active_users"] = connection.execute(
                text("SELECT count(*) FROM user_account WHERE is_active = :t"), {"t": True}
            ).scalar()
        return counts


def api_token(web: "WebEnv", email: str, *, scopes=ALL_SCOPES, name: str = "integration", **extra) -> str:
    """A personal access token of the user in their first organization (all scopes unless told)."""
    with web.db.unit_of_work(all_orgs=True) as uow:
        user = get_user_by_email(uow.session, email=email)
        org_id = default_org_id(uow.session, user=user)
        return create_api_token(uow.session, user=user, org_id=org_id, name=name, scopes=scopes, **extra)


def bearer_client(web: "WebEnv", token: str, **headers: str) -> TestClient:
    return TestClient(
        web.app,
        base_url=BASE_URL,
        headers={"Authorization": f"Bearer {token}", **headers},
        follow_redirects=False,
    )


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in page"
    return match.group(1)


CATALOG = WorkflowCatalog.load()
SECRET_KEY = "test-secret-key-of-the-web-suite-2026"


def seed(db: Database) -> None:
    with db.unit_of_work(all_orgs=True) as uow:
        seed_demo(uow.session, catalog=CATALOG, secret_key=SECRET_KEY)
        other = create_organization(
            uow.session, data=OrganizationCreate(slug="other-co", name="另一家公司"), actor=SYSTEM
        )
        boss = create_user(
            uow.session, email=OTHER_ORG_ADMIN, display_name="别家老板", password=OTHER_PASSWORD
        )
        grant_membership(uow.session, org_id=other.id, user=boss, roles=ALL_ROLES, actor=SYSTEM)


@pytest.fixture(scope="session")
def seeded_templates(tmp_path_factory) -> Iterator[TemplateDatabases]:
    """The demo seeded once per backend; each test works on a copy instead of seeding again."""
    templates = TemplateDatabases(tmp_path_factory.mktemp("seeded"), prepare=seed)
    yield templates
    templates.drop()


@pytest.fixture
def web(backend, tmp_path, seeded_templates) -> Iterator[WebEnv]:
    with seeded_templates.copy(backend, tmp_path) as db:
        settings = Settings(data_dir=tmp_path / "var", database_url=db.url, secret_key=SECRET_KEY)
        app = create_app(settings=settings, db=db, catalog=CATALOG)
        yield WebEnv(db=db, app=app, settings=settings)


@pytest.fixture
def plant(web):
    """The web app with the demo's context of the organization (4.1–4.3, 5.2, 6.2.2) seeded too."""
    with web.db.unit_of_work(all_orgs=True) as uow:
        org_id = uow.session.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()
        uow.session.info[PROCESS_CONTEXT] = ProcessContext(CATALOG, web.app.state.secret_key)
        seed_demo_context(uow.session, catalog=CATALOG, org_id=org_id, people=demo_people(uow.session))
    return web
