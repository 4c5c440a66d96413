"""6.2.2 compliance obligations: each obligation's evaluation status (computed when written) and what a new
version sets off — the records linked to the obligation are flagged (their owners notified, the list kept
on the obligation) and an evaluation task opens for its owner. The evaluations themselves, due at each
obligation's frequency or on a new version, are 9.2's (workflows/hooks/compliance_evaluation.py)."""

from datetime import date, timedelta
from typing import Any

from sqlmodel import Session

from engine.events import policy
from engine.forms.spec import Text
from engine.notifications.service import notify
from engine.records.queries import linked_records
from engine.workflow.events import RecordEnteredState
from engine.workflow.lifecycle import fire_transition
from engine.workflow.models import Record
from engine.workflow.registry import ComputeContext, GuardContext, action, computed, declare_names
from engine.workflow.writes import as_date
from workflows.hooks.metering_instrument import add_months

WORKFLOW = "compliance_obligation"
NEW_VERSION, LIST_AFFECTED, EVALUATE = "revise_version", "list_affected", "evaluate"
declare_names(
    WORKFLOW, states=("in_effect", "evaluation_due"), triggers=(NEW_VERSION, LIST_AFFECTED, EVALUATE)
)
MONTHS = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12}  # evaluation_frequency → months
EVALUATION_DAYS = 30  # as the workflow's evaluation_due state: due_days
NOTICE = "obligation_changed"  # the notification's kind (read as a plain notice)
EVALUATIONS = "compliance_evaluation"  # its records evaluate the obligation; a new version starts one
declare_names(EVALUATIONS)


def _next_due(data: dict[str, Any], *, base: date | None) -> str | None:
    months = MONTHS.get(str(data.get("evaluation_frequency")))
    return add_months(base, months).isoformat() if base and months else data.get("next_evaluation_due")


@computed("compliance_obligation_status")
def evaluation_status(context: ComputeContext) -> dict[str, Any]:
    """A new version adds an evaluation row (a task of the owner until it is done); an evaluation closes
    the open rows with its result and sets the next evaluation date from the frequency."""
    data, submitted = context.data, context.submitted
    rows = [dict(row) for row in data.get("evaluations") or [] if isinstance(row, dict)]
    values: dict[str, Any] = {}
    if context.trigger == NEW_VERSION:
        edition = str(submitted.get("new_edition") or "")
        rows.append(
            {
                "task": f"评价新版本「{edition}」的适用性和合规性"[:200],
                "edition": edition[:200],
                "owner": data.get("owner"),
                "due": (context.today + timedelta(days=EVALUATION_DAYS)).isoformat(),
                "status": "open",
            }
        )
    base = None
    if context.trigger == EVALUATE:
        evaluated = as_date(submitted.get("evaluated_on")) or context.today
        result = submitted.get("evaluation_result")
        for row in rows:
            if row.get("status") != "done":
                row.update(status="done", evaluated_on=evaluated.isoformat(), result=result)
        values.update(last_evaluated_on=evaluated.isoformat(), last_result=result)
        base = evaluated
    elif context.trigger == "create":
        base = context.today
    else:
        base = as_date(data.get("last_evaluated_on"))
    values["next_evaluation_due"] = _next_due(data, base=base)
    values["evaluations"] = rows or None
    return values


@action("apply_new_version")
def apply_new_version(context: GuardContext) -> dict[str, Any]:
    """The new version becomes the obligation's version and effective date."""
    form = context.form_data
    return {"edition": form.get("new_edition"), "effective_date": form.get("new_effective_date")}


def _owners(record: Record) -> set[int]:
    owner = record.data.get("owner")
    people = {record.owner_id, record.assignee_id, owner if isinstance(owner, int) else None}
    return {person for person in people if isinstance(person, int)}


@policy(RecordEnteredState)
def flag_the_linked_records(event: RecordEnteredState, session: Session) -> None:
    """A new version of an obligation: every record linked to it is flagged — its owners are notified —
    and the list is kept on the obligation (an audited step of its own, by the same person)."""
    if event.workflow_key != WORKFLOW or event.trigger != NEW_VERSION:
        return
    obligation = session.get(Record, event.record_id)
    linked = [
        r
        for r in linked_records(session, record_id=event.record_id)
        if r.id != event.record_id and r.workflow_key != EVALUATIONS
    ]
    if obligation is None or not linked:
        return
    edition = str(obligation.data.get("edition") or "")
    lines = []
    for record in sorted(linked, key=lambda r: r.id or 0):
        notify(
            session,
            user_ids=sorted(_owners(record)),
            kind=NOTICE,
            subject=Text(
                zh=f"合规义务 {obligation.number}「{obligation.title}」发布新版本 {edition}："
                f"请复核 {record.number}",
                en=f"Obligation {obligation.number} '{obligation.title}' has a new version {edition}: "
                f"check {record.number}",
            ),
            body=Text(
                zh=f"{record.number}「{record.title}」关联了该合规义务，请按新版本复核其内容。",
                en=f"{record.number} '{record.title}' is linked to the obligation; check it against the "
                "new version.",
            ),
            record_id=record.id,
            actor=event.actor.audit_actor,
        )
        lines.append(f"{record.number} {record.title}（已通知负责人）")
    fire_transition(
        session,
        record_id=event.record_id,
        trigger=LIST_AFFECTED,
        actor=event.actor,
        form_data={"affected_records": "\n".join(lines)[:5000]},
        expected_version=obligation.version,
        comment=f"新版本 {edition}：已标记关联记录 {len(lines)} 条",
    )
