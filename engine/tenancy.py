"""Tenant scoping that cannot be forgotten.

Every ORM session carries a scope: one organization, or, explicitly, all of them (the CLI's admin
commands). Queries touching an org-owned table are filtered to the scope's organization; with no
scope they are refused rather than answered across tenants. New rows get the scope's ``org_id``, and
a row for another organization is refused at flush.

On PostgreSQL the same scope is also handed to the database for each transaction (``tanguan.org_id`` /
``tanguan.all_orgs``), where row-level security policies enforce it a second time (see
``ensure_row_level_security``): SQL that bypasses the ORM still sees only the scope's rows.
"""

from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, with_loader_criteria

from engine.models.base import OrgOwned

ORG_ID = "tanguan_org_id"
ALL_ORGS = "tanguan_all_orgs"

# Tables with an org_id that are read before an organization is known (sign-in, the bearer token, the
# user's memberships) or by the scheduler across organizations: the application's scoping alone guards them.
RLS_EXEMPT_TABLES = frozenset({"user_session", "api_token", "membership", "scheduler_claim"})
RLS_POLICY = "tanguan_tenant_scope"
_RLS_CONDITION = (
    "org_id = NULLIF(current_setting('tanguan.org_id', true), '')::integer "
    "OR current_setting('tanguan.all_orgs', true) = 'on'"
)
_SET_SCOPE_SQL = "SELECT set_config('tanguan.org_id', %s, true), set_config('tanguan.all_orgs', %s, true)"


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


def scope_connection(connection: Connection, *, org_id: int | None, all_orgs: bool = False) -> None:
    """Hand the scope to PostgreSQL for the connection's current transaction (a no-op on SQLite)."""
    if connection.dialect.name != "postgresql":
        return
    driver = connection.connection.driver_connection
    assert driver is not None, "the connection is closed"
    # On the driver's cursor: this runs at the start of every transaction.
    with driver.cursor() as cursor:
        cursor.execute(_SET_SCOPE_SQL, ("" if org_id is None else str(org_id), "on" if all_orgs else "off"))


@event.listens_for(Session, "after_begin")
def _scope_the_transaction(
    session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    scope_connection(connection, org_id=session.info.get(ORG_ID), all_orgs=bool(session.info.get(ALL_ORGS)))


def ensure_row_level_security(connection: Connection) -> list[str]:
    """On PostgreSQL, every table with an ``org_id`` (but the exempt ones) gets FORCE ROW LEVEL SECURITY and
    the tenant policy; idempotent, run after every migration. Returns the tables it changed."""
    if connection.dialect.name != "postgresql":
        return []
    rows = connection.execute(
        text(
            "SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity, "
            "EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = :policy) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped "
            "WHERE c.relkind = 'r' AND n.nspname = current_schema() ORDER BY c.relname"
        ),
        {"policy": RLS_POLICY},
    ).all()
    changed = []
    for table, forced, has_policy in rows:
        if table in RLS_EXEMPT_TABLES or (forced and has_policy):
            continue
        connection.execute(text(f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY'))
        connection.execute(text(f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY'))
        if not has_policy:
            connection.execute(
                text(
                    f'CREATE POLICY {RLS_POLICY} ON "{table}" USING ({_RLS_CONDITION}) '
                    f"WITH CHECK ({_RLS_CONDITION})"
                )
            )
        changed.append(table)
    return changed
