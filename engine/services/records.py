"""Records of any workflow: create, fire a transition, read, list. Generic over every workflow."""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engine.audit import Actor, append_event
from engine.events import DomainEvent, record_event
from engine.forms.spec import Text
from engine.models import NumberSequence, Record, RecordLink, Signature, Task
from engine.models.base import utcnow
from engine.tenancy import TenantScopeError, session_org_id
from engine.workflow.loader import Workflow, format_number
from engine.workflow.runner import (
    ActorRef,
    RoleRefused,
    TransitionRefused,
    link_records,
    record_payload,
    signature_seal,
    signed_content_hash,
    validated_form,
)
from engine.workflow.spec import StartKind

_sequences = NumberSequence.__table__
_tasks = Task.__table__
PAGE_SIZE = 50


def next_number(session: Session, *, org_id: int, pattern: str, year: int) -> str:
    """The next human number in the organization's series; concurrent creators never share one."""
    series = format_number(pattern, year=year, seq=0)
    bumped = session.execute(
        update(_sequences)
        .where(_sequences.c.org_id == org_id, _sequences.c.series == series)
        .values(last=_sequences.c.last + 1)
        .returning(_sequences.c.last)
    ).scalar()
    if bumped is None:
        try:
            with session.begin_nested():
                session.execute(insert(_sequences).values(org_id=org_id, series=series, last=1))
            bumped = 1
        except IntegrityError:  # another transaction started the series first
            bumped = session.execute(
                update(_sequences)
                .where(_sequences.c.org_id == org_id, _sequences.c.series == series)
                .values(last=_sequences.c.last + 1)
                .returning(_sequences.c.last)
            ).scalar()
    return format_number(pattern, year=year, seq=bumped)


def create_record(
    session: Session,
    *,
    workflow: Workflow,
    org_id: int,
    actor: ActorRef,
    form_data: dict[str, Any],
    today: date | None = None,
) -> Record:
    spec = workflow.spec
    if spec.start.roles and not actor.roles & set(spec.start.roles):
        raise RoleRefused(
            Text(zh="您的角色不能创建此类记录", en="Your roles cannot create this kind of record")
        )
    data = validated_form(session, org_id=org_id, form=workflow.create_form, raw=form_data)
    today = today or utcnow().date()
    initial = spec.state(spec.initial)
    due = today + timedelta(days=initial.due_days) if initial.due_days is not None else None
    record = Record(
        org_id=org_id,
        workflow_key=spec.key,
        workflow_version=spec.version,
        number=next_number(session, org_id=org_id, pattern=spec.numbering, year=today.year),
        title=str(data.get("title") or spec.title.zh)[:300],
        state=spec.initial,
        data=data,
        participants={"create": [actor.id]},
        clause_refs=workflow.clause_refs(data),
        owner_id=actor.id,
        assignee_id=data.get("assignee") if isinstance(data.get("assignee"), int) else None,
        due_date=due,
        created_by=actor.id,
    )
    session.add(record)
    session.flush()
    append_event(
        session,
        org_id=org_id,
        actor=actor.audit_actor,
        subject_type="record",
        subject_id=record.id,
        action="create",
        to_state=spec.initial,
        changes={key: [None, value] for key, value in data.items()},
    )
    link_records(session, org_id=org_id, record_id=record.id, form=workflow.create_form, data=data)
    record_event(
        session,
        name=f"{spec.key}.create",
        org_id=org_id,
        payload=record_payload(record, actor=actor, trigger="create", from_state=None, to_state=spec.initial),
    )
    session.execute(
        insert(_tasks).values(
            org_id=org_id,
            record_id=record.id,
            state=spec.initial,
            role=initial.owner_role,
            assignee_id=record.assignee_id,
            due_date=due,
            opened_at=record.created_at,
        )
    )
    return record


def get_record(session: Session, *, record_id: int, workflow_key: str | None = None) -> Record | None:
    record = session.get(Record, record_id)
    if record is None or (workflow_key and record.workflow_key != workflow_key):
        return None
    return record


def records_in_states(session: Session, *, workflow_key: str, states: tuple[str, ...]) -> list[Record]:
    """The organization's records of one workflow that are in any of ``states``."""
    query = select(Record).where(Record.workflow_key == workflow_key, Record.state.in_(states))
    return list(session.scalars(query).all())


_CLAUSE = re.compile(r"\d{1,2}(\.\d{1,2}){0,3}")


