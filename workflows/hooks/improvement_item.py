"""10.2 continual improvement: the improvement log, and the PDCA overview that reads the whole loop —
objectives (plan), their parameters' trend (check), audits and nonconformities (check), and the actions
still open (act) — from the records of each process."""

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.workflow.models import Record
from engine.workflow.registry import declare_names

WORKFLOW = "improvement_item"
OPEN_ITEM = "open_item"
declare_names(WORKFLOW, states={OPEN_ITEM})
ACTION_PLAN = "action_plan"
ACTION_OPEN_STATES = ("planned", "in_progress")
declare_names(ACTION_PLAN, states=ACTION_OPEN_STATES)
NONCONFORMITY = "nonconformity"
AUDIT_SOURCES = ("internal_audit", "external_audit")  # choices of the nonconformity report's source


@dataclass
class Counts:
    open: int = 0
    closed: int = 0
    overdue: int = 0

    @property
    def total(self) -> int:
        return self.open + self.closed


@dataclass
class Loop:
    by_workflow: dict[str, Counts] = field(default_factory=dict)
    nc_from_audits: Counts = field(default_factory=Counts)
    open_actions: list[Record] = field(default_factory=list)  # open action plans and improvement items

    def counts(self, workflow_key: str) -> Counts:
        return self.by_workflow.get(workflow_key, Counts())


def pdca_loop(session: Session, *, workflow_keys: tuple[str, ...], today: date, limit: int = 12) -> Loop:
    """Open, closed and overdue records of each workflow named; nonconformities from audits; the action
    plans and improvement items still open, soonest due first."""
    loop = Loop()
    is_open = col(Record.closed_at).is_(None)
    rows = session.exec(
        select(
            col(Record.workflow_key),
            sa.func.sum(sa.case((is_open, 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(is_open, col(Record.due_date) < today), 1), else_=0)),
            sa.func.count(),
        )
        .where(col(Record.workflow_key).in_(workflow_keys))
        .group_by(col(Record.workflow_key))
    ).all()
    for key, open_count, overdue, count in rows:
        loop.by_workflow[key] = Counts(
            open=int(open_count or 0), closed=int(count) - int(open_count or 0), overdue=int(overdue or 0)
        )
    for record in session.exec(select(Record).where(col(Record.workflow_key) == NONCONFORMITY)).all():
        if (record.data or {}).get("source") in AUDIT_SOURCES:
            if record.closed_at is None:
                loop.nc_from_audits.open += 1
            else:
                loop.nc_from_audits.closed += 1
    open_actions = session.exec(
        select(Record)
        .where(
            sa.or_(
                sa.and_(col(Record.workflow_key) == ACTION_PLAN, col(Record.state).in_(ACTION_OPEN_STATES)),
                sa.and_(col(Record.workflow_key) == WORKFLOW, col(Record.state) == OPEN_ITEM),
            )
        )
        .order_by(col(Record.due_date).is_(None), col(Record.due_date), col(Record.id))
        .limit(limit)
    ).all()
    loop.open_actions = list(open_actions)
    return loop
