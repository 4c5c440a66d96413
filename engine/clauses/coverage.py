"""The clause-coverage map: for each clause and year, the records that show the clause is run, the
evidence they carry, and a status — covered, stale (the clause's cycle has lapsed or its records are
overdue) or missing — that degrades by itself as time passes. Records are read from the record table in
one light query per call; only the drill-down reads a record's data for its evidence files."""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlmodel import Session, col

from engine.clauses.library import Clause, clause_library, falls_under
from engine.clauses.scores import ClauseScore, latest_scores
from engine.evidence.models import EvidenceFile, EvidenceLink
from engine.forms.spec import FieldType, Text
from engine.models.base import table_of
from engine.records.display import CHINA_TIME
from engine.records.timeline import referenced_ids
from engine.scheduler.starts import add_months
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.models import Record


class CoverageStatus(StrEnum):
    covered = "covered"
    stale = "stale"
    missing = "missing"
    not_applicable = "not_applicable"


STATUS_LABELS = {
    CoverageStatus.covered: Text(zh="已覆盖", en="Covered"),
    CoverageStatus.stale: Text(zh="证据过期或周期逾期", en="Evidence stale or cycle overdue"),
    CoverageStatus.missing: Text(zh="缺少证据", en="Missing"),
    CoverageStatus.not_applicable: Text(zh="不适用", en="Not applicable"),
}


@dataclass(frozen=True)
class ClauseRecord:
    """A record as the map sees it: enough to place it in a year and judge it."""

    id: int
    workflow_key: str
    number: str
    title: str
    state: str
    final: bool
    clause_refs: tuple[str, ...]
    created_on: date
    updated_on: date
    closed_on: date | None
    due_date: date | None

    def active_in(self, year: int) -> bool:
        return self.created_on.year <= year and (self.closed_on is None or self.closed_on.year >= year)

    def overdue_on(self, day: date) -> bool:
        return not self.final and self.due_date is not None and self.due_date < day


@dataclass(frozen=True)
class ExpiredEvidence:
    """An evidence file a record of the clause names whose item (its current version) has expired."""

    evidence_id: int
    filename: str
    valid_until: date
    record_number: str


@dataclass(frozen=True)
class ClauseCoverage:
    clause: Clause
    year: int
    status: CoverageStatus
    reasons: tuple[Text, ...]
    count: int  # records alive in the year
    records: tuple[ClauseRecord, ...]  # the records themselves: only in a drill-down (clause_coverage)
    last_activity: date | None
    overdue: int
    score: ClauseScore | None = None
    applies: bool | None = None  # the statement of applicability's answer, when there is one
    expired: tuple[ExpiredEvidence, ...] = ()  # only in a drill-down


@dataclass(frozen=True)
class Applicability:
    applies: bool
    justification: str = ""
    implementation: str = ""


@dataclass
class CoverageMap:
    years: tuple[int, ...]
    today: date
    cells: dict[tuple[str, int], ClauseCoverage] = field(default_factory=dict)

    def cell(self, clause: str, year: int) -> ClauseCoverage:
        return self.cells[(clause, year)]

    def score_total(self, year: int) -> tuple[Decimal, Decimal, int] | None:
        """The whole system's self-assessment: points and maximum over the clauses scored, and how many."""
        scored = [c.score for (_, y), c in self.cells.items() if y == year and c.score is not None]
        if not scored:
            return None
        return (
            sum((s.points for s in scored), Decimal(0)),
            sum((s.max_points for s in scored), Decimal(0)),
            len(scored),
        )

    def counts(self, year: int) -> dict[CoverageStatus, int]:
        tally = dict.fromkeys(CoverageStatus, 0)
        for (_, cell_year), cell in self.cells.items():
            if cell_year == year:
                tally[cell.status] += 1
        return tally


_CHINA_OFFSET = timedelta(hours=8)  # China has kept UTC+8 all year since 1991: no zone lookup per row


