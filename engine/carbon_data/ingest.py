"""Bulk meter ingestion (the meter API): every row validated first, nothing written if one is wrong;
a replayed Idempotency-Key returns the first result."""

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engine.audit import Actor, append_event
from engine.carbon_data.errors import BadValue, DataIssue, EmissionsDataError, data_issue
from engine.carbon_data.events import MonthDataChanged
from engine.carbon_data.models import MICRO, ActivityReading, BatchKind, IngestIdempotency
from engine.carbon_data.parsing import MAX_IDEMPOTENCY_KEY, MAX_QUANTITY, as_utc, local_months, parse_instant
from engine.carbon_data.readings import (
    InsertRow,
    db_instant,
    finish_batch,
    insert_rows,
    new_batch,
    parse_entry,
)
from engine.carbon_data.sources import ReadingContext
from engine.carbon_data.versions import bump_for_periods
from engine.events import announce
from engine.models.base import table_of, utc_iso, utcnow

_idempotency = table_of(IngestIdempotency)
_readings = table_of(ActivityReading)


# ---------------------------------------------------------------- bulk meter ingestion


@dataclass(frozen=True, slots=True)
class IngestResult:
    batch_id: int
    inserted: int
    sources: int
    first_period_start: str | None
    last_period_start: str | None
    replayed: bool = False
    periods: tuple[str, ...] = ()  # the local months (YYYY-MM) that received readings

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "inserted": self.inserted,
            "sources": self.sources,
            "first_period_start": self.first_period_start,
            "last_period_start": self.last_period_start,
        }


INGEST_KEYS = frozenset(
    {"source_id", "source_code", "period_start", "quantity", "unit", "tier", "evidence_sha256", "note"}
)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _request_sha256(readings: Sequence[Mapping[str, Any]]) -> str:
    try:
        canonical = orjson.dumps(readings, default=_json_default)
    except TypeError:  # an integer beyond 64 bits, which orjson cannot write (refused as a value below)
        canonical = json.dumps(readings, default=_json_default, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def ingest_readings(
    session: Session,
    *,
    org_id: int,
    readings: Sequence[Mapping[str, Any]],
    idempotency_key: str,
    actor: Actor,
    reason: str = "",
) -> IngestResult:
    """Bulk meter data: ``readings`` are mappings with ``source_id`` (or ``source_code``),
    ``period_start`` (ISO 8601 or datetime; no offset = UTC+8), ``quantity`` and optionally ``unit``,
    ``tier``, ``evidence_sha256`` and ``note``.

    All-or-nothing: every reading is validated first, including duplicates within the request and
    against stored readings; nothing is written when any is wrong. Then one executemany INSERT.
    Replaying an ``idempotency_key`` returns the stored result (``replayed=True``) and inserts
    nothing; the same key with a different request is refused. One audit event per request."""
    key = (idempotency_key or "").strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise EmissionsDataError.single(
            "idempotency_key",
            zh=f"幂等键必须是 1–{MAX_IDEMPOTENCY_KEY} 个字符",
            en=f"the idempotency key must be 1–{MAX_IDEMPOTENCY_KEY} characters",
        )
    request_sha256 = _request_sha256(readings)
    connection = session.connection()
    replay = _replay(connection, org_id=org_id, key=key, request_sha256=request_sha256)
    if replay is not None:
        return replay
    parsed = _parse_meter_readings(
        ReadingContext(session, org_id=org_id), readings, dialect=connection.dialect.name
    )
    issues = parsed.issues or _stored_duplicates(connection, org_id=org_id, keys=parsed.keys)
    if issues:
        raise EmissionsDataError(issues)
    # Claim the key first: a concurrent request with the same key waits here, then replays.
    try:
        with session.begin_nested():
            idempotency_id = connection.execute(
                sa.insert(_idempotency)
                .values(org_id=org_id, key=key, request_sha256=request_sha256, created_at=utcnow(), result={})
                .returning(_idempotency.c.id)
            ).scalar_one()
    except IntegrityError:
        replay = _replay(connection, org_id=org_id, key=key, request_sha256=request_sha256)
        if replay is None:
            raise
        return replay
    rows = parsed.rows
    batch = new_batch(
        session,
        org_id=org_id,
        kind=BatchKind.api,
        label=key,
        actor=actor,
        rows=len(rows),
        sha256=request_sha256,
    )
    assert batch.id is not None
    # A reading stored concurrently since the check fails the INSERT and the whole transaction.
    insert_rows(connection, org_id=org_id, entered_by=actor.id, batch_id=batch.id, rows=rows)
    starts = [moment for _, moment in parsed.keys]
    result = IngestResult(
        batch_id=batch.id,
        inserted=len(rows),
        sources=len(parsed.sources),
        first_period_start=utc_iso(min(starts)) if starts else None,
        last_period_start=utc_iso(max(starts)) if starts else None,
        periods=local_months(starts),
    )
    connection.execute(
        sa.update(_idempotency).where(_idempotency.c.id == idempotency_id).values(result=result.to_dict())
    )
    finish_batch(connection, batch_id=batch.id, inserted=len(rows), updated=0)
    if result.periods:
        bump_for_periods(session, org_id=org_id, periods=result.periods)
        announce(
            session,
            MonthDataChanged(org_id=org_id, periods=frozenset(result.periods), actor=actor, reason=reason),
        )
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="reading_batch",
        subject_id=batch.id,
        action="ingested",
        changes={
            "readings": [None, len(rows)],
            "idempotency_key": [None, key],
            "request_sha256": [None, request_sha256],
            "period_start": [None, [result.first_period_start, result.last_period_start]],
            "sources": [None, sorted(parsed.sources)],
        },
    )
    return result


