"""Tenant scoping that cannot be forgotten.

Every ORM session carries a scope: one organization, or, explicitly, all of them (the CLI's admin
commands). Queries touching an org-owned table are filtered to the scope's organization; with no
scope they are refused rather than answered across tenants. New rows get the scope's ``org_id``, and
a row for another organization is refused at flush.
"""

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from engine.models.base import OrgOwned

ORG_ID = "tanguan_org_id"
ALL_ORGS = "tanguan_all_orgs"


class TenantScopeError(RuntimeError):
    """An org-owned table was touched outside an organization's scope."""


def bind_session_scope(session: Session, *, org_id: int | None, all_orgs: bool) -> None:
    if org_id is not None and all_orgs:
        raise ValueError("a session is scoped to one organization or to all, not both")
    session.info[ORG_ID] = org_id
    session.info[ALL_ORGS] = all_orgs


def session_org_id(session: Session) -> int | None:
    return session.info.get(ORG_ID)


def _org_owned_classes(state: ORMExecuteState) -> list[type[OrgOwned]]:
    return [mapper.class_ for mapper in state.all_mappers if issubclass(mapper.class_, OrgOwned)]


@event.listens_for(Session, "do_orm_execute")
def _filter_to_scope(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.session.info.get(ALL_ORGS):
        return
    owned = _org_owned_classes(state)
    if not owned:
        return
    org_id = state.session.info.get(ORG_ID)
    if org_id is None:
        raise TenantScopeError("query on an org-owned table without an organization scope")
    state.statement = state.statement.options(
        *(with_loader_criteria(cls, cls.org_id == org_id, include_aliases=True) for cls in owned)
    )


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(ALL_ORGS):
        return
    org_id = session.info.get(ORG_ID)
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, OrgOwned):
            continue
        if org_id is None:
            raise TenantScopeError(f"{type(obj).__name__} written without an organization scope")
        if obj.org_id is None:
            obj.org_id = org_id
        elif obj.org_id != org_id:
            raise TenantScopeError(f"{type(obj).__name__} belongs to organization {obj.org_id}, not {org_id}")
