"""Reading records of any workflow: one record, a filtered list (in SQL, keyset pages), linked records."""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import cast

import sqlalchemy as sa
from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col

from engine.audit_trail.service import TrailEvent, events_of
from engine.evidence.store import evidence_names
from engine.forms.spec import FieldType
from engine.identity.models import Membership, OrgUnit, User
from engine.identity.org_tree import subtree_ids
from engine.identity.organizations import list_org_units
from engine.records.display import Names
from engine.records.timeline import referenced_ids
from engine.workflow.loader import Workflow
from engine.workflow.models import Record, RecordLink, Task

PAGE_SIZE = 50


def get_record(session: Session, *, record_id: int, workflow_key: str | None = None) -> Record | None:
    record = session.get(Record, record_id)
    if record is None or (workflow_key and record.workflow_key != workflow_key):
        return None
    return record


def records_in_states(session: Session, *, workflow_key: str, states: tuple[str, ...]) -> list[Record]:
    """The organization's records of one workflow that are in any of ``states``."""
    query = select(Record).where(col(Record.workflow_key) == workflow_key, col(Record.state).in_(states))
    return list(session.scalars(query).all())


def records_in_workflow_states(
    session: Session, *, states_by_workflow: dict[str, tuple[str, ...]]
) -> list[Record]:
    """The organization's records that are in one of the states named for their workflow, in one query:
    the workflows in the order given, each by id."""
    query = select(Record).where(
        or_(
            *(
                sa.and_(col(Record.workflow_key) == key, col(Record.state).in_(states))
                for key, states in states_by_workflow.items()
            )
        )
    )
    order = {key: index for index, key in enumerate(states_by_workflow)}
    return sorted(session.scalars(query).all(), key=lambda r: (order[r.workflow_key], r.id or 0))


_CLAUSE = re.compile(r"\d{1,2}(\.\d{1,2}){0,3}")


def _concerns_clause(clause: str) -> sa.ColumnElement[bool]:
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
    # Records naming this unit or any unit below it in one of these org-unit fields (4.3: roll-up).
    unit_id: int | None = None
    unit_fields: tuple[str, ...] = ()


def list_records(
    session: Session, *, record_filter: RecordFilter, after_id: int | None = None, limit: int = PAGE_SIZE
) -> tuple[list[Record], int | None]:
    """Newest first; keyset pagination on id."""
    query = select(Record).where(col(Record.workflow_key) == record_filter.workflow_key)
    if record_filter.state:
        query = query.where(col(Record.state) == record_filter.state)
    if record_filter.assignee_id:
        query = query.where(col(Record.assignee_id) == record_filter.assignee_id)
    if record_filter.overdue_on:
        # Late itself, or holding a task that is late (a corrective action past its date).
        late_task = (
            select(col(Task.id))
            .where(
                col(Task.record_id) == Record.id,
                col(Task.closed_at).is_(None),
                col(Task.due_date) < record_filter.overdue_on,
            )
            .exists()
        )
        query = query.where(
            col(Record.closed_at).is_(None), or_(col(Record.due_date) < record_filter.overdue_on, late_task)
        )
    if record_filter.due_by:
        query = query.where(col(Record.due_date) <= record_filter.due_by, col(Record.closed_at).is_(None))
    if record_filter.created_from:
        query = query.where(func.date(Record.created_at) >= record_filter.created_from)
    if record_filter.created_to:
        query = query.where(func.date(Record.created_at) <= record_filter.created_to)
    if record_filter.search:
        pattern = f"%{record_filter.search.strip()}%"
        query = query.where(or_(col(Record.number).ilike(pattern), col(Record.title).ilike(pattern)))
    if record_filter.unit_id is not None:
        ids = sorted(subtree_ids(list_org_units(session), unit_id=record_filter.unit_id))
        query = query.where(
            or_(false(), *(Record.data[name].as_integer().in_(ids) for name in record_filter.unit_fields))
        )
    if after_id is not None:
        query = query.where(col(Record.id) < after_id)
    if record_filter.clause:
        query = query.where(_concerns_clause(record_filter.clause))
    rows = list(session.scalars(query.order_by(col(Record.id).desc()).limit(limit + 1)).all())
    next_after = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_after


