"""4.1 internal and external issues and 4.2 interested parties' requirements: the issues' periodic review
(the scheduler reminds an issue's owner on its review date), and adopting a requirement as a compliance
obligation, which creates the obligation (or links the one chosen) in the same transaction."""

from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlmodel import Session

from engine.events import policy
from engine.forms.spec import Text
from engine.records.queries import records_in_states
from engine.scheduler.reviews import ReviewDue, ReviewHook, register_review
from engine.workflow.computed import china_today
from engine.workflow.events import RecordEnteredState
from engine.workflow.lifecycle import create_record, process_context
from engine.workflow.models import Record
from engine.workflow.registry import ComputeContext, GuardContext, action, computed, declare_names
from engine.workflow.writes import as_date

ISSUES = "context_issue"
MONITORED = "monitored"
REQUIREMENTS = "party_requirement"
ADOPT, DECLINE = "adopt", "decline"
OBLIGATIONS = "compliance_obligation"
declare_names(ISSUES, states=(MONITORED,))
declare_names(REQUIREMENTS, triggers=(ADOPT, DECLINE))
declare_names(OBLIGATIONS)
ADOPTED, NOT_ADOPTED, UNDECIDED = "adopted", "not_adopted", "undecided"  # choices of ip_status


# ---- 4.1: an issue is reviewed when its review date comes ------------------------------------------


def issues_due(session: Session, today: date) -> Iterator[ReviewDue]:
    for record in records_in_states(session, workflow_key=ISSUES, states=(MONITORED,)):
        due = as_date(record.data.get("review_date"))
        owner = record.data.get("owner")
        if due is None or due > today or not isinstance(owner, int):
            continue
        yield ReviewDue(
            subject=f"{ISSUES}:{record.id}",
            period=due.isoformat(),
            title=Text(
                zh=f"内外部议题评审：{record.number}「{record.title}」（评审日期 {due.isoformat()}）",
                en=f"Review of the issue {record.number} '{record.title}' (due {due.isoformat()})",
            ),
            user_ids=(owner,),
            record_id=record.id,
        )


@action("apply_next_review")
def apply_next_review(context: GuardContext) -> dict[str, Any]:
    """A review sets the issue's review date to the next one (the scheduler reminds on it)."""
    return {"review_date": context.form_data.get("next_review_date")}


register_review(
    ReviewHook(
        name="context_issue_review",
        label=Text(zh="内外部议题评审", en="Review of internal and external issues"),
        due=issues_due,
    )
)


# ---- 4.2: a requirement adopted as a compliance obligation ------------------------------------------


@computed("party_requirement_adoption")
def adoption(context: ComputeContext) -> dict[str, Any]:
    decided = {ADOPT: ADOPTED, DECLINE: NOT_ADOPTED}.get(context.trigger)
    return {"adoption": decided or context.data.get("adoption") or UNDECIDED}


def obligation_from(requirement: Record, *, today: date) -> dict[str, Any]:
    """A new obligation's start form, from the requirement and what the adopt form said."""
    data = requirement.data
    owner = data.get("obligation_owner") or data.get("owner")
    return {
        "title": requirement.title,
        "source": data.get("obligation_source"),
        "issuing_body": data.get("party_name"),
        "requirement_text": data.get("requirement"),
        "applicability": "applicable",
        "applicability_reason": data.get("adoption_reason"),
        "owner": owner,
        "evaluation_frequency": data.get("obligation_frequency"),
        "edition": f"{today.year}年采纳",
        "effective_date": today.isoformat(),
        "origin_requirement": requirement.id,
    }


@policy(RecordEnteredState)
def adopting_creates_the_obligation(event: RecordEnteredState, session: Session) -> None:
    """Adopting with no existing obligation chosen creates one, linked to the requirement (the link shows
    on both records); with one chosen, the adopt form's link field has already linked them."""
    if event.workflow_key != REQUIREMENTS or event.trigger != ADOPT:
        return
    requirement = session.get(Record, event.record_id)
    workflow = process_context(session).catalog.get(OBLIGATIONS)
    if requirement is None or workflow is None or isinstance(requirement.data.get("obligation"), int):
        return
    today = china_today()
    create_record(
        session,
        workflow=workflow,
        org_id=event.org_id,
        actor=event.actor,
        form_data=obligation_from(requirement, today=today),
        today=today,
    )
