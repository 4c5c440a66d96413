"""The data-quality control plan (数据质量控制计划): its records are the plan's versions. Only one is in
force: approving a new version supersedes the one before, in the same transaction, and the old one is kept,
read-only. The rows must be consistent (codes unique, missing-data rules conservative for their kind)."""

from typing import Any

from sqlmodel import Session

from engine.dqcp.plan import Plan, PlanRow, plan_process, row_problems
from engine.events import policy
from engine.forms.spec import Text
from engine.records.queries import records_in_states
from engine.workflow.events import RecordEnteredState
from engine.workflow.lifecycle import fire_transition
from engine.workflow.models import Record
from engine.workflow.registry import GuardContext, declare_names, guard
from engine.workflow.writes import as_date

WORKFLOW = "dqcp"
IN_FORCE = "in_force"
APPROVE = "approve_plan"
SUPERSEDE = "supersede"
VERSION_STATES = ("drafting", "awaiting_approval", IN_FORCE, "superseded")
declare_names(WORKFLOW, states=VERSION_STATES, triggers=(APPROVE, SUPERSEDE))


@guard("rows_are_consistent")
def rows_are_consistent(context: GuardContext) -> Text | None:
    rows = context.record_data.get("rows") or []
    problems = row_problems([row for row in rows if isinstance(row, dict)])
    if not problems:
        return None
    zh = "；".join(f"第 {number} 行：{message}" for number, _, message, _ in problems[:5])
    en = "; ".join(f"row {number}: {message}" for number, _, _, message in problems[:5])
    return Text(zh=zh, en=en)


def _plan(record: Record) -> Plan:
    data: dict[str, Any] = record.data or {}
    assert record.id is not None
    return Plan(
        workflow_key=record.workflow_key,
        workflow_version=record.workflow_version,
        record_id=record.id,
        number=record.number,
        title=record.title,
        state=record.state,
        effective_from=as_date(data.get("effective_from")),
        rows=tuple(PlanRow.of(row) for row in data.get("rows") or [] if isinstance(row, dict)),
        data=data,
    )


class DataQualityPlan:
    workflow_key = WORKFLOW

    def in_force(self, session: Session) -> Plan | None:
        records = records_in_states(session, workflow_key=WORKFLOW, states=(IN_FORCE,))
        return _plan(max(records, key=lambda record: record.id or 0)) if records else None

    def versions(self, session: Session) -> list[Plan]:
        records = records_in_states(session, workflow_key=WORKFLOW, states=VERSION_STATES)
        return [_plan(record) for record in sorted(records, key=lambda record: record.id or 0, reverse=True)]


plan_process(DataQualityPlan())


def _number(session: Session, record_id: int) -> str:
    record = session.get(Record, record_id)
    return record.number if record else ""


@policy(RecordEnteredState)
def supersede_the_plan_before(event: RecordEnteredState, session: Session) -> None:
    if event.workflow_key != WORKFLOW or event.trigger != APPROVE:
        return
    for before in records_in_states(session, workflow_key=WORKFLOW, states=(IN_FORCE,)):
        if before.id is None or before.id == event.record_id:
            continue
        fire_transition(
            session,
            record_id=before.id,
            trigger=SUPERSEDE,
            actor=event.actor,
            form_data={},
            expected_version=before.version,
            comment=f"由新版本 {_number(session, event.record_id)} 替代",
        )
