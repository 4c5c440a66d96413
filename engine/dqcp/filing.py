"""The monthly evidence filing (月度信息化存证) the plan drives: for every row and every month that has ended,
the value and the row's proof are due 40 days after the month ends. Each (row, month) is one
``MonthlyFiling`` row holding its task, its proof and any value substituted under the row's missing-data
rule. The board reads them with the month values; the 8.6 batch of a month asks for its gaps."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.dqcp.models import MonthlyFiling
from engine.dqcp.plan import Plan, PlanRow
from engine.dqcp.values import MonthValues, month_values
from engine.forms.spec import Text
from engine.models.base import table_of, utcnow
from engine.workflow.models import Task

FILING_DAYS = 40  # MEE: the month's data and proofs are filed within 40 days after it ends
SUBJECT = "dqcp_filing"


class CellState(StrEnum):
    filed = "filed"  # value and proof
    substituted = "substituted"  # a gap filled under the row's missing-data rule, with a reason
    open = "open"  # the month has ended, the filing is not due yet
    overdue = "overdue"  # past its due date with a value or the proof missing
    future = "future"  # the month has not ended


@dataclass(frozen=True)
class Cell:
    row: PlanRow
    period: str
    state: CellState
    has_value: bool
    proof_evidence_id: int | None
    due: date
    substitution_rule: str | None = None


def month_end(period: str) -> date:
    year, month = int(period[:4]), int(period[5:7])
    first_of_next = date(year + (month == 12), month % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


def due_date_of(period: str) -> date:
    return month_end(period) + timedelta(days=FILING_DAYS)


def ended_months(plan: Plan, *, today: date, years_back: int = 1) -> list[str]:
    """The months the plan covers that have ended, from its effective date (at most ``years_back`` full
    years before this one) to last month."""
    start = plan.effective_from or date(today.year, 1, 1)
    start = max(start, date(today.year - years_back, 1, 1))
    months, year, month = [], start.year, start.month
    while (year, month) < (today.year, today.month):
        months.append(f"{year}-{month:02d}")
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return months


class FilingState(Protocol):
    """What a cell needs of its filing row (an ORM row or a plain result row)."""

    task_id: int | None
    proof_evidence_id: int | None
    substitution_rule: str | None


def _filings(session: Session, *, org_id: int, periods: list[str]) -> dict[tuple[str, str], Any]:
    """The filing rows of these months, as plain result rows (a sweep reads tens of thousands)."""
    if not periods:
        return {}
    table = table_of(MonthlyFiling)
    rows = session.execute(
        sa.select(
            table.c.id, table.c.row_code, table.c.period, table.c.task_id, table.c.proof_evidence_id,
            table.c.substitution_rule, table.c.due_date,
        ).where(table.c.org_id == org_id, table.c.period.in_(periods))
    ).all()  # fmt: skip
    return {(row.row_code, row.period): row for row in rows}


def _cell(row: PlanRow, period: str, filing: FilingState | None, values: MonthValues, today: date) -> Cell:
    has_value = (row.kind, row.subject, period) in values
    proof = filing.proof_evidence_id if filing else None
    substituted = filing.substitution_rule if filing else None
    due = due_date_of(period)
    if month_end(period) >= today:
        state = CellState.future
    elif has_value and substituted:
        state = CellState.substituted
    elif has_value and proof:
        state = CellState.filed
    else:
        state = CellState.overdue if today > due else CellState.open
    return Cell(row, period, state, has_value, proof, due, substituted)


def filing_board(session: Session, *, org_id: int, plan: Plan, year: int, today: date) -> list[list[Cell]]:
    """Row × month of ``year``: what is filed, what is open, what is overdue."""
    periods = [f"{year}-{month:02d}" for month in range(1, 13)]
    values = month_values(session, org_id=org_id, years=[year])
    filings = _filings(session, org_id=org_id, periods=periods)
    return [
        [_cell(row, period, filings.get((row.code, period)), values, today) for period in periods]
        for row in plan.monthly_rows
    ]


def month_gaps(session: Session, *, org_id: int, plan: Plan, period: str) -> list[Text]:
    """What the month still lacks — a value or a proof per row — as the 8.6 batch shows it."""
    if plan.effective_from and period < plan.effective_from.isoformat()[:7]:
        return []  # a month before the plan took effect is not held to it
    values = month_values(session, org_id=org_id, years=[int(period[:4])])
    filings = _filings(session, org_id=org_id, periods=[period])
    gaps = []
    for row in plan.monthly_rows:
        cell = _cell(row, period, filings.get((row.code, period)), values, today=date.max)
        if cell.state in (CellState.filed, CellState.substituted):
            continue
        lacking_zh = "、".join(
            ([] if cell.has_value else ["数值"]) + ([] if cell.proof_evidence_id else ["存证"])
        )
        lacking_en = " and ".join(
            ([] if cell.has_value else ["value"]) + ([] if cell.proof_evidence_id else ["proof"])
        )
        gaps.append(
            Text(
                zh=f"{row.parameter}（{row.code}）缺{lacking_zh}",
                en=f"{row.parameter} ({row.code}): no {lacking_en}",
            )
        )
    return gaps


def filing_of(session: Session, *, org_id: int, row: PlanRow, period: str) -> MonthlyFiling:
    found = session.exec(
        select(MonthlyFiling).where(MonthlyFiling.row_code == row.code, MonthlyFiling.period == period)
    ).first()
    if found is None:
        found = MonthlyFiling(org_id=org_id, row_code=row.code, period=period, due_date=due_date_of(period))
        session.add(found)
        session.flush()
    return found


def task_label(row: PlanRow, period: str) -> str:
    return f"{row.parameter} · {period} 月度存证"


def open_filing_tasks(session: Session, *, org_id: int, plan: Plan, today: date) -> list[Text]:
    """A task for each row's responsible person and each ended month not yet filed, due 40 days after the
    month; the task of a month that is now complete is closed. What was done, one line each. Written with
    a few set-based statements: a sweep may open tens of thousands at once."""
    done: list[Text] = []
    months = ended_months(plan, today=today)
    values = month_values(session, org_id=org_id, years={int(month[:4]) for month in months})
    filings = _filings(session, org_id=org_id, periods=months)
    tasks, filing_table = table_of(Task), table_of(MonthlyFiling)
    open_ids = set(
        session.execute(
            sa.select(tasks.c.id).where(
                tasks.c.org_id == org_id, tasks.c.record_id == plan.record_id, tasks.c.closed_at.is_(None)
            )
        ).scalars()
    )
    to_close: list[int] = []
    wanted: list[tuple[PlanRow, str, Any]] = []  # (row, month, its filing row or None)
    for row in plan.monthly_rows:
        for period in months:
            filing = filings.get((row.code, period))
            task_id = filing.task_id if filing is not None and filing.task_id in open_ids else None
            state = _cell(row, period, filing, values, today).state
            if state in (CellState.filed, CellState.substituted):
                if task_id is not None:
                    to_close.append(task_id)
                    done.append(
                        Text(zh=f"已完成：{task_label(row, period)}", en=f"filed: {row.parameter} {period}")
                    )
            elif task_id is None and row.responsible_id is not None:
                wanted.append((row, period, filing))
    now = utcnow()
    if to_close:
        session.execute(sa.update(tasks).where(tasks.c.id.in_(to_close)).values(closed_at=now))
    if not wanted:
        return done
    new_ids = session.execute(
        sa.insert(tasks).returning(tasks.c.id, sort_by_parameter_order=True),
        [
            {"org_id": org_id, "record_id": plan.record_id, "state": plan.state, "role": None,
             "assignee_id": row.responsible_id, "due_date": due_date_of(period),
             "detail": task_label(row, period), "opened_at": now}
            for row, period, _ in wanted
        ],
    ).scalars().all()  # fmt: skip
    fresh = [
        {"org_id": org_id, "row_code": row.code, "period": period, "due_date": due_date_of(period),
         "task_id": task_id, "created_at": now}
        for (row, period, filing), task_id in zip(wanted, new_ids, strict=True) if filing is None
    ]  # fmt: skip
    if fresh:
        session.execute(sa.insert(filing_table), fresh)
    for (_, _, filing), task_id in zip(wanted, new_ids, strict=True):
        if filing is not None:
            session.execute(
                sa.update(filing_table).where(filing_table.c.id == filing.id).values(task_id=task_id)
            )
    for row, period, _ in wanted:
        due = due_date_of(period).isoformat()
        done.append(
            Text(
                zh=f"新任务：{task_label(row, period)}，{due} 前完成",
                en=f"new task: file {row.parameter} for {period} by {due}",
            )
        )
    return done


class FilingRefused(Exception):
    def __init__(self, field: str, message: Text) -> None:
        super().__init__(message.en)
        self.field = field
        self.message = message


def row_or_refuse(plan: Plan, row_code: str) -> PlanRow:
    row = plan.row(row_code)
    if row is None:
        raise FilingRefused("row", Text(zh="现行计划中没有这一行", en="The plan in force has no such row"))
    return row


def file_proof(
    session: Session, *, org_id: int, plan: Plan, row_code: str, period: str, evidence_id: int, actor: Actor
) -> MonthlyFiling:
    """The row's proof of the month (a stored evidence file); audited. A later file replaces it, and the
    audit trail keeps both."""
    row = row_or_refuse(plan, row_code)
    filing = filing_of(session, org_id=org_id, row=row, period=period)
    before = filing.proof_evidence_id
    filing.proof_evidence_id, filing.filed_by, filing.filed_at = evidence_id, actor.id, utcnow()
    session.add(filing)
    append_event(
        session, org_id=org_id, actor=actor, subject_type=SUBJECT, subject_id=f"{row.code}@{period}",
        action="proof_filed", changes={"proof_evidence_id": [before, evidence_id]},
    )  # fmt: skip
    close_if_complete(session, org_id=org_id, plan=plan, row=row, period=period, filing=filing)
    return filing


def close_if_complete(
    session: Session, *, org_id: int, plan: Plan, row: PlanRow, period: str, filing: MonthlyFiling
) -> None:
    values = month_values(session, org_id=org_id, years=[int(period[:4])])
    cell = _cell(row, period, filing, values, today=date.max)
    if cell.state in (CellState.filed, CellState.substituted) and filing.task_id is not None:
        task = session.get(Task, filing.task_id)
        if task is not None and task.closed_at is None:
            task.closed_at = utcnow()
            session.add(task)


def substituted_periods(session: Session, *, year: int) -> dict[str, list[tuple[str, str]]]:
    """Row code → (month, rule) of every value of ``year`` substituted under a missing-data rule."""
    rows = session.exec(
        select(MonthlyFiling)
        .where(col(MonthlyFiling.substitution_rule).is_not(None))
        .where(MonthlyFiling.period >= f"{year}-01", MonthlyFiling.period <= f"{year}-12")
        .order_by(col(MonthlyFiling.period))
    ).all()
    found: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        found.setdefault(row.row_code, []).append((row.period, row.substitution_rule or ""))
    return found


def positive(value: Decimal | None) -> bool:
    return value is not None and value.is_finite() and value > 0