def _day(moment: datetime | None) -> date | None:
    """The China day of a stored moment (SQLite hands back naive UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment + _CHINA_OFFSET).date()


def _utc_bounds(first_year: int, last_year: int) -> tuple[datetime, datetime]:
    """The start of ``first_year`` and the end of ``last_year`` in China, as UTC moments (stored times are
    UTC, and SQLite compares them as text)."""
    start = datetime(first_year, 1, 1, tzinfo=CHINA_TIME).astimezone(UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=CHINA_TIME).astimezone(UTC)
    return start, end


def _final_states(catalog: WorkflowCatalog) -> set[tuple[str, str]]:
    return {
        (w.key, name)
        for w in catalog.current.values()
        for name, state in w.spec.states.items()
        if state.final
    }


def clause_records(
    session: Session, *, catalog: WorkflowCatalog, first_year: int, last_year: int
) -> list[ClauseRecord]:
    """The organization's records alive at some time in ``first_year`` … ``last_year`` (one light query)."""
    final = _final_states(catalog)
    start, end = _utc_bounds(first_year, last_year)
    rows = session.execute(
        select(
            col(Record.id),
            col(Record.workflow_key),
            col(Record.number),
            col(Record.title),
            col(Record.state),
            sa.cast(col(Record.clause_refs), sa.Text),  # parsed once per distinct list below
            col(Record.created_at),
            col(Record.updated_at),
            col(Record.closed_at),
            col(Record.due_date),
        ).where(
            col(Record.created_at) < end,
            (col(Record.closed_at).is_(None)) | (col(Record.closed_at) >= start),
        )
    ).all()
    records = []
    parsed: dict[str | None, tuple[str, ...]] = {}
    for id_, key, number, title, state, refs, created, updated, closed, due in rows:
        if refs not in parsed:
            loaded = json.loads(refs) if refs else []
            parsed[refs] = tuple(str(ref) for ref in loaded) if isinstance(loaded, list) else ()
        created_on, updated_on = _day(created), _day(updated)
        assert created_on is not None and updated_on is not None
        records.append(
            ClauseRecord(
                id=id_,
                workflow_key=key,
                number=number,
                title=title,
                state=state,
                final=(key, state) in final,
                clause_refs=parsed[refs],
                created_on=created_on,
                updated_on=updated_on,
                closed_on=_day(closed),
                due_date=due,
            )
        )
    return records


def first_record_year(session: Session) -> int | None:
    """The year of the organization's first record: the map starts there, not before the system ran."""
    first = _day(session.execute(select(func.min(col(Record.created_at)))).scalar())
    return first.year if first else None


@dataclass
class _Tally:
    """A clause's records alive in a year: how many, the latest write, how many are overdue."""

    count: int = 0
    last_write: date | None = None
    overdue: int = 0
    expired: int = 0  # evidence files named by those records that have expired
    expired_last: date | None = None  # the latest end of validity among them

    def add(self, *, count: int, last_write: date | None, overdue: int) -> None:
        self.count += count
        self.overdue += overdue
        if last_write is not None and (self.last_write is None or last_write > self.last_write):
            self.last_write = last_write

    def add_expired(self, count: int, until: date | None) -> None:
        self.expired += count
        if until is not None and (self.expired_last is None or until > self.expired_last):
            self.expired_last = until


def _judge(
    clause: Clause, year: int, tally: _Tally, *, today: date
) -> tuple[CoverageStatus, tuple[Text, ...], date | None]:
    """Covered, stale or missing, and why: the clause's cycle against its latest activity up to the end
    of the year (or today), and its records overdue on that day."""
    as_of = min(today, date(year, 12, 31))
    if not tally.count or tally.last_write is None:
        return (
            CoverageStatus.missing,
            (Text(zh=f"{year} 年没有该条款的记录", en=f"No record of this clause in {year}"),),
            None,
        )
    last = min(tally.last_write, as_of)
    reasons = []
    if clause.cycle_months and add_months(last, clause.cycle_months) < as_of:
        reasons.append(
            Text(
                zh=f"最近一次记录于 {last.isoformat()}，已超过 {clause.cycle_months} 个月的周期",
                en=f"Last recorded on {last.isoformat()}, beyond its {clause.cycle_months}-month cycle",
            )
        )
    if tally.overdue:
        reasons.append(Text(zh=f"{tally.overdue} 条记录逾期未办", en=f"{tally.overdue} record(s) overdue"))
    if tally.expired and tally.expired_last is not None:
        until = tally.expired_last.isoformat()
        reasons.append(
            Text(
                zh=f"{tally.expired} 份证据已过期（最近一份有效期至 {until}）",
                en=f"{tally.expired} evidence file(s) expired (the latest valid until {until})",
            )
        )
    return (CoverageStatus.stale if reasons else CoverageStatus.covered), tuple(reasons), last


