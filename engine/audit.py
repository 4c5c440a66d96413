"""The append-only, hash-chained audit trail (one chain per organization).

``hash = sha256(prev_hash ‖ canonical JSON)``, where the canonical JSON (sorted keys, no spaces,
UTF-8) is stored as text in ``payload``. An event is appended inside the caller's transaction, so it
commits or rolls back with the change it records. Appends lock the organization's chain head, so
concurrent writers queue instead of forking the chain.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.db import DriverStatement, driver_cursor
from engine.models.audit import GENESIS_HASH, AuditChainHead, AuditEvent
from engine.models.base import table_of, utc_iso, utcnow
from engine.tenancy import scope_connection

_events = table_of(AuditEvent)
_heads = table_of(AuditChainHead)

# Columns that repeat payload keys (indexed or shown in lists); verify_chain checks they agree.
MIRRORED_COLUMNS = (
    "seq",
    "ts",
    "actor_id",
    "actor_name",
    "subject_type",
    "subject_id",
    "action",
    "from_state",
    "to_state",
    "reason",
    "signature_id",
)


@dataclass(frozen=True)
class Actor:
    id: int | None
    name: str
    roles: frozenset[str] = frozenset()  # what a policy acting on the actor's behalf may do


SYSTEM = Actor(id=None, name="system")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not audit-serializable")


def canonical_json(data: Mapping[str, Any]) -> str:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=_json_default).decode()


def chain_hash(prev_hash: str, payload: str) -> str:
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def field_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value differs."""
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def ensure_chain_head(session: Session, *, org_id: int) -> None:
    session.execute(insert(_heads).values(org_id=org_id, last_seq=0, last_hash=GENESIS_HASH))


# Built once and run on the driver's cursor: an append is three statements on the hot path of every change.
_LOCK_HEAD = DriverStatement(
    select(_heads.c.last_seq, _heads.c.last_hash)
    .where(_heads.c.org_id == bindparam("org_id"))
    .with_for_update()
)
_HEAD_SEQ = DriverStatement(select(_heads.c.last_seq).where(_heads.c.org_id == bindparam("org_id")))
_INSERT_EVENT = DriverStatement(
    insert(_events).values({column.name: bindparam(column.name) for column in _events.columns})
)
_MOVE_HEAD = DriverStatement(
    update(_heads)
    .where(_heads.c.org_id == bindparam("head_org_id"))
    .values(last_seq=bindparam("last_seq"), last_hash=bindparam("last_hash"))
)


def chain_head(session: Session, *, org_id: int) -> tuple[int, str]:
    """``(last seq, last hash)`` of the organization's chain, locked until the transaction ends."""
    head = _LOCK_HEAD.first(session.connection(), {"org_id": org_id})
    if head is None:
        raise LookupError(f"organization {org_id} has no audit chain head")
    return head.last_seq, head.last_hash


def chain_position(session: Session, *, org_id: int) -> int:
    """The organization's last audit seq, unlocked: every audited write moves it, so it versions what the
    organization's pages show (engine.versioned_cache). 0 for an organization without a chain."""
    return int(_HEAD_SEQ.scalar(session.connection(), {"org_id": org_id}) or 0)


def append_event(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    subject_type: str,
    subject_id: str | int,
    action: str,
    from_state: str | None = None,
    to_state: str | None = None,
    changes: Mapping[str, list[Any]] | None = None,
    reason: str | None = None,
    signature_id: int | None = None,
) -> dict[str, Any]:
    """Append one event to the organization's chain in the session's transaction; returns its row."""
    connection = session.connection()
    last_seq, last_hash = chain_head(session, org_id=org_id)
    row = {
        "org_id": org_id,
        "seq": last_seq + 1,
        "ts": utc_iso(utcnow()),
        "actor_id": actor.id,
        "actor_name": actor.name,
        "subject_type": subject_type,
        "subject_id": str(subject_id),
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "reason": reason,
        "signature_id": signature_id,
    }
    payload = canonical_json({**row, "changes": dict(changes or {})})
    row.update(prev_hash=last_hash, hash=chain_hash(last_hash, payload), payload=payload)
    _INSERT_EVENT.execute(connection, row)
    _MOVE_HEAD.execute(connection, {"head_org_id": org_id, "last_seq": row["seq"], "last_hash": row["hash"]})
    return row


@dataclass(frozen=True)
class ChainCheck:
    org_id: int
    events_checked: int
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


