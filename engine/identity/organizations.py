"""Organizations, their org-unit tree and products. Every change is audited in the org's chain."""

from sqlmodel import Session, select

from engine.audit import Actor, append_event, ensure_chain_head
from engine.identity.models import Organization, OrganizationCreate, OrgUnit, OrgUnitKind, Product


def get_organization_by_slug(session: Session, *, slug: str) -> Organization | None:
    return session.exec(select(Organization).where(Organization.slug == slug)).first()


def create_organization(session: Session, *, data: OrganizationCreate, actor: Actor) -> Organization:
    org = Organization.model_validate(data)
    session.add(org)
    session.flush()
    assert org.id is not None
    ensure_chain_head(session, org_id=org.id)
    append_event(
        session,
        org_id=org.id,
        actor=actor,
        subject_type="organization",
        subject_id=org.id,
        action="created",
        changes={key: [None, value] for key, value in data.model_dump().items()},
    )
    return org


def unit_label(unit: OrgUnit | None) -> str | None:
    """A unit as the audit trail names it: code and name."""
    return f"{unit.code} {unit.name}" if unit else None


def add_org_unit(
    session: Session,
    *,
    org_id: int,
    kind: OrgUnitKind,
    code: str,
    name: str,
    name_en: str = "",
    parent: OrgUnit | None = None,
    actor: Actor,
) -> OrgUnit:
    if parent is not None and parent.org_id != org_id:
        raise ValueError("the parent unit belongs to another organization")
    unit = OrgUnit(
        org_id=org_id,
        kind=kind,
        code=code,
        name=name,
        name_en=name_en,
        parent_id=parent.id if parent else None,
    )
    session.add(unit)
    session.flush()
    assert unit.id is not None
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="org_unit",
        subject_id=unit.id,
        action="created",
        changes={
            "kind": [None, kind.value],
            "code": [None, code],
            "name": [None, name],
            "parent": [None, unit_label(parent)],
        }
        | ({"name_en": [None, name_en]} if name_en else {}),
    )
    return unit


def add_product(
    session: Session, *, org_id: int, code: str, name: str, name_en: str = "", unit: str = "t", actor: Actor
) -> Product:
    product = Product(org_id=org_id, code=code, name=name, name_en=name_en, unit=unit)
    session.add(product)
    session.flush()
    assert product.id is not None
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="product",
        subject_id=product.id,
        action="created",
        changes={"code": [None, code], "name": [None, name], "unit": [None, unit]},
    )
    return product


def get_organization(session: Session, *, org_id: int) -> Organization | None:
    return session.get(Organization, org_id)


def list_org_units(session: Session) -> list[OrgUnit]:
    """The session's organization's units, by code."""
    return list(session.exec(select(OrgUnit).order_by(OrgUnit.code)).all())


def list_products(session: Session) -> list[Product]:
    """The session's organization's products, by code."""
    return list(session.exec(select(Product).order_by(Product.code)).all())
