"""A revision of the plan starts as a copy of the plan in force, saying which of the five revision triggers
caused it and why; it is edited, submitted and approved like any version (the plan in force stays in force
until then)."""

from typing import Any

from sqlmodel import Session

from engine.dqcp.plan import Plan
from engine.workflow.access import ActorRef
from engine.workflow.lifecycle import create_record, process_context
from engine.workflow.models import Record


def start_revision(
    session: Session, *, org_id: int, plan: Plan, actor: ActorRef, trigger: str, reason: str, title: str
) -> Record:
    workflow = process_context(session).catalog.get(plan.workflow_key)
    assert workflow is not None
    data: dict[str, Any] = {
        **plan.data,
        "title": title,
        "revision_trigger": trigger,
        "revision_reason": reason,
    }
    return create_record(session, workflow=workflow, org_id=org_id, actor=actor, form_data=data)