_CHAIN_SQL = "SELECT seq, ts, prev_hash, hash, payload FROM audit_event WHERE org_id = {param} ORDER BY seq"
_MIRROR_LIST = ", ".join(MIRRORED_COLUMNS)
# The first event whose indexed columns disagree with its hashed payload, compared in the database.
_MIRROR_MISMATCH_SQL = {
    "sqlite": (
        f"SELECT min(seq) FROM audit_event WHERE org_id = :org_id AND json_array({_MIRROR_LIST}) IS NOT "
        "CASE WHEN json_valid(payload) THEN json_extract(payload, "
        + ", ".join(f"'$.{c}'" for c in MIRRORED_COLUMNS)
        + ") END"
    ),
    # The payload is parsed once per row: OFFSET 0 keeps the planner from copying the cast into each use.
    "postgresql": (
        f"SELECT min(seq) FROM (SELECT {_MIRROR_LIST}, payload::jsonb AS p FROM audit_event "
        f"WHERE org_id = :org_id OFFSET 0) AS e WHERE jsonb_build_array({_MIRROR_LIST}) "
        "IS DISTINCT FROM jsonb_build_array(" + ", ".join(f"p -> '{c}'" for c in MIRRORED_COLUMNS) + ")"
    ),
}


def _first_mirror_mismatch(connection: Connection, *, org_id: int) -> int | None:
    try:
        with connection.begin_nested():
            return connection.execute(
                text(_MIRROR_MISMATCH_SQL[connection.dialect.name]), {"org_id": org_id}
            ).scalar()
    except DBAPIError:
        return 0  # a payload that is not JSON at all: the walk below finds the exact event


def _mismatched_column(connection: Connection, *, org_id: int, seq: int) -> str:
    row = connection.execute(
        text(f"SELECT {_MIRROR_LIST}, payload FROM audit_event WHERE org_id = :org_id AND seq = :seq"),
        {"org_id": org_id, "seq": seq},
    ).one()
    data = orjson.loads(row[-1])
    return next((c for i, c in enumerate(MIRRORED_COLUMNS) if data.get(c) != row[i]), "org_id")


def verify_chain(connection: Connection, *, org_id: int, batch_size: int = 20000) -> ChainCheck:
    """Walk the chain in ``seq`` order and report the first broken link and why.

    The walk checks numbering, linkage, each hash and time order; the indexed columns are compared
    with the hashed payload in one query, and the earlier of the two findings is reported.

    The walk and the chain head are read in one snapshot: on PostgreSQL a connection not yet in a
    transaction is put in REPEATABLE READ (READ COMMITTED would see an append committed between the walk and
    the head and call it "events removed"); SQLite's transaction is one snapshot already."""
    if connection.dialect.name == "postgresql" and not connection.in_transaction():
        connection.execution_options(isolation_level="REPEATABLE READ")
    sha256 = hashlib.sha256
    if not connection.in_transaction():  # a bare connection: row-level security needs the organization
        connection.begin()
        scope_connection(connection, org_id=org_id)
    mismatch_seq = _first_mirror_mismatch(connection, org_id=org_id)
    stop_at = mismatch_seq or None
    expected_seq = 1
    last_hash = hash_before_last = GENESIS_HASH
    last_ts = ""
    # The driver's own cursor: SQLAlchemy's row objects would cost a third of the walk.
    cursor = driver_cursor(connection)
    param = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    cursor.execute(_CHAIN_SQL.format(param=param), (org_id,))
    while batch := cursor.fetchmany(batch_size):
        for seq, ts, prev_hash, stored_hash, payload in batch:
            if seq != expected_seq:
                problem = (
                    f"event {expected_seq} is missing (next present is {seq})"
                    if seq > expected_seq
                    else f"seq {seq} appears twice"
                )
                return ChainCheck(org_id, expected_seq - 1, expected_seq, problem)
            if prev_hash != last_hash:
                if seq > 1 and prev_hash == hash_before_last:
                    # This event links past its predecessor: the predecessor was slipped in.
                    return ChainCheck(
                        org_id, seq - 2, seq - 1, "inserted event: the next event links past it"
                    )
                return ChainCheck(
                    org_id, seq - 1, seq, "prev_hash does not match the hash of the previous event"
                )
            if sha256((prev_hash + payload).encode()).hexdigest() != stored_hash:
                return ChainCheck(org_id, seq - 1, seq, "hash does not match the payload (payload altered)")
            if seq == stop_at:
                field = _mismatched_column(connection, org_id=org_id, seq=seq)
                return ChainCheck(org_id, seq - 1, seq, f"column {field} differs from the hashed payload")
            if ts < last_ts:
                return ChainCheck(org_id, seq - 1, seq, "timestamp earlier than the previous event's")
            hash_before_last, last_hash, last_ts = last_hash, stored_hash, ts
            expected_seq += 1
    checked = expected_seq - 1
    head = connection.execute(
        select(_heads.c.last_seq, _heads.c.last_hash).where(_heads.c.org_id == org_id)
    ).first()
    head_seq, head_hash = (head.last_seq, head.last_hash) if head else (0, GENESIS_HASH)
    if head_seq > checked:
        problem = f"the chain head records {head_seq} events but the trail ends at {checked} (events removed)"
        return ChainCheck(org_id, checked, checked + 1, problem)
    if head_seq < checked:
        return ChainCheck(
            org_id, checked, head_seq + 1, "events after the chain head (appended outside Tanguan)"
        )
    if head_hash != last_hash:
        return ChainCheck(org_id, checked, checked, "the last event does not match the chain head")
    return ChainCheck(org_id, checked)