def _concerns_clause(clause: str):
    """Records whose clause list names ``clause`` or one of its sub-clauses ("8" finds "8.6"), matched on
    the JSON text so that the filter runs in SQL on both databases."""
    clause = clause.strip()
    if not _CLAUSE.fullmatch(clause):
        return sa.false()
    as_text = sa.cast(Record.clause_refs, sa.Text)
    return or_(as_text.like(f'%"{clause}"%'), as_text.like(f'%"{clause}.%'))


@dataclass(frozen=True)
class RecordFilter:
    workflow_key: str
    state: str | None = None
    assignee_id: int | None = None
    overdue_on: date | None = None
    due_by: date | None = None
    created_from: date | None = None
    created_to: date | None = None
    clause: str | None = None
    search: str | None = None


def list_records(
    session: Session, *, record_filter: RecordFilter, after_id: int | None = None, limit: int = PAGE_SIZE
) -> tuple[list[Record], int | None]:
    """Newest first; keyset pagination on id."""
    query = select(Record).where(Record.workflow_key == record_filter.workflow_key)
    if record_filter.state:
        query = query.where(Record.state == record_filter.state)
    if record_filter.assignee_id:
        query = query.where(Record.assignee_id == record_filter.assignee_id)
    if record_filter.overdue_on:
        query = query.where(Record.due_date < record_filter.overdue_on, Record.closed_at.is_(None))
    if record_filter.due_by:
        query = query.where(Record.due_date <= record_filter.due_by, Record.closed_at.is_(None))
    if record_filter.created_from:
        query = query.where(func.date(Record.created_at) >= record_filter.created_from)
    if record_filter.created_to:
        query = query.where(func.date(Record.created_at) <= record_filter.created_to)
    if record_filter.search:
        pattern = f"%{record_filter.search.strip()}%"
        query = query.where(or_(Record.number.ilike(pattern), Record.title.ilike(pattern)))
    if after_id is not None:
        query = query.where(Record.id < after_id)
    if record_filter.clause:
        query = query.where(_concerns_clause(record_filter.clause))
    rows = list(session.scalars(query.order_by(Record.id.desc()).limit(limit + 1)).all())
    next_after = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_after


@dataclass(frozen=True)
class TaskView:
    task_id: int
    record_id: int
    number: str
    title: str
    workflow_key: str
    state: str
    due_date: date | None
    overdue: bool