def _replay(connection: sa.Connection, *, org_id: int, key: str, request_sha256: str) -> IngestResult | None:
    stored = connection.execute(
        sa.select(_idempotency.c.request_sha256, _idempotency.c.result).where(
            _idempotency.c.org_id == org_id, _idempotency.c.key == key
        )
    ).first()
    if stored is None:
        return None
    if stored.request_sha256 != request_sha256:
        raise EmissionsDataError.single(
            "idempotency_key",
            zh="此幂等键已用于另一份不同的数据",
            en="this idempotency key was already used for a different request",
        )
    return IngestResult(**stored.result, replayed=True)


@dataclass(slots=True)
class _ParsedBatch:
    rows: list[InsertRow] = field(default_factory=list)
    keys: list[tuple[int, datetime]] = field(default_factory=list)  # (source_id, UTC start) per row
    sources: set[str] = field(default_factory=set)
    issues: list[DataIssue] = field(default_factory=list)


_FLOAT_FAST_LIMIT = 1e6  # below this, round(q × 10⁶) is exact enough to decide half-even (see below)


def _parse_meter_readings(
    context: ReadingContext, readings: Sequence[Mapping[str, Any]], *, dialect: str
) -> _ParsedBatch:
    """Validated insert rows. The common case of meter data (exactly source_id, period_start and a
    number, for an active source) takes a short path: each distinct timestamp text is parsed once,
    and a float is scaled in binary unless it lies within 10⁻³ micro-units of a rounding tie (then,
    and for every other case, the general parser with Decimal arithmetic decides)."""
    out = _ParsedBatch()
    rows, keys, issues = out.rows, out.keys, out.issues
    seen: dict[tuple[int, datetime], int] = {}
    to_db = db_instant(dialect)
    fast = {
        source_id: (source_id, source.code, source.tier)
        for source_id, source in context.by_id.items()
        if source.active
    }
    stamps: dict[str, tuple[datetime, Any]] = {}
    micro_int = MICRO
    limit = MAX_QUANTITY
    float_limit = _FLOAT_FAST_LIMIT
    for row_number, reading in enumerate(readings, start=1):
        entry = None
        try:
            if len(reading) == 3:
                source_id = reading.get("source_id")
                text = reading.get("period_start")
                quantity: Any = reading.get("quantity")
                source = fast.get(source_id) if type(source_id) is int else None
                stamp = stamps.get(text) if type(text) is str else None
                if stamp is None and source is not None and type(text) is str:
                    moment = parse_instant(text, allow_month=False)
                    stamp = stamps[text] = (moment, to_db(moment))
                if source is not None and stamp is not None:
                    kind = type(quantity)
                    if kind is int and 0 <= quantity <= limit:
                        entry = (source, stamp, quantity * micro_int)
                    elif kind is float and 0.0 <= quantity < float_limit:
                        scaled = quantity * 1e6
                        nearest = round(scaled)
                        if abs(abs(scaled - nearest) - 0.5) > 1e-3:
                            entry = (source, stamp, nearest)
        except (BadValue, TypeError, AttributeError):
            entry = None
        if entry is not None:
            (source_id, code, tier), (moment, db_value), micro = entry
            row: InsertRow = (source_id, db_value, micro, tier, None, None)
        else:
            if not isinstance(reading, Mapping):
                issues.append(
                    data_issue(
                        "reading", "每条读数必须是对象", "each reading must be an object", row=row_number
                    )
                )
                continue
            for name in sorted(set(reading) - INGEST_KEYS):
                issues.append(data_issue(name, f"未知字段 {name}", f"unknown field {name}", row=row_number))
            parsed, found = parse_entry(
                context, reading, row=row_number, allow_month=False, period_key="period_start"
            )
            issues += found
            if parsed is None:
                continue
            assert parsed.source.id is not None
            source_id, code, moment = parsed.source.id, parsed.source.code, parsed.period_start
            row = (
                source_id,
                to_db(moment),
                parsed.quantity_micro,
                parsed.tier,
                parsed.evidence_sha256,
                parsed.note,
            )
        key = (source_id, moment)
        first = seen.setdefault(key, row_number)
        if first != row_number:
            issues.append(
                data_issue(
                    "period_start",
                    f"与第 {first} 条读数的排放源和时间相同",
                    f"same source and time as reading {first}",
                    row=row_number,
                )
            )
            continue
        out.sources.add(code)
        rows.append(row)
        keys.append(key)
    if not readings:
        issues.append(data_issue("readings", "没有任何读数", "there are no readings"))
    return out


def _stored_duplicates(
    connection: sa.Connection, *, org_id: int, keys: Sequence[tuple[int, datetime]]
) -> list[DataIssue]:
    """Readings whose (source, period_start) is already stored: one query over the request's sources
    and time span. Only called when every reading was valid, so positions are reading numbers."""
    if not keys:
        return []
    starts = [moment for _, moment in keys]
    stored = {
        (source_id, as_utc(moment))
        for source_id, moment in connection.execute(
            sa.select(_readings.c.source_id, _readings.c.period_start).where(
                _readings.c.org_id == org_id,
                _readings.c.source_id.in_(sorted({source_id for source_id, _ in keys})),
                _readings.c.period_start >= min(starts),
                _readings.c.period_start <= max(starts),
            )
        )
    }
    if not stored:
        return []
    return [
        data_issue(
            "period_start",
            f"该排放源在 {utc_iso(key[1])} 已有读数",
            f"the source already has a reading at {utc_iso(key[1])}",
            row=position,
        )
        for position, key in enumerate(keys, start=1)
        if key in stored
    ]
