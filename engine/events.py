"""Domain events: recorded in the unit of work that caused them, published only after it commits.

A service calls ``record_event(session, …)``; ``Database.unit_of_work`` hands the events to its subscribers
once the transaction has committed, so a rolled-back change announces nothing. Subscribers run outside the
transaction (each opens its own unit of work if it writes); one that fails is logged and the others still
run, since the change that caused the event is already committed.
"""

import logging
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

PENDING = "tanguan_pending_events"
MAX_DEPTH = 4  # an event whose subscriber causes events, and so on: a loop stops here

log = logging.getLogger("tanguan.events")
_depth: ContextVar[int] = ContextVar("tanguan_event_depth", default=0)


@dataclass(frozen=True)
class DomainEvent:
    name: str  # e.g. "nonconformity.assess"
    org_id: int
    payload: Mapping[str, Any] = field(default_factory=dict)


Subscriber = Callable[[DomainEvent, Any], None]  # (event, the Database)


def record_event(session: Session, *, name: str, org_id: int, payload: Mapping[str, Any]) -> None:
    session.info.setdefault(PENDING, []).append(DomainEvent(name, org_id, dict(payload)))


def take_pending(session: Session) -> list[DomainEvent]:
    return session.info.pop(PENDING, [])


def publish(events: list[DomainEvent], *, subscribers: list[Subscriber], database: Any) -> None:
    depth = _depth.get()
    if depth >= MAX_DEPTH:
        log.error("domain events nested %d deep; not publishing %s", depth, [e.name for e in events])
        return
    token = _depth.set(depth + 1)
    try:
        for event in events:
            for subscriber in subscribers:
                try:
                    subscriber(event, database)
                except Exception:
                    log.exception("subscriber %r failed on %s", subscriber, event.name)
    finally:
        _depth.reset(token)
