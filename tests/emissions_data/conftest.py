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