def linked_records(session: Session, *, record_id: int) -> list[Record]:
    ids = session.scalars(
        select(col(RecordLink.to_record_id))
        .where(col(RecordLink.from_record_id) == record_id)
        .union(select(col(RecordLink.from_record_id)).where(col(RecordLink.to_record_id) == record_id))
    ).all()
    return list(session.scalars(select(Record).where(col(Record.id).in_(ids))).all()) if ids else []


def record_choices(session: Session, *, limit: int) -> list[tuple[int, str, str]]:
    """The newest records of the session's organization, as (id, "number · title", workflow key) for a
    picker (a link that names its workflow offers that workflow's records only)."""
    rows = session.execute(
        select(col(Record.id), col(Record.number), col(Record.title), col(Record.workflow_key))
        .order_by(col(Record.id).desc())
        .limit(limit)
    )
    return [(record_id, f"{number} · {title}", key) for record_id, number, title, key in rows.all()]


def record_events(session: Session, *, record_id: int) -> list[TrailEvent]:
    """Every audit event of the record, oldest first (all of them: an export leaves nothing out)."""
    return records_events(session, record_ids=[record_id])[record_id]


def records_events(session: Session, *, record_ids: Sequence[int]) -> dict[int, list[TrailEvent]]:
    """Every audit event of each record, oldest first, read at once (the evidence pack, 100 at a time)."""
    found = events_of(session, subject_type="record", subject_ids=[str(i) for i in record_ids])
    return {record_id: found.get(str(record_id), []) for record_id in record_ids}


def names_in(
    session: Session,
    *,
    org_id: int,
    workflow: Workflow,
    records: Iterable[Record],
    events: Iterable[TrailEvent] = (),
) -> Names:
    """The names a set of records of one workflow (and their events) point to, looked up at once."""
    wanted = referenced_ids(events, workflow=workflow, data={})
    for record in records:
        for kind, ids in referenced_ids((), workflow=workflow, data=record.data).items():
            wanted[kind] |= ids
    return names_of(session, org_id=org_id, wanted=wanted)


# Primary keys: never NULL in a result (SQLModel types them optional).
_ID_OF_USER = cast("Mapped[int]", User.id)
_ID_OF_UNIT = cast("Mapped[int]", OrgUnit.id)
_ID_OF_RECORD = cast("Mapped[int]", Record.id)


def names_of(session: Session, *, org_id: int, wanted: dict[FieldType, set[int]]) -> Names:
    """The names of the users (members of the organization), units, records ("number · title") and
    evidence files with these ids."""
    users = wanted.get(FieldType.user, set())
    units = wanted.get(FieldType.org_unit, set())
    records = wanted.get(FieldType.record_link, set())
    # Core on the session's connection with the organization explicit: no ORM hook per lookup.
    connection = session.connection()
    user_rows = (
        connection.execute(
            select(_ID_OF_USER, col(User.display_name))
            .join(Membership, col(Membership.user_id) == User.id)
            .where(col(Membership.org_id) == org_id, col(User.id).in_(users))
        ).all()
        if users
        else []
    )
    unit_rows = (
        connection.execute(
            select(_ID_OF_UNIT, col(OrgUnit.name)).where(
                col(OrgUnit.org_id) == org_id, col(OrgUnit.id).in_(units)
            )
        ).all()
        if units
        else []
    )
    record_rows = (
        connection.execute(
            select(_ID_OF_RECORD, col(Record.number), col(Record.title)).where(
                col(Record.org_id) == org_id, col(Record.id).in_(records)
            )
        ).all()
        if records
        else []
    )
    return Names(
        users=dict(user_rows),
        units=dict(unit_rows),
        records={record_id: f"{number} · {title}" for record_id, number, title in record_rows},
        evidence=evidence_names(session, ids=wanted.get(FieldType.evidence, set())),
    )
