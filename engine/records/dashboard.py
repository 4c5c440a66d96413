"""The dashboard's lists: the user's open tasks and the records the user follows."""

from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import and_, bindparam, func, or_, select, union
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col

from engine.tenancy import TenantScopeError, session_org_id
from engine.workflow.models import Record, Task


@dataclass(frozen=True)
class TaskView:
    task_id: int
    record_id: int
    number: str
    title: str
    workflow_key: str
    state: str
    due_date: date | None
    detail: str | None  # what a task from a table row asks (a corrective action)
    overdue: bool


# The dashboard's queries, built once. Core on the session's connection, so the organization is an explicit
# parameter here rather than the ORM scope.
_MY_OPEN_TASKS = and_(
    col(Task.org_id) == bindparam("org_id"),
    col(Task.closed_at).is_(None),
    or_(
        col(Task.assignee_id) == bindparam("user_id"),
        and_(col(Task.assignee_id).is_(None), col(Task.role).in_(bindparam("roles", expanding=True))),
    ),
)
_COUNT_MY_TASKS = select(func.count()).select_from(Task).where(_MY_OPEN_TASKS)
_MY_TASKS = (
    select(
        cast("Mapped[int]", Task.id),  # a primary key: never NULL in a result (SQLModel types it optional)
        cast("Mapped[int]", Record.id),
        col(Record.number),
        col(Record.title),
        col(Record.workflow_key),
        col(Task.state),
        col(Task.due_date),
        col(Task.detail),
    )
    .join(Record, col(Record.id) == Task.record_id)
    .where(_MY_OPEN_TASKS)
    .order_by(col(Task.due_date).is_(None), col(Task.due_date), col(Task.id))
    .limit(bindparam("limit"))
)
# The dashboard shows the most urgent of a user's open tasks (a carbon manager of a big plant has thousands);
# the navbar's count says how many there are in all.
DASHBOARD_TASKS = 50


def _followed_by(column: object) -> Any:
    """The user's open records by one column, newest change first: one index range each (a busy carbon
    manager created tens of thousands; an ``OR`` of both columns sorted them all)."""
    return (
        select(cast("Mapped[int]", Record.id), col(Record.number), col(Record.title), col(Record.updated_at))
        .where(
            col(Record.org_id) == bindparam("org_id"),
            column == bindparam("user_id"),
            col(Record.closed_at).is_(None),
        )
        .order_by(col(Record.updated_at).desc())
        .limit(bindparam("limit"))
        .subquery()
    )


_EITHER = union(
    select(_followed_by(col(Record.created_by))), select(_followed_by(col(Record.owner_id)))
).subquery()
_FOLLOWED = (
    select(_EITHER.c.id, _EITHER.c.number, _EITHER.c.title)
    .order_by(_EITHER.c.updated_at.desc())
    .limit(bindparam("limit"))
)


def _scope(session: Session) -> int:
    org_id = session_org_id(session)
    if org_id is None:
        raise TenantScopeError("task lists need an organization scope")
    return org_id


def count_open_tasks(session: Session, *, user_id: int, roles: frozenset[str]) -> int:
    """Open tasks assigned to the user or, unassigned, to one of the user's roles."""
    parameters = {"org_id": _scope(session), "user_id": user_id, "roles": sorted(roles) or [""]}
    return session.connection().execute(_COUNT_MY_TASKS, parameters).scalar_one()


def my_tasks(
    session: Session, *, user_id: int, roles: frozenset[str], today: date, limit: int = DASHBOARD_TASKS
) -> list[TaskView]:
    """The user's ``limit`` most urgent open tasks: by due date (so the overdue ones first), undated last."""
    parameters = {"org_id": _scope(session), "user_id": user_id, "roles": sorted(roles) or [""]}
    rows = session.connection().execute(_MY_TASKS, {**parameters, "limit": limit}).all()
    return [TaskView(*row, overdue=bool(row[6] and row[6] < today)) for row in rows]


@dataclass(frozen=True)
class FollowedRecord:
    id: int
    number: str
    title: str


def followed_records(session: Session, *, user_id: int, limit: int = 10) -> list[FollowedRecord]:
    """Records the user created or owns that are still open."""
    parameters = {"org_id": _scope(session), "user_id": user_id, "limit": limit}
    return [FollowedRecord(*row) for row in session.connection().execute(_FOLLOWED, parameters)]
