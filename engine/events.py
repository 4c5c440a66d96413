"""Domain events, of two kinds.

**Policies, inside the transaction.** A service *announces* a typed event (a subclass of
:class:`PolicyEvent`) in the unit of work that causes it; every policy registered for that type runs at
once, in the same transaction, and may refuse (raise) or act through the engine's public services. So a
process rule cannot be forgotten by a caller and cannot half-apply. Processes register their policies in
their hooks modules (``workflows/hooks/<key>.py``), which are imported before the first announcement.

**Subscribers, after commit.** A service calls ``record_event(session, …)``; ``Database.unit_of_work`` hands
the events to its subscribers once the transaction has committed, so a rolled-back change announces
nothing. Subscribers run outside the transaction (each opens its own unit of work if it writes); one that
fails is logged and the others still run, since the change that caused the event is already committed.
These are for side effects: mail, files, starting other records.
"""

import importlib
import logging
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import sqlmodel
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


@dataclass(frozen=True)
class PolicyEvent:
    """A fact (or a request) announced inside a transaction; subclasses carry what their policies need."""

    org_id: int


Policy = Callable[[Any, sqlmodel.Session], None]  # (the event, the session of the transaction)
POLICIES: dict[type[PolicyEvent], list[Policy]] = {}
# The modules that register policies; imported (by name) before the first announcement, so no caller can
# announce an event before the rules that govern it are in place.
POLICY_MODULES: list[str] = [
    "workflows.hooks",
    "engine.verification.policies",
    "engine.notifications.security",
]
_loaded_modules: set[str] = set()


def policy(event_type: type[PolicyEvent]) -> Callable[[Policy], Policy]:
    """Register a policy for ``event_type`` (and its subclasses)."""

    def register(function: Policy) -> Policy:
        handlers = POLICIES.setdefault(event_type, [])
        if function not in handlers:
            handlers.append(function)
        return function

    return register


def load_policy_modules() -> None:
    for name in POLICY_MODULES:
        if name not in _loaded_modules:
            importlib.import_module(name)
            _loaded_modules.add(name)


def announce(session: sqlmodel.Session, event: PolicyEvent) -> None:
    """Run every policy registered for the event's type, in order, in the caller's transaction. A policy
    that raises refuses the whole change: the caller's unit of work rolls everything back."""
    load_policy_modules()
    for event_type in type(event).__mro__:
        for handler in POLICIES.get(event_type, ()):
            handler(event, session)


def record_event(session: Session, *, name: str, org_id: int, payload: Mapping[str, Any]) -> None:
    session.info.setdefault(PENDING, []).append(DomainEvent(name, org_id, dict(payload)))


def take_pending(session: Session) -> list[DomainEvent]:
    pending: list[DomainEvent] = session.info.pop(PENDING, [])
    return pending


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