# The dashboard's queries, built once. Core on the session's connection, so the organization is an explicit
# parameter here rather than the ORM scope.
_MY_OPEN_TASKS = and_(
    Task.org_id == bindparam("org_id"),
    Task.closed_at.is_(None),
    or_(
        Task.assignee_id == bindparam("user_id"),
        and_(Task.assignee_id.is_(None), Task.role.in_(bindparam("roles", expanding=True))),
    ),
)
_COUNT_MY_TASKS = select(func.count()).select_from(Task).where(_MY_OPEN_TASKS)
_MY_TASKS = (
    select(Task.id, Record.id, Record.number, Record.title, Record.workflow_key, Task.state, Task.due_date)
    .join(Record, Record.id == Task.record_id)
    .where(_MY_OPEN_TASKS)
    .order_by(Task.due_date.is_(None), Task.due_date, Task.id)
)
_FOLLOWED = (
    select(Record.id, Record.number, Record.title)
    .where(
        Record.org_id == bindparam("org_id"),
        or_(Record.created_by == bindparam("user_id"), Record.owner_id == bindparam("user_id")),
        Record.closed_at.is_(None),
    )
    .order_by(Record.updated_at.desc())
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


def my_tasks(session: Session, *, user_id: int, roles: frozenset[str], today: date) -> list[TaskView]:
    """The user's open tasks, overdue first, then by due date."""
    parameters = {"org_id": _scope(session), "user_id": user_id, "roles": sorted(roles) or [""]}
    rows = session.connection().execute(_MY_TASKS, parameters).all()
    views = [TaskView(*row, overdue=bool(row[6] and row[6] < today)) for row in rows]
    return sorted(views, key=lambda view: not view.overdue)


@dataclass(frozen=True)
class FollowedRecord:
    id: int
    number: str
    title: str


def followed_records(session: Session, *, user_id: int, limit: int = 10) -> list[FollowedRecord]:
    """Records the user created or owns that are still open."""
    parameters = {"org_id": _scope(session), "user_id": user_id, "limit": limit}
    return [FollowedRecord(*row) for row in session.connection().execute(_FOLLOWED, parameters)]


@dataclass(frozen=True)
class SignatureView:
    id: int
    meaning: str
    signer_name: str
    signed_at: str
    trigger: str
    status: str  # valid, stale (content changed after signing), invalid (seal does not verify)


def signatures_of(session: Session, *, record: Record, secret_key: str) -> list[SignatureView]:
    current_hash = signed_content_hash(
        record.id, record.number, record.workflow_key, record.title, record.data
    )
    views = []
    for signature in session.scalars(
        select(Signature).where(Signature.record_id == record.id).order_by(Signature.id)
    ).all():
        expected_seal = signature_seal(
            secret_key,
            record_id=record.id,
            record_version=signature.record_version,
            trigger=signature.trigger,
            meaning=signature.meaning,
            signer_id=signature.signer_id,
            signed_at=signature.signed_at,
            content_hash=signature.content_hash,
        )
        if expected_seal != signature.seal:
            status = "invalid"
        elif signature.content_hash != current_hash:
            status = "stale"
        else:
            status = "valid"
        views.append(
            SignatureView(
                signature.id,
                signature.meaning,
                signature.signer_name,
                signature.signed_at,
                signature.trigger,
                status,
            )
        )
    return views


def linked_records(session: Session, *, record_id: int) -> list[Record]:
    ids = session.scalars(
        select(RecordLink.to_record_id)
        .where(RecordLink.from_record_id == record_id)
        .union(select(RecordLink.from_record_id).where(RecordLink.to_record_id == record_id))
    ).all()
    return list(session.scalars(select(Record).where(Record.id.in_(ids))).all()) if ids else []


def fire_transition(
    session: Session,
    *,
    catalog,
    record_id: int,
    trigger: str,
    actor: ActorRef,
    form_data: dict[str, Any],
    expected_version: int,
    comment: str | None = None,
    signature_password: str | None = None,
    reauthenticate=None,
    secret_key: str = "",
    today: date | None = None,
):
    """Fire ``trigger`` on the record in the session's organization (404 → LookupError)."""
    from engine.workflow.runner import fire, load_record_row

    record = load_record_row(session, record_id=record_id)
    if record is None:
        raise LookupError(record_id)
    workflow = catalog.pinned(session, key=record.workflow_key, version=record.workflow_version)
    return fire(
        session,
        workflow=workflow,
        record=record,
        trigger=trigger,
        actor=actor,
        form_data=form_data,
        expected_version=expected_version,
        comment=comment,
        signature_password=signature_password,
        reauthenticate=reauthenticate,
        secret_key=secret_key,
        today=today,
    )


class EventStarts:
    """Starts a record of each workflow whose start is ``kind: event`` when its event is published (after
    the causing change committed). The start form takes the fields the event carries, such as ``title``
    and ``related_record`` (which links the two records). The person whose action raised the event is the
    creator. A start the form refuses is written to the causing record's audit trail, not lost."""

    def __init__(self, catalog) -> None:
        self.catalog = catalog
        self.by_event: dict[str, list[Workflow]] = {}
        for workflow in catalog.current.values():
            if workflow.spec.start.kind == StartKind.event and workflow.spec.start.event:
                self.by_event.setdefault(workflow.spec.start.event, []).append(workflow)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventStarts) and other.catalog is self.catalog

    __hash__ = None  # type: ignore[assignment]

    def __call__(self, event: DomainEvent, database) -> None:
        for workflow in self.by_event.get(event.name, ()):
            fields = {field.name for field in workflow.create_form.fields}
            form_data = {key: value for key, value in event.payload.items() if key in fields}
            actor = ActorRef(
                id=event.payload.get("actor_id"),
                name=str(event.payload.get("actor_name") or "system"),
                roles=frozenset(workflow.spec.start.roles),
            )
            try:
                with database.unit_of_work(org_id=event.org_id) as uow:
                    create_record(
                        uow.session, workflow=workflow, org_id=event.org_id, actor=actor, form_data=form_data
                    )
            except TransitionRefused as refused:
                with database.unit_of_work(org_id=event.org_id) as uow:
                    append_event(
                        uow.session,
                        org_id=event.org_id,
                        actor=Actor(actor.id, actor.name),
                        subject_type="record",
                        subject_id=event.payload.get("record_id", ""),
                        action="event_start_failed",
                        reason=f"{workflow.key}: {refused.reason.en}; {refused.field_errors}"[:1000],
                    )