def _as_day(value: object) -> date | None:
    """A moment from an aggregate: a datetime, or SQLite's text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _day(value) if isinstance(value, datetime) else None


def _tallies(
    session: Session, *, catalog: WorkflowCatalog, years: tuple[int, ...], today: date
) -> dict[tuple[str, ...], dict[int, _Tally]]:
    """Per clause list and year, the records alive, their latest write and the overdue ones — counted by
    the database in one grouped query (a few hundred rows, whatever the number of records)."""
    refs = sa.cast(col(Record.clause_refs), sa.Text)
    columns: list[Any] = [refs, col(Record.workflow_key), col(Record.state)]
    for year in years:
        start, end = _utc_bounds(year, year)
        alive = sa.and_(
            col(Record.created_at) < end,
            sa.or_(col(Record.closed_at).is_(None), col(Record.closed_at) >= start),
        )
        overdue = sa.and_(alive, col(Record.due_date) < min(today, date(year, 12, 31)))
        columns += [
            func.sum(sa.case((alive, 1), else_=0)),
            func.max(sa.case((alive, col(Record.updated_at)), else_=None)),
            func.sum(sa.case((overdue, 1), else_=0)),
        ]
    first, last = _utc_bounds(years[0], years[-1])
    query = (
        select(*columns)
        .where(
            col(Record.created_at) < last,
            sa.or_(col(Record.closed_at).is_(None), col(Record.closed_at) >= first),
        )
        .group_by(refs, col(Record.workflow_key), col(Record.state))
    )
    final = _final_states(catalog)
    tallies: dict[tuple[str, ...], dict[int, _Tally]] = {}
    for row in session.execute(query).all():
        loaded = json.loads(row[0]) if row[0] else []
        clause_list = tuple(str(ref) for ref in loaded) if isinstance(loaded, list) else ()
        per_year = tallies.setdefault(clause_list, {year: _Tally() for year in years})
        is_final = (row[1], row[2]) in final
        for index, year in enumerate(years):
            count, last_write, overdue = row[3 + 3 * index : 6 + 3 * index]
            per_year[year].add(
                count=int(count or 0),
                last_write=_as_day(last_write),
                overdue=0 if is_final else int(overdue or 0),
            )
    return tallies


def _expired_query(as_of: date) -> Any:
    """Links from records to evidence whose item's current version ended before ``as_of`` (a superseded
    version is judged by the version that replaced it; withdrawn versions are not evidence)."""
    # Core aliases: the organization comes from the link (the ORM's tenant filter), the files must match it.
    linked = table_of(EvidenceFile).alias("linked")
    current = table_of(EvidenceFile).alias("current_version")
    query = (
        select(col(EvidenceLink.record_id))
        .join(
            linked,
            sa.and_(
                linked.c.id == col(EvidenceLink.evidence_id), linked.c.org_id == col(EvidenceLink.org_id)
            ),
        )
        .join(
            current,
            sa.and_(
                current.c.item_id == linked.c.item_id,  # a row id: one organization's already
                current.c.superseded_at.is_(None),
                current.c.withdrawn_at.is_(None),
            ),
        )
        .join(Record, col(Record.id) == col(EvidenceLink.record_id))
        .where(current.c.valid_until < as_of)
    )
    return query, current.c


def _expired_tallies(
    session: Session, *, years: tuple[int, ...], today: date
) -> dict[tuple[str, ...], dict[int, tuple[int, date | None]]]:
    """Per clause list and year: how many links of records alive in the year name evidence expired by the
    year's end (or today), and the latest end of validity among them — one grouped query."""
    query, current = _expired_query(today)
    refs = sa.cast(col(Record.clause_refs), sa.Text)
    columns: list[Any] = [refs]
    for year in years:
        start, end = _utc_bounds(year, year)
        expired = sa.and_(
            col(Record.created_at) < end,
            sa.or_(col(Record.closed_at).is_(None), col(Record.closed_at) >= start),
            current.valid_until < min(today, date(year, 12, 31)),
        )
        columns += [
            func.sum(sa.case((expired, 1), else_=0)),
            func.max(sa.case((expired, current.valid_until), else_=None)),
        ]
    rows = session.execute(query.with_only_columns(*columns).group_by(refs)).all()
    found: dict[tuple[str, ...], dict[int, tuple[int, date | None]]] = {}
    for row in rows:
        loaded = json.loads(row[0]) if row[0] else []
        clause_list = tuple(str(ref) for ref in loaded) if isinstance(loaded, list) else ()
        found[clause_list] = {
            year: (int(row[1 + 2 * i] or 0), _as_date(row[2 + 2 * i])) for i, year in enumerate(years)
        }
    return found


def _as_date(value: object) -> date | None:
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value if isinstance(value, date) else None


def expired_evidence(
    session: Session, *, record_ids: Sequence[int], as_of: date
) -> tuple[ExpiredEvidence, ...]:
    """The drill-down's list: which evidence of these records had expired by ``as_of``, and when."""
    if not record_ids:
        return ()
    query, current = _expired_query(as_of)
    rows = session.execute(
        query.with_only_columns(current.id, current.filename, current.valid_until, col(Record.number))
        .where(col(EvidenceLink.record_id).in_(list(record_ids)))
        .distinct()
    ).all()
    return tuple(
        sorted(
            (
                ExpiredEvidence(id_, name, _as_date(until) or as_of, number)
                for id_, name, until, number in rows
            ),
            key=lambda e: (e.valid_until, e.filename, e.record_number),
        )
    )


