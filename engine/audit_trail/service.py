"""Reading the audit trail: filters and keyset pagination (newest first)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.models.audit import AuditEvent
from engine.tenancy import TenantScopeError, session_org_id

PAGE_SIZE = 50


@dataclass(frozen=True)
class TrailFilter:
    subject_type: str | None = None
    subject_id: str | None = None
    actor_id: int | None = None
    action: str | None = None
    since_utc: str | None = None  # ISO-8601 UTC bounds, compared as fixed-width text
    until_utc: str | None = None


@dataclass(frozen=True)
class TrailEvent:
    seq: int
    ts: str
    actor_id: int | None
    actor_name: str
    subject_type: str
    subject_id: str
    action: str
    from_state: str | None
    to_state: str | None
    reason: str | None
    hash: str
    payload: str

    @property
    def changes(self) -> dict[str, Any]:
        """Parsed only when shown: lists that do not show changes skip the JSON."""
        changes: dict[str, Any] = orjson.loads(self.payload).get("changes", {})
        return changes


# The columns of a TrailEvent, in its order.
_TRAIL_COLUMNS = (
    col(AuditEvent.seq),
    col(AuditEvent.ts),
    col(AuditEvent.actor_id),
    col(AuditEvent.actor_name),
    col(AuditEvent.subject_type),
    col(AuditEvent.subject_id),
    col(AuditEvent.action),
    col(AuditEvent.from_state),
    col(AuditEvent.to_state),
    col(AuditEvent.reason),
    col(AuditEvent.hash),
    col(AuditEvent.payload),
)


@dataclass(frozen=True)
class TrailPage:
    events: list[TrailEvent]
    next_before_seq: int | None


def list_events(
    session: Session, *, trail_filter: TrailFilter, before_seq: int | None = None, limit: int = PAGE_SIZE
) -> TrailPage:
    """One page of the organization's trail (the session's scope picks the organization)."""
    org_id = session_org_id(session)
    if org_id is None:
        raise TenantScopeError("the audit trail is read in one organization's scope")
    # Time order is chain order (verify_chain checks that ts never goes back), so a period is read newest
    # first along the (org_id, ts, seq) index instead of walking the whole chain down to it.
    period = bool(trail_filter.since_utc or trail_filter.until_utc)
    by_subject = bool(trail_filter.subject_type and trail_filter.subject_id)
    order = (col(AuditEvent.ts).desc(),) if period and not by_subject else ()
    # Core columns on the session's connection, the organization explicit: no entities, no ORM hook.
    query = (
        sa.select(*_TRAIL_COLUMNS)
        .where(col(AuditEvent.org_id) == org_id)
        .order_by(*order, col(AuditEvent.seq).desc())
        .limit(limit + 1)
    )
    if trail_filter.subject_type:
        query = query.where(col(AuditEvent.subject_type) == trail_filter.subject_type)
    if trail_filter.subject_id:
        query = query.where(col(AuditEvent.subject_id) == trail_filter.subject_id)
    if trail_filter.actor_id is not None:
        query = query.where(col(AuditEvent.actor_id) == trail_filter.actor_id)
    if trail_filter.action:
        query = query.where(col(AuditEvent.action) == trail_filter.action)
    if trail_filter.since_utc:
        query = query.where(col(AuditEvent.ts) >= trail_filter.since_utc)
    if trail_filter.until_utc:
        query = query.where(col(AuditEvent.ts) < trail_filter.until_utc)
    if before_seq is not None:
        query = query.where(col(AuditEvent.seq) < before_seq)
    rows = session.connection().execute(query).all()
    events = [TrailEvent(*row) for row in rows[:limit]]  # type: ignore[call-arg]  # the columns, in order
    next_before = events[-1].seq if len(rows) > limit else None
    return TrailPage(events=events, next_before_seq=next_before)


def events_of(
    session: Session, *, subject_type: str, subject_ids: Sequence[str]
) -> dict[str, list[TrailEvent]]:
    """Every event of each of these subjects, oldest first, in one query (the session's scope picks the
    organization); a subject without events is left out."""
    found: dict[str, list[TrailEvent]] = {}
    if subject_ids:
        query = (
            select(AuditEvent)
            .where(AuditEvent.subject_type == subject_type, col(AuditEvent.subject_id).in_(subject_ids))
            .order_by(col(AuditEvent.seq))
        )
        for row in session.exec(query):
            found.setdefault(row.subject_id, []).append(_event(row))
    return found


def _event(row: AuditEvent) -> TrailEvent:
    return TrailEvent(
        seq=row.seq,
        ts=row.ts,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        action=row.action,
        from_state=row.from_state,
        to_state=row.to_state,
        reason=row.reason,
        hash=row.hash,
        payload=row.payload,
    )


# The distinct subject types of an organization's trail by seeks along (org_id, subject_type, …), one per
# type: a DISTINCT read the whole trail (≈ 150 ms for a million events on PostgreSQL, on every trail view).
_SUBJECT_TYPES = sa.text(
    "WITH RECURSIVE found(subject_type) AS ("
    " SELECT min(subject_type) FROM audit_event WHERE org_id = :org_id"
    " UNION ALL"
    " SELECT (SELECT min(subject_type) FROM audit_event WHERE org_id = :org_id"
    " AND subject_type > found.subject_type) FROM found WHERE found.subject_type IS NOT NULL"
    ") SELECT subject_type FROM found WHERE subject_type IS NOT NULL"
)


# Actors that are not people: the names services write for them, as people read them.
MACHINE_ACTORS = {"system": ("系统", "System"), "scheduler": ("定时任务", "Scheduler")}


def actor_shown(event: TrailEvent, *, locale: str = "zh_CN") -> str:
    """The actor's name, or the label of a machine actor (no user id) in the reader's language."""
    machine = MACHINE_ACTORS.get(event.actor_name) if event.actor_id is None else None
    if machine is None:
        return event.actor_name
    return machine[0] if locale.startswith("zh") else machine[1]


def subject_types(session: Session) -> list[str]:
    org_id = session_org_id(session)
    if org_id is None:
        raise TenantScopeError("the audit trail is read in one organization's scope")
    return list(session.connection().execute(_SUBJECT_TYPES, {"org_id": org_id}).scalars())
