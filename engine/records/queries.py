"""Reading records of any workflow: one record, a filtered list (in SQL, keyset pages), linked records."""

import re
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy import func, or_, select
from sqlmodel import Session, col

from engine.workflow.models import Record, RecordLink

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
        query = query.where(col(Record.due_date) < record_filter.overdue_on, col(Record.closed_at).is_(None))
    if record_filter.due_by:
        query = query.where(col(Record.due_date) <= record_filter.due_by, col(Record.closed_at).is_(None))
    if record_filter.created_from:
        query = query.where(func.date(Record.created_at) >= record_filter.created_from)
    if record_filter.created_to:
        query = query.where(func.date(Record.created_at) <= record_filter.created_to)
    if record_filter.search:
        pattern = f"%{record_filter.search.strip()}%"
        query = query.where(or_(col(Record.number).ilike(pattern), col(Record.title).ilike(pattern)))
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


def record_choices(session: Session, *, limit: int) -> list[tuple[int, str]]:
    """The newest records of the session's organization, as (id, "number · title") for a picker."""
    rows = session.execute(
        select(col(Record.id), col(Record.number), col(Record.title))
        .order_by(col(Record.id).desc())
        .limit(limit)
    )
    return [(record_id, f"{number} · {title}") for record_id, number, title in rows.all()]