def _placed(clause_list: tuple[str, ...], library: tuple[Clause, ...]) -> list[str]:
    """The library's clauses a record with this clause list shows are run."""
    return [
        clause.number
        for clause in library
        if any(falls_under(ref, shown) for ref in clause_list for shown in clause.shown_through)
    ]


def coverage_map(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    years: Sequence[int],
    today: date,
    applicability: Mapping[str, Applicability] | None = None,
) -> CoverageMap:
    """Every clause of the library for each of ``years`` (none after ``today``'s year): counts and
    statuses, without the records themselves (``clause_coverage`` lists those for one clause)."""
    years = tuple(sorted(year for year in set(years) if year <= today.year))
    result = CoverageMap(years=years, today=today)
    if not years:
        return result
    library = clause_library()
    by_clause: dict[str, dict[int, _Tally]] = {c.number: {year: _Tally() for year in years} for c in library}
    for clause_list, per_year in _tallies(session, catalog=catalog, years=years, today=today).items():
        for number in _placed(clause_list, library):
            for year, tally in per_year.items():
                by_clause[number][year].add(
                    count=tally.count, last_write=tally.last_write, overdue=tally.overdue
                )
    for clause_list, expired in _expired_tallies(session, years=years, today=today).items():
        for number in _placed(clause_list, library):
            for year, (count, until) in expired.items():
                by_clause[number][year].add_expired(count, until)
    for year in years:
        scores = latest_scores(session, until=min(today, date(year, 12, 31)))
        for clause in library:
            result.cells[(clause.number, year)] = _cell(
                clause, year, by_clause[clause.number][year], (), today=today,
                statement=(applicability or {}).get(clause.number), score=scores.get(clause.number),
            )  # fmt: skip
    return result


def _cell(
    clause: Clause,
    year: int,
    tally: _Tally,
    records: tuple[ClauseRecord, ...],
    *,
    today: date,
    statement: Applicability | None,
    score: ClauseScore | None,
) -> ClauseCoverage:
    judged: tuple[CoverageStatus, tuple[Text, ...], date | None]
    if statement is not None and not statement.applies:
        reason = Text(zh=statement.justification, en=statement.justification)
        judged = CoverageStatus.not_applicable, (reason,), None
    else:
        judged = _judge(clause, year, tally, today=today)
    status, reasons, last = judged
    return ClauseCoverage(
        clause=clause,
        year=year,
        status=status,
        reasons=reasons,
        count=tally.count,
        records=records,
        last_activity=last,
        overdue=tally.overdue,
        score=score,
        applies=None if statement is None else statement.applies,
    )


def clause_coverage(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    clause: Clause,
    year: int,
    today: date,
    applicability: Applicability | None = None,
) -> ClauseCoverage:
    """One clause in one year, with its records (the drill-down): judged as the map judges it."""
    year = min(year, today.year)
    records = tuple(
        record
        for record in clause_records(session, catalog=catalog, first_year=year, last_year=year)
        if clause.number in _placed(record.clause_refs, (clause,)) and record.active_in(year)
    )
    as_of = min(today, date(year, 12, 31))
    tally = _Tally()
    for record in records:
        tally.add(count=1, last_write=record.updated_on, overdue=int(record.overdue_on(as_of)))
    expired = expired_evidence(session, record_ids=[r.id for r in records], as_of=as_of)
    tally.add_expired(len(expired), max((e.valid_until for e in expired), default=None))
    scores = latest_scores(session, until=as_of)
    cell = _cell(
        clause, year, tally, records, today=today, statement=applicability, score=scores.get(clause.number)
    )
    return replace(cell, expired=expired)


def evidence_of(
    session: Session, *, catalog: WorkflowCatalog, record_ids: Iterable[int]
) -> dict[int, set[int]]:
    """The evidence files each record's data names (the drill-down's evidence column)."""
    wanted = sorted(set(record_ids))
    if not wanted:
        return {}
    found: dict[int, set[int]] = {}
    for record in session.scalars(select(Record).where(col(Record.id).in_(wanted))).all():
        workflow = catalog.get(record.workflow_key)
        if workflow is None or record.id is None:
            continue
        found[record.id] = referenced_ids((), workflow=workflow, data=record.data)[FieldType.evidence]
    return found
