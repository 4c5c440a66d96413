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

**The outbox (docs/adr/0045).** ``record_event`` also writes the event to ``event_outbox`` in the same
transaction; after publishing, the unit of work marks the rows dispatched (or keeps a failing subscriber's
error and the attempt count), and the scheduler redelivers rows left undispatched: a process killed between
COMMIT and publishing loses no event. Delivery is therefore **at least once**: a subscriber must be safe to
run twice for the same event, e.g. by taking a receipt (``first_receipt``) in the transaction of its effect.
A subscriber may say which events it acts on (``wants``): an event none wants is written dispatched.
"""

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import sqlmodel
from sqlalchemy import bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.models.base import table_of, utcnow
from engine.models.outbox import EventOutbox, EventReceipt

PENDING = "tanguan_pending_events"
SUBSCRIBERS = "tanguan_subscribers"  # in a session's info: the subscribers of its process (engine.db)
MAX_DEPTH = 4  # an event whose subscriber causes events, and so on: a loop stops here
MAX_ATTEMPTS = 5  # deliveries of one event before the outbox gives up on it (its last error stays)
TOO_DEEP = "nested too deep: not published (a loop of events?)"

log = logging.getLogger("tanguan.events")
_depth: ContextVar[int] = ContextVar("tanguan_event_depth", default=0)


@dataclass(frozen=True)
class DomainEvent:
    name: str  # e.g. "nonconformity.assess"
    org_id: int
    payload: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None  # its outbox row: the same on every delivery, what an idempotent subscriber keys on


Subscriber = Callable[[DomainEvent, Any], None]  # (event, the Database)
# A subscriber may have ``wants(name) -> bool``: the events it acts on (without it: all of them).


def wanted(name: str, subscribers: Iterable[Subscriber]) -> bool:
    for subscriber in subscribers:
        wants = getattr(subscriber, "wants", None)
        if wants is None or wants(name):
            return True
    return False


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


_outbox = table_of(EventOutbox)
_receipts = table_of(EventReceipt)


@cache
def _insert_outbox() -> Any:
    """On the driver's cursor: it runs in every transition (engine.db.DriverStatement)."""
    from engine.db import DriverStatement  # engine.db imports this module

    columns = ("org_id", "name", "payload", "created_at", "dispatched_at", "attempts")
    return DriverStatement(
        insert(_outbox).values({name: bindparam(name) for name in columns}).returning(_outbox.c.id)
    )


def record_event(session: Session, *, name: str, org_id: int, payload: Mapping[str, Any]) -> None:
    """The event, written to the outbox in the session's transaction and published after its COMMIT. An
    event none of the process's subscribers wants is written dispatched, and not published: no write
    after COMMIT (the app and the scheduler subscribe the same set; a process with none leaves every row to
    them)."""
    data, now = dict(payload), utcnow()
    subscribers: list[Subscriber] = session.info.get(SUBSCRIBERS) or []
    nobody = bool(subscribers) and not wanted(name, subscribers)
    values = {"org_id": org_id, "name": name, "payload": data, "created_at": now, "attempts": 0}
    values["dispatched_at"] = now if nobody else None
    event_id = _insert_outbox().scalar(session.connection(), values)
    if not nobody:
        session.info.setdefault(PENDING, []).append(DomainEvent(name, org_id, data, event_id))


def requeue(session: Session, events: Iterable[DomainEvent]) -> None:
    """Events already in the outbox, published again after this session's COMMIT (redelivery)."""
    session.info.setdefault(PENDING, []).extend(events)


def take_pending(session: Session) -> list[DomainEvent]:
    pending: list[DomainEvent] = session.info.pop(PENDING, [])
    return pending


Outcome = tuple[DomainEvent, str | None]  # an event and its first subscriber's error (None: all took it)


def publish(events: list[DomainEvent], *, subscribers: list[Subscriber], database: Any) -> list[Outcome]:
    depth = _depth.get()
    if depth >= MAX_DEPTH:
        log.error("domain events nested %d deep; not publishing %s", depth, [e.name for e in events])
        return [(event, TOO_DEEP) for event in events]
    token = _depth.set(depth + 1)
    outcomes: list[Outcome] = []
    try:
        for event in events:
            error = None
            for subscriber in subscribers:
                try:
                    subscriber(event, database)
                except Exception as exc:
                    log.exception("subscriber %r failed on %s", subscriber, event.name)
                    error = error or f"{getattr(subscriber, '__name__', type(subscriber).__name__)}: {exc!r}"
            outcomes.append((event, error))
    finally:
        _depth.reset(token)
    return outcomes


def mark_outcomes(session: Session, outcomes: list[Outcome], *, now: datetime) -> None:
    """After publishing: each outbox row dispatched, or keeping its error for the next delivery (none after
    MAX_ATTEMPTS, or at once for a loop of events)."""
    done = [event.id for event, error in outcomes if error is None and event.id is not None]
    attempt = {"attempts": _outbox.c.attempts + 1, "attempted_at": now}
    if done:
        session.execute(
            update(_outbox)
            .where(_outbox.c.id.in_(done))
            .values(dispatched_at=now, last_error=None, **attempt)
        )
    for event, error in outcomes:
        if error is not None and event.id is not None:
            values = {**attempt, "last_error": error[:2000]}
            if error == TOO_DEEP:
                values["attempts"] = MAX_ATTEMPTS
            session.execute(update(_outbox).where(_outbox.c.id == event.id).values(**values))


