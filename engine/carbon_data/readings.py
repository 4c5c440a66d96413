"""Activity readings: the one audited write path of monthly entries and meter rows (validate every row, then
one executemany insert or update in the clustered key's order)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.carbon_data.errors import BadValue, DataIssue, EmissionsDataError, data_issue
from engine.carbon_data.events import MonthDataChanged
from engine.carbon_data.models import (
    ActivityReading,
    BatchKind,
    DataTier,
    EmissionSource,
    ReadingBatch,
    from_micro,
    reading_insert_table,
)
from engine.carbon_data.parsing import (
    NEGATIVE_ALLOWED,
    as_utc,
    local_months,
    micro_quantity,
    parse_instant,
    parse_note,
    parse_sha256,
    parse_tier,
    period_label,
)
from engine.carbon_data.sources import ReadingContext
from engine.carbon_data.versions import bump_for_periods
from engine.emissions.rounding import plain
from engine.events import announce
from engine.models.base import table_of, utc_iso

_batches = table_of(ReadingBatch)


# ---------------------------------------------------------------- manual readings


@dataclass(frozen=True, slots=True)
class ParsedReading:
    source: EmissionSource
    period_start: datetime  # UTC
    quantity_micro: int
    tier: str
    evidence_sha256: str | None
    note: str | None

    @property
    def quantity(self) -> Decimal:
        return from_micro(self.quantity_micro)

    def insert_row(self, to_db: Any) -> "InsertRow":
        assert self.source.id is not None
        return (
            self.source.id,
            to_db(self.period_start),
            self.quantity_micro,
            self.tier,
            self.evidence_sha256,
            self.note,
        )


@dataclass(frozen=True, slots=True)
class RecordedReading:
    source_id: int
    period_start: datetime
    quantity: Decimal
    action: str  # created | updated | unchanged


def parse_entry(
    context: ReadingContext, entry: Mapping[str, Any], *, row: int, allow_month: bool, period_key: str
) -> tuple[ParsedReading | None, list[DataIssue]]:
    issues: list[DataIssue] = []
    source = None
    try:
        source = context.source(source_id=entry.get("source_id"), source_code=entry.get("source_code"))
    except BadValue as bad:
        issues.append(
            data_issue("source_id" if "source_id" in entry else "source_code", bad.zh, bad.en, row=row)
        )
    moment = None
    try:
        moment = parse_instant(entry.get(period_key), allow_month=allow_month)
    except BadValue as bad:
        issues.append(data_issue(period_key, bad.zh, bad.en, row=row))
    micro = tier = sha = note = None
    factor = None
    if source is not None:
        try:
            factor = context.unit_factor(source, entry.get("unit"))
        except BadValue as bad:
            issues.append(data_issue("unit", bad.zh, bad.en, row=row))
    try:
        negative_ok = source is not None and source.category in NEGATIVE_ALLOWED
        micro = micro_quantity(entry.get("quantity"), factor=factor, negative_ok=negative_ok)
    except BadValue as bad:
        issues.append(data_issue("quantity", bad.zh, bad.en, row=row))
    try:
        tier = parse_tier(entry.get("tier"), default=source.tier if source else DataTier.statistical)
    except BadValue as bad:
        issues.append(data_issue("tier", bad.zh, bad.en, row=row))
    try:
        sha = parse_sha256(entry.get("evidence_sha256"))
    except BadValue as bad:
        issues.append(data_issue("evidence_sha256", bad.zh, bad.en, row=row))
    try:
        note = parse_note(entry.get("note"))
    except BadValue as bad:
        issues.append(data_issue("note", bad.zh, bad.en, row=row))
    if issues or source is None or moment is None or micro is None or tier is None:
        return None, issues
    return ParsedReading(source, moment, micro, tier, sha, note), []


MANUAL_KEYS = frozenset(
    {"source_id", "source_code", "period", "quantity", "unit", "tier", "evidence_sha256", "note"}
)


def record_readings(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    entries: Sequence[Mapping[str, Any]],
    reason: str = "",
) -> list[RecordedReading]:
    """Manual entry, typically one value per source and month: ``period`` is 'YYYY-MM' (or a
    timestamp), ``quantity`` in the source's unit or in ``unit`` (converted when compatible).

    An entry for a (source, period) that already has a reading corrects it (audited old → new).
    All entries are validated first; nothing is written when any is wrong. The changed months are
    announced (:class:`MonthDataChanged`, with ``reason``) so that the processes governing them act."""
    context = ReadingContext(session, org_id=org_id)
    parsed: list[ParsedReading] = []
    issues: list[DataIssue] = []
    seen: dict[tuple[int, datetime], int] = {}
    for row, entry in enumerate(entries, start=1):
        for key in sorted(set(entry) - MANUAL_KEYS):
            issues.append(data_issue(key, f"未知字段 {key}", f"unknown field {key}", row=row))
        reading, found = parse_entry(context, entry, row=row, allow_month=True, period_key="period")
        issues += found
        if reading is None:
            continue
        assert reading.source.id is not None
        at = (reading.source.id, reading.period_start)
        if at in seen:
            issues.append(
                data_issue("period", f"与第 {seen[at]} 行重复", f"duplicates row {seen[at]}", row=row)
            )
            continue
        seen[at] = row
        parsed.append(reading)
    if not entries:
        issues.append(data_issue("entries", "没有任何读数", "there are no readings"))
    if issues:
        raise EmissionsDataError(issues)
    connection = session.connection()
    batch = new_batch(
        session, org_id=org_id, kind=BatchKind.manual, label="manual", actor=actor, rows=len(parsed)
    )
    assert batch.id is not None
    existing = existing_readings(connection, org_id=org_id, readings=parsed)
    results: list[RecordedReading] = []
    inserts: list[InsertRow] = []
    to_db = db_instant(connection.dialect.name)
    for reading in parsed:
        assert reading.source.id is not None
        old = existing.get((reading.source.id, reading.period_start))
        subject = f"{reading.source.id}@{utc_iso(reading.period_start)}"
        if old is None:
            inserts.append(reading.insert_row(to_db))
            changes = {
                "source": [None, reading.source.code],
                "period": [None, period_label(reading.period_start)],
                "period_start": [None, utc_iso(reading.period_start)],
                "quantity": [None, plain(reading.quantity)],
                "unit": [None, reading.source.unit],
                "tier": [None, reading.tier],
            }
            if reading.evidence_sha256:
                changes["evidence_sha256"] = [None, reading.evidence_sha256]
            append_event(
                session,
                org_id=org_id,
                actor=actor,
                subject_type="activity_reading",
                subject_id=subject,
                action="created",
                changes=changes,
            )
            results.append(
                RecordedReading(reading.source.id, reading.period_start, reading.quantity, "created")
            )
            continue
        new = {
            "quantity": reading.quantity_micro,
            "tier": reading.tier,
            "evidence_sha256": reading.evidence_sha256,
            "note": reading.note,
        }
        diff = {name: [old[name], value] for name, value in new.items() if old[name] != value}
        if not diff:
            results.append(
                RecordedReading(reading.source.id, reading.period_start, reading.quantity, "unchanged")
            )
            continue
        connection.execute(
            sa.update(reading_insert_table)
            .where(
                reading_insert_table.c.org_id == org_id,
                reading_insert_table.c.source_id == reading.source.id,
                reading_insert_table.c.period_start == reading.period_start,
            )
            .values(**new, entered_by=actor.id, batch_id=batch.id)
        )
        if "quantity" in diff:
            diff["quantity"] = [plain(from_micro(diff["quantity"][0])), plain(reading.quantity)]
        append_event(
            session,
            org_id=org_id,
            actor=actor,
            subject_type="activity_reading",
            subject_id=subject,
            action="corrected",
            changes=diff,
            reason=reason.strip() or None,  # why the value changed, on the correction itself (T01)
        )
        results.append(RecordedReading(reading.source.id, reading.period_start, reading.quantity, "updated"))
    insert_rows(connection, org_id=org_id, entered_by=actor.id, batch_id=batch.id, rows=inserts)
    finish_batch(
        connection,
        batch_id=batch.id,
        inserted=len(inserts),
        updated=sum(1 for item in results if item.action == "updated"),
    )
    if results:
        periods = frozenset(local_months(item.period_start for item in results))
        bump_for_periods(session, org_id=org_id, periods=periods)
        announce(session, MonthDataChanged(org_id=org_id, periods=periods, actor=actor, reason=reason))
    return results


def record_reading(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    source_id: int,
    period: str | datetime,
    quantity: Decimal | int | float | str,
    unit: str | None = None,
    tier: str | None = None,
    evidence_sha256: str | None = None,
    note: str | None = None,
    reason: str = "",
) -> RecordedReading:
    """One manual reading (see :func:`record_readings`); errors carry row 1."""
    entry = {
        "source_id": source_id,
        "period": period,
        "quantity": quantity,
        "unit": unit,
        "tier": tier,
        "evidence_sha256": evidence_sha256,
        "note": note,
    }
    return record_readings(session, org_id=org_id, actor=actor, entries=[entry], reason=reason)[0]


def existing_readings(
    connection: sa.Connection, *, org_id: int, readings: Sequence[ParsedReading]
) -> dict[tuple[int, datetime], dict[str, Any]]:
    """Stored readings at the (source, start) keys of ``readings``: one range query per source."""
    spans: dict[int, tuple[datetime, datetime]] = {}
    for reading in readings:
        assert reading.source.id is not None
        low, high = spans.get(reading.source.id, (reading.period_start, reading.period_start))
        spans[reading.source.id] = (min(low, reading.period_start), max(high, reading.period_start))
    wanted = {(reading.source.id, reading.period_start) for reading in readings}
    found: dict[tuple[int, datetime], dict[str, Any]] = {}
    for source_id, (low, high) in spans.items():
        rows = connection.execute(
            sa.select(
                reading_insert_table.c.period_start,
                reading_insert_table.c.quantity,
                reading_insert_table.c.tier,
                reading_insert_table.c.evidence_sha256,
                reading_insert_table.c.note,
            ).where(
                reading_insert_table.c.org_id == org_id,
                reading_insert_table.c.source_id == source_id,
                reading_insert_table.c.period_start >= low,
                reading_insert_table.c.period_start <= high,
            )
        )
        for period_start, quantity, tier, sha, note in rows:
            key = (source_id, as_utc(period_start))
            if key in wanted:
                found[key] = {"quantity": int(quantity), "tier": tier, "evidence_sha256": sha, "note": note}
    return found


def new_batch(
    session: Session,
    *,
    org_id: int,
    kind: BatchKind,
    label: str,
    actor: Actor,
    rows: int,
    sha256: str | None = None,
) -> ReadingBatch:
    batch = ReadingBatch(
        org_id=org_id, kind=kind.value, label=label[:255], sha256=sha256, rows=rows, created_by=actor.id
    )
    session.add(batch)
    session.flush()
    return batch


def finish_batch(connection: sa.Connection, *, batch_id: int, inserted: int, updated: int) -> None:
    connection.execute(
        sa.update(_batches).where(_batches.c.id == batch_id).values(inserted=inserted, updated=updated)
    )


def list_readings(
    session: Session, *, org_id: int, source_id: int, start: datetime, end: datetime, limit: int = 10_000
) -> list[ActivityReading]:
    """Readings of one source with ``start <= period_start < end``, oldest first."""
    return list(
        session.exec(
            select(ActivityReading)
            .where(
                ActivityReading.org_id == org_id,
                ActivityReading.source_id == source_id,
                ActivityReading.period_start >= as_utc(start),
                ActivityReading.period_start < as_utc(end),
            )
            .order_by(col(ActivityReading.period_start))
            .limit(limit)
        ).all()
    )


# A row for insert_rows: (source_id, period_start as the driver takes it, micro-units, tier,
# evidence_sha256, note).
InsertRow = tuple[int, Any, int, str, str | None, str | None]


def db_instant(dialect: str) -> Any:
    """How the driver takes a UTC instant for ``activity_reading.period_start``: on SQLite the text
    SQLAlchemy's DateTime stores ('YYYY-MM-DD HH:MM:SS.ffffff', UTC), on PostgreSQL the datetime."""
    if dialect == "sqlite":
        return lambda moment: moment.replace(tzinfo=None).isoformat(" ", "microseconds")
    return lambda moment: moment


def _cluster_key(row: InsertRow) -> tuple[int, Any]:
    return row[0], row[1]  # (source_id, period_start): the clustered key after org_id


def insert_rows(
    connection: sa.Connection,
    *,
    org_id: int,
    entered_by: int | None,
    batch_id: int | None,
    rows: Sequence[InsertRow],
) -> None:
    """One executemany INSERT of validated readings on the session's connection.

    The statement goes to the driver as text (``exec_driver_sql``) with tuples: SQLAlchemy's per-row
    parameter processing for a compiled insert costs about 4 µs a row, which is as much as the
    driver's own insert. The constant columns are integer literals (never user text)."""
    if not rows:
        return
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    constants = [str(int(org_id)), "NULL" if entered_by is None else str(int(entered_by))]
    constants.append("NULL" if batch_id is None else str(int(batch_id)))
    connection.exec_driver_sql(
        "INSERT INTO activity_reading (source_id, period_start, quantity, tier, evidence_sha256, note, "
        f"org_id, entered_by, batch_id) VALUES ({', '.join([mark] * 6)}, {', '.join(constants)})",
        sorted(rows, key=_cluster_key),  # in the table's key order: B-tree appends, not page splits
    )
