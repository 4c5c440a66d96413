"""An organization with one user per role, and the workflow catalog registered."""

from dataclasses import dataclass

import pytest
from sqlmodel import select

from engine.audit import SYSTEM
from engine.identity.models import Membership, OrganizationCreate
from engine.identity.organizations import create_organization
from engine.identity.users import create_user, grant_membership
from engine.passwords import verify_password
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext

PASSWORD = "Signing-Pass-2026"
SECRET = "test-installation-key"


@dataclass
class Shop:
    db: object
    catalog: WorkflowCatalog
    org_id: int
    people: dict[str, ActorRef]

    def reauthenticate_as(self, actor: ActorRef):
        from engine.identity.models import User

        def check(password: str) -> bool:
            with self.db.read_session() as session:
                return verify_password(session.get(User, actor.id).password_hash, password)

        return check


@pytest.fixture(scope="session")
def catalog() -> WorkflowCatalog:
    return WorkflowCatalog.load()


@pytest.fixture
def shop(db, catalog) -> Shop:
    db.session_info[PROCESS_CONTEXT] = ProcessContext(catalog, SECRET)
    people = {}
    with db.unit_of_work(all_orgs=True) as uow:
        org = create_organization(
            uow.session, data=OrganizationCreate(slug="shop", name="车间"), actor=SYSTEM
        )
        for name, roles in {
            "quality": ["quality_manager"],
            "carbon": ["carbon_manager"],
            "owner": ["process_owner"],
            "owner2": ["process_owner"],
            "auditor": ["internal_auditor"],
            "staff": ["staff"],
            "gm": ["top_management"],
            "collector": ["carbon_manager"],
        }.items():
            user = create_user(
                uow.session, email=f"{name}@shop.example", display_name=name, password=PASSWORD
            )
            grant_membership(uow.session, org_id=org.id, user=user, roles=roles, actor=SYSTEM)
            people[name] = ActorRef(id=user.id, name=name, roles=frozenset(roles))
        catalog.register(uow.session)
        assert uow.session.exec(select(Membership)).all()
    return Shop(db=db, catalog=catalog, org_id=org.id, people=people)
