"""Two organizations with facilities and products, on SQLite and (when configured) PostgreSQL."""

from dataclasses import dataclass

import pytest

from engine.audit import SYSTEM, Actor
from engine.identity.models import OrganizationCreate, OrgUnitKind
from engine.identity.organizations import add_org_unit, add_product, create_organization
from engine.identity.users import create_user, grant_membership

ACTOR_NAME = "李娜"


@dataclass(frozen=True)
class Org:
    id: int
    kiln: int  # org unit ids
    quarry: int
    clinker: int  # product id
    actor: Actor


def _org(session, slug: str, name: str, email: str) -> Org:
    org = create_organization(session, data=OrganizationCreate(slug=slug, name=name), actor=SYSTEM)
    hq = add_org_unit(session, org_id=org.id, kind=OrgUnitKind.enterprise, code="HQ", name=name, actor=SYSTEM)
    kiln = add_org_unit(
        session, org_id=org.id, kind=OrgUnitKind.facility, code="KILN1", name="1# 窑", parent=hq, actor=SYSTEM
    )
    quarry = add_org_unit(
        session, org_id=org.id, kind=OrgUnitKind.facility, code="QUARRY", name="矿山", parent=hq, actor=SYSTEM
    )
    product = add_product(session, org_id=org.id, code="CLK", name="熟料", actor=SYSTEM)
    user = create_user(session, email=email, display_name=ACTOR_NAME, password="x-Very-long-pass-1")
    grant_membership(session, org_id=org.id, user=user, roles=["carbon_manager"], actor=SYSTEM)
    return Org(org.id, kiln.id, quarry.id, product.id, Actor(id=user.id, name=ACTOR_NAME))


@pytest.fixture
def orgs(db) -> tuple[Org, Org]:
    with db.unit_of_work(all_orgs=True) as uow:
        alpha = _org(uow.session, "alpha", "甲水泥", "a@example.com")
        beta = _org(uow.session, "beta", "乙水泥", "b@example.com")
    return alpha, beta


@pytest.fixture
def alpha(orgs) -> Org:
    return orgs[0]


def verify_year(db, org: Org, year: int, months=range(1, 13)) -> None:
    """Carbon-data batches of ``year`` (all months, or ``months``), collected by the org's carbon manager
    and verified by a quality manager (8.6): what a snapshot needs. A month whose batch was sent back is
    verified again."""
    from engine.identity.users import get_user_by_email
    from engine.records.queries import records_in_states
    from engine.workflow.access import ActorRef
    from engine.workflow.catalog import WorkflowCatalog
    from engine.workflow.lifecycle import create_record, fire_transition

    catalog = WorkflowCatalog.load()
    email = f"qm{org.id}@example.com"
    with db.unit_of_work(all_orgs=True) as uow:
        catalog.register(uow.session)
        user = get_user_by_email(uow.session, email=email)
        if user is None:
            user = create_user(uow.session, email=email, display_name="王强", password="x-Very-long-pass-1")
            grant_membership(uow.session, org_id=org.id, user=user, roles=["quality_manager"], actor=SYSTEM)
    collector = ActorRef(org.actor.id, org.actor.name, frozenset({"carbon_manager"}))
    verifier = ActorRef(user.id, "王强", frozenset({"quality_manager"}))
    with db.unit_of_work(org_id=org.id) as uow:
        collected = {
            batch.data["period"]: batch
            for batch in records_in_states(
                uow.session, workflow_key="carbon_data_batch", states=("collected",)
            )
        }
        for month in months:
            period = f"{year}-{month:02d}"
            batch = collected.get(period) or create_record(
                uow.session,
                workflow=catalog.get("carbon_data_batch"),
                org_id=org.id,
                actor=collector,
                form_data={"title": f"{period} 数据", "period": period, "collection_note": "月末抄表"},
            )
            fire_transition(
                uow.session,
                record_id=batch.id,
                trigger="verify",
                actor=verifier,
                form_data={"checks": ["completeness"], "result": "passed"},
                expected_version=batch.version,
                password_verified=True,
            )
