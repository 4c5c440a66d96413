"""4.3 scope statement and statement of applicability, 5.2 carbon policy: versioned statements approved
with top management's e-signature. Only one version of each is in force: approving a new one supersedes
the one before in the same transaction (the old one is kept, read-only), as the data-quality control
plan does."""

from sqlmodel import Session

from engine.events import policy
from engine.forms.spec import Text
from engine.records.queries import records_in_states
from engine.workflow.events import RecordEnteredState
from engine.workflow.lifecycle import fire_transition
from engine.workflow.models import Record
from engine.workflow.registry import GuardContext, declare_names, guard

IN_FORCE = "in_force"
SUPERSEDE = "supersede"
APPROVALS = {  # workflow → the trigger that puts a version in force
    "scope_statement": "approve_scope",
    "carbon_policy": "approve_policy",
    "applicability_statement": "approve_statement",
}
for _key, _approve in APPROVALS.items():
    declare_names(_key, states=(IN_FORCE, "superseded"), triggers=(_approve, SUPERSEDE))

COMMITMENTS = ("compliance", "neutrality", "improvement")  # what clause 5.2 asks a carbon policy to contain


@guard("three_commitments")
def three_commitments(context: GuardContext) -> Text | None:
    chosen = set(context.record_data.get("commitments") or [])
    if chosen >= set(COMMITMENTS):
        return None
    return Text(
        zh="碳方针须包含三项承诺：履行合规义务、碳中和承诺、持续改进碳绩效（标准5.2）",
        en="A carbon policy must contain three commitments: compliance obligations, carbon neutrality "
        "and continual improvement (clause 5.2)",
    )


def in_force(session: Session, *, workflow_key: str) -> Record | None:
    """The version in force of a statement (the newest, should there ever be two)."""
    records = records_in_states(session, workflow_key=workflow_key, states=(IN_FORCE,))
    return max(records, key=lambda record: record.id or 0) if records else None


@policy(RecordEnteredState)
def supersede_the_version_before(event: RecordEnteredState, session: Session) -> None:
    if APPROVALS.get(event.workflow_key) != event.trigger:
        return
    approved = session.get(Record, event.record_id)
    number = approved.number if approved else ""
    for before in records_in_states(session, workflow_key=event.workflow_key, states=(IN_FORCE,)):
        if before.id is None or before.id == event.record_id or before.org_id != event.org_id:
            continue
        fire_transition(
            session,
            record_id=before.id,
            trigger=SUPERSEDE,
            actor=event.actor,
            form_data={},
            expected_version=before.version,
            comment=f"由新版本 {number} 替代",
        )
