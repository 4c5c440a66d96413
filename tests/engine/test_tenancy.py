"""Tenant scoping: an org-owned query is filtered to the session's organization or refused."""

import pytest
from sqlmodel import select

from engine.audit import SYSTEM
from engine.identity.models import OrganizationCreate, OrgUnit, OrgUnitKind, Product
from engine.identity.organizations import add_org_unit, add_product, create_organization
from engine.tenancy import TenantScopeError


@pytest.fixture
def two_orgs(db):
    with db.unit_of_work(all_orgs=True) as uow:
        ids = []
        for slug in ("alpha", "beta"):
            org = create_organization(
                uow.session, data=OrganizationCreate(slug=slug, name=slug), actor=SYSTEM
            )
            add_product(uow.session, org_id=org.id, code="P1", name=f"{slug} 熟料", actor=SYSTEM)
            add_org_unit(
                uow.session, org_id=org.id, kind=OrgUnitKind.enterprise, code="HQ", name=slug, actor=SYSTEM
            )
            ids.append(org.id)
    return ids


def test_a_scoped_session_sees_only_its_organization(db, two_orgs):
    alpha, beta = two_orgs
    with db.read_session(org_id=alpha) as session:
        names = session.exec(select(Product.name)).all()
        assert names == ["alpha 熟料"]
        other = session.exec(select(Product).where(Product.org_id == beta)).all()
        assert other == []
        beta_unit_id = None
    with db.read_session(all_orgs=True) as session:
        beta_unit_id = session.exec(select(OrgUnit.id).where(OrgUnit.org_id == beta)).one()
    with db.read_session(org_id=alpha) as session:
        assert session.get(OrgUnit, beta_unit_id) is None


def test_an_unscoped_query_on_org_owned_rows_is_refused(db, two_orgs):
    with db.read_session() as session, pytest.raises(TenantScopeError):
        session.exec(select(Product)).all()


def test_writing_a_row_for_another_organization_is_refused(db, two_orgs):
    alpha, beta = two_orgs
    with pytest.raises(TenantScopeError), db.unit_of_work(org_id=alpha) as uow:
        uow.session.add(Product(org_id=beta, code="X", name="越界"))
        uow.session.flush()
    with db.read_session(org_id=beta) as session:
        assert session.exec(select(Product.code)).all() == ["P1"]


def test_new_rows_take_the_scope_organization(db, two_orgs):
    alpha, _ = two_orgs
    with db.unit_of_work(org_id=alpha) as uow:
        product = Product(code="P2", name="水泥")
        uow.session.add(product)
        uow.session.flush()
        assert product.org_id == alpha


def test_scoped_updates_cannot_reach_another_organization(db, two_orgs):
    from sqlmodel import update

    alpha, beta = two_orgs
    with db.unit_of_work(org_id=alpha) as uow:
        uow.session.execute(update(Product).values(name="改名"))
    with db.read_session(org_id=beta) as session:
        assert session.exec(select(Product.name)).all() == ["beta 熟料"]