def _retry_due(now: datetime, grace: timedelta) -> Any:
    """The latest ``attempted_at`` at which a row is due again: ``grace`` after its first delivery, doubling
    after each failed one (1, 2, 4, 8 × grace), so a subscriber that is down is not hammered."""
    waits = {attempts: now - grace * 2 ** max(attempts - 1, 0) for attempts in range(MAX_ATTEMPTS)}
    return case(waits, value=_outbox.c.attempts, else_=now - grace * 2 ** (MAX_ATTEMPTS - 1))


def take_for_redelivery(
    session: Session, *, now: datetime, grace: timedelta, limit: int
) -> list[DomainEvent]:
    """Outbox rows left undispatched for longer than ``grace`` since written, and since last attempted for
    longer than their back-off (``_retry_due``), under MAX_ATTEMPTS, oldest first: each taken
    (``attempted_at``) in the session's transaction, so another dispatcher leaves it alone, and queued to be
    published after its COMMIT."""
    subscribers = session.info.get(SUBSCRIBERS)
    if not subscribers:
        return []  # a process with no subscriber leaves the rows to one that has them
    now = now.astimezone(UTC)  # SQLite keeps the wall time of the zone written: every row's is UTC
    before = now - grace
    due = (_outbox.c.attempted_at.is_(None)) | (_outbox.c.attempted_at <= _retry_due(now, grace))
    rows = session.execute(
        select(_outbox.c.id, _outbox.c.org_id, _outbox.c.name, _outbox.c.payload)
        .where(
            _outbox.c.dispatched_at.is_(None),
            _outbox.c.created_at <= before,
            _outbox.c.attempts < MAX_ATTEMPTS,
            due,
        )
        .order_by(_outbox.c.created_at, _outbox.c.id)
        .limit(limit)
    ).all()
    taken = []
    for row in rows:
        wants = wanted(row.name, subscribers)  # none: dispatched here, to nobody (written where none was)
        claimed = session.execute(
            update(_outbox)
            .where(_outbox.c.id == row.id, _outbox.c.dispatched_at.is_(None), due)
            .values(attempted_at=now, dispatched_at=None if wants else now)
        ).rowcount  # type: ignore[attr-defined]
        if claimed and wants:
            taken.append(DomainEvent(row.name, row.org_id, row.payload, row.id))
    requeue(session, taken)
    return taken


@dataclass(frozen=True)
class GivenUp:
    """An event the outbox stopped delivering after MAX_ATTEMPTS (or a loop of events); its last error."""

    id: int
    org_id: int
    name: str
    created_at: datetime
    attempts: int
    last_error: str | None


def _given_up() -> Any:
    return (_outbox.c.dispatched_at.is_(None)) & (_outbox.c.attempts >= MAX_ATTEMPTS)


def given_up_events(session: Session, *, limit: int) -> list[GivenUp]:
    """The given-up events, oldest first (an operator's list: ``tanguan scheduler outbox``)."""
    rows = session.execute(
        select(
            _outbox.c.id,
            _outbox.c.org_id,
            _outbox.c.name,
            _outbox.c.created_at,
            _outbox.c.attempts,
            _outbox.c.last_error,
        )
        .where(_given_up())
        .order_by(_outbox.c.created_at, _outbox.c.id)
        .limit(limit)
    ).all()
    return [GivenUp(*row) for row in rows]


def retry_given_up(session: Session, *, ids: Iterable[int] | None = None) -> int:
    """Give given-up events (all, or those of ``ids``) MAX_ATTEMPTS more deliveries: the scheduler's next
    redelivery takes them (their subscribers' receipts keep what already happened from happening twice)."""
    where = _given_up()
    if ids is not None:
        where = where & _outbox.c.id.in_(list(ids))
    retried = session.execute(update(_outbox).where(where).values(attempts=0, attempted_at=None))
    return int(retried.rowcount)  # type: ignore[attr-defined]


def outbox_backlog(session: Session) -> dict[str, int]:
    """Undispatched events by state: ``waiting`` (to be delivered or redelivered) and ``given_up``."""
    given_up = func.sum(case((_outbox.c.attempts >= MAX_ATTEMPTS, 1), else_=0))
    row = session.execute(
        select(func.count(), given_up).select_from(_outbox).where(_outbox.c.dispatched_at.is_(None))
    ).one()
    total, stopped = int(row[0] or 0), int(row[1] or 0)
    return {"waiting": total - stopped, "given_up": stopped}


def delete_dispatched(session: Session, *, before: datetime) -> int:
    """Dispatched outbox rows (and their receipts) older than ``before``; how many rows."""
    before = before.astimezone(UTC)
    old = select(_outbox.c.id).where(_outbox.c.dispatched_at < before).scalar_subquery()
    session.execute(delete(_receipts).where(_receipts.c.event_id.in_(old)))
    deleted = session.execute(delete(_outbox).where(_outbox.c.dispatched_at < before))
    return int(deleted.rowcount)  # type: ignore[attr-defined]


def first_receipt(session: Session, event: DomainEvent, *, consumer: str) -> bool:
    """Whether ``consumer`` meets ``event`` for the first time: the receipt is written in the session's
    transaction (with the consumer's effect), so a redelivered event finds it. An event with no outbox row
    (``id`` None) is always new."""
    if event.id is None:
        return True
    dialect: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values = {"org_id": event.org_id, "event_id": event.id, "consumer": consumer[:120], "done_at": utcnow()}
    statement = dialect.insert(_receipts).values(values).on_conflict_do_nothing().returning(_receipts.c.id)
    return session.execute(statement).first() is not None
