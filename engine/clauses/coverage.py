"""The clause-coverage map: for each clause and year, the records that show the clause is run, the
evidence they carry, and a status — covered, stale (the clause's cycle has lapsed or its records are
overdue) or missing — that degrades by itself as time passes. Records are read from the record table in
one light query per call; only the drill-down reads a record's data for its evidence files."""

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlmodel import Session, col

from engine.clauses.library import Clause, clause_library, falls_under
from engine.clauses.scores import ClauseScore, latest_scores
from engine.forms.spec import FieldType, Text
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
class ClauseCoverage:
    clause: Clause
    year: int
    status: CoverageStatus
    reasons: tuple[Text, ...]
    records: tuple[ClauseRecord, ...]
    last_activity: date | None
    overdue: int
    score: ClauseScore | None = None
    applies: bool | None = None  # the statement of applicability's answer, when there is one


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
    start = datetime(first_year, 1, 1, tzinfo=CHINA_TIME)
    end = datetime(last_year + 1, 1, 1, tzinfo=CHINA_TIME)
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


def _judge(
    clause: Clause, year: int, records: Sequence[ClauseRecord], *, today: date
) -> tuple[CoverageStatus, tuple[Text, ...], date | None, int]:
    """Covered, stale or missing, and why: the clause's cycle against its latest activity up to the end
    of the year (or today), and its records overdue on that day."""
    as_of = min(today, date(year, 12, 31))
    if not records:
        return (
            CoverageStatus.missing,
            (Text(zh=f"{year} 年没有该条款的记录", en=f"No record of this clause in {year}"),),
            None,
            0,
        )
    last = max(min(record.updated_on, as_of) for record in records)
    overdue = sum(record.overdue_on(as_of) for record in records)
    reasons = []
    if clause.cycle_months and add_months(last, clause.cycle_months) < as_of:
        reasons.append(
            Text(
                zh=f"最近一次记录于 {last.isoformat()}，已超过 {clause.cycle_months} 个月的周期",
                en=f"Last recorded on {last.isoformat()}, beyond its {clause.cycle_months}-month cycle",
            )
        )
    if overdue:
        reasons.append(Text(zh=f"{overdue} 条记录逾期未办", en=f"{overdue} record(s) overdue"))
    status = CoverageStatus.stale if reasons else CoverageStatus.covered
    return status, tuple(reasons), last, overdue


def coverage_map(
    session: Session,
    *,
    catalog: WorkflowCatalog,
    years: Sequence[int],
    today: date,
    applicability: Mapping[str, Applicability] | None = None,
) -> CoverageMap:
    """Every clause of the library for each of ``years`` (none after ``today``'s year)."""
    years = tuple(sorted(year for year in set(years) if year <= today.year))
    result = CoverageMap(years=years, today=today)
    if not years:
        return result
    records = clause_records(session, catalog=catalog, first_year=years[0], last_year=years[-1])
    by_clause: dict[str, list[ClauseRecord]] = defaultdict(list)
    library = clause_library()
    placed: dict[tuple[str, ...], list[str]] = {}  # a clause list → the library's clauses it shows
    for record in records:
        if record.clause_refs not in placed:
            placed[record.clause_refs] = [
                clause.number
                for clause in library
                if any(
                    falls_under(ref, shown) for ref in record.clause_refs for shown in clause.shown_through
                )
            ]
        for number in placed[record.clause_refs]:
            by_clause[number].append(record)
    applicability = applicability or {}
    for year in years:
        scores = latest_scores(session, until=min(today, date(year, 12, 31)))
        for clause in library:
            statement = applicability.get(clause.number)
            active = tuple(r for r in by_clause[clause.number] if r.active_in(year))
            if statement is not None and not statement.applies:
                reason = Text(zh=statement.justification, en=statement.justification)
                judged: tuple[CoverageStatus, tuple[Text, ...], date | None, int] = (
                    CoverageStatus.not_applicable,
                    (reason,),
                    None,
                    0,
                )
            else:
                judged = _judge(clause, year, active, today=today)
            status, reasons, last, overdue = judged
            result.cells[(clause.number, year)] = ClauseCoverage(
                clause=clause,
                year=year,
                status=status,
                reasons=reasons,
                records=active,
                last_activity=last,
                overdue=overdue,
                score=scores.get(clause.number),
                applies=None if statement is None else statement.applies,
            )
    return result


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
