"""8.6 carbon data quality control: a month's activity data moves collected → verified → reported, by
different people. The rules that hold whichever way the data comes in (the grid, a file import, the meter
API, a measured parameter) are policies on what the carbon-data services announce, run inside their
transaction:

- changing the data of a verified or reported month needs a reason, and sends its batch back through the
  workflow (so roles, audit and separation of duties apply);
- whoever enters or changes a month's data joins its collecting batch's creators, so that the workflow's
  separation rules keep them from verifying or reporting it;
- an inventory snapshot takes verified data only: every month of the year has a verified batch;
- a month is verified only when the data-quality control plan's rows all have the month's value and proof;
- a batch's signatures (reviewed, approved) cover the month's data itself, not only the batch record: once
  that data changes they read stale, and the batch must be signed again.
"""

from typing import Any

from sqlmodel import Session

from engine.carbon_data.errors import DataIssue, EmissionsDataError
from engine.carbon_data.events import MonthDataChanged, SnapshotRequested
from engine.carbon_data.month_digest import month_data_digest
from engine.dqcp.filing import month_gaps
from engine.dqcp.plan import plan_in_force
from engine.events import policy
from engine.forms.spec import Text
from engine.records.queries import records_in_states
from engine.reports.periods import declare_period
from engine.verification.locks import lock_message, locked_years, years_of_periods
from engine.verification.registry import MonthProcess, register_month_process
from engine.workflow.access import ActorRef
from engine.workflow.errors import GuardRefused, TransitionRefused
from engine.workflow.events import RecordEnteredState
from engine.workflow.lifecycle import add_participant, fire_transition
from engine.workflow.models import Record
from engine.workflow.registry import GuardContext, declare_names, guard, signed_content

WORKFLOW = "carbon_data_batch"
COLLECTED = "collected"
VERIFIED_STATES = ("verified", "reported")
SEND_BACK = {"verified": "return_for_correction", "reported": "reopen"}  # from state → trigger
VERIFY = "verify"
CREATORS = "create"  # the participants the separation rules name as the collectors
declare_names(WORKFLOW, states={COLLECTED, *VERIFIED_STATES}, triggers={VERIFY, *SEND_BACK.values()})
declare_period(WORKFLOW, month="period")


@guard("verification_passed")
def verification_passed(context: GuardContext) -> Text | None:
    if context.form_data.get("result") != "passed":
        return Text(
            zh="核验结论为“不通过”，请使用“退回修改”",
            en="The verification did not pass; use “Return for correction”",
        )
    return None


def _batches(
    session: Session, states: tuple[str, ...], periods: frozenset[str] | None = None
) -> list[Record]:
    batches = records_in_states(session, workflow_key=WORKFLOW, states=states)
    return [b for b in batches if periods is None or b.data.get("period") in periods]


def _refusal(zh: str, en: str) -> EmissionsDataError:
    return EmissionsDataError([DataIssue(row=None, field="reason", message_zh=zh, message_en=en)])


@policy(MonthDataChanged)
def send_verified_months_back(event: MonthDataChanged, session: Session) -> None:
    batches = _batches(session, VERIFIED_STATES, event.periods)
    if not batches:
        return
    reason = event.reason.strip()
    if not reason:
        months = ", ".join(sorted(batch.data["period"] for batch in batches))
        raise _refusal(
            f"{months} 的数据已核验或已报送：修改须填写原因，数据批次将被退回重新核验",
            f"{months} is verified or reported: give a reason (the batch is sent back)",
        )
    for batch in batches:
        assert batch.id is not None
        try:
            fire_transition(
                session,
                record_id=batch.id,
                trigger=SEND_BACK[batch.state],
                actor=ActorRef.of(event.actor),
                form_data={},
                expected_version=batch.version,
                comment=reason,
            )
        except TransitionRefused as refused:
            raise _refusal(
                f"{batch.number}：{refused.reason.zh}", f"{batch.number}: {refused.reason.en}"
            ) from None


@policy(MonthDataChanged)
def changer_joins_the_collectors(event: MonthDataChanged, session: Session) -> None:
    for batch in _batches(session, (COLLECTED,), event.periods):
        add_participant(
            session,
            record=batch,
            trigger=CREATORS,
            actor=event.actor,
            reason=f"entered or changed the data of {batch.data.get('period')}",
        )


@policy(RecordEnteredState)
def a_month_is_verified_complete_only(event: RecordEnteredState, session: Session) -> None:
    """A month whose data-quality control plan rows lack a value or a proof cannot be verified: the
    refusal says what is missing (substituting a missing value under the row's rule is a way to fill it)."""
    if event.workflow_key != WORKFLOW or event.trigger != VERIFY:
        return
    plan = plan_in_force(session)
    batch = session.get(Record, event.record_id)
    if plan is None or batch is None:
        return
    gaps = month_gaps(session, org_id=event.org_id, plan=plan, period=str(batch.data.get("period")))
    if gaps:
        shown = gaps[:8]
        more_zh = f"等 {len(gaps)} 项" if len(gaps) > len(shown) else ""
        more_en = f" ({len(gaps)} in all)" if len(gaps) > len(shown) else ""
        raise GuardRefused(
            Text(
                zh=f"按数据质量控制计划，本月尚缺：{'；'.join(gap.zh for gap in shown)}{more_zh}",
                en=f"Under the data-quality control plan the month still lacks: "
                f"{'; '.join(gap.en for gap in shown)}{more_en}",
            )
        )


@policy(SnapshotRequested)
def snapshot_takes_verified_months_only(event: SnapshotRequested, session: Session) -> None:
    verified = {batch.data.get("period") for batch in _batches(session, VERIFIED_STATES)}
    missing = [month for month in (f"{event.year}-{m:02d}" for m in range(1, 13)) if month not in verified]
    if missing:
        months = ", ".join(missing)
        event.blockers.append(
            Text(
                zh=f"快照只采用已核验的数据。尚无已核验数据批次的月份：{months}",
                en=f"A snapshot takes verified data only. Months without a verified data batch: {months}",
            )
        )


@signed_content(WORKFLOW)
def the_months_data(session: Session, *, org_id: int, data: dict[str, Any]) -> dict[str, Any]:
    return month_data_digest(session, org_id=org_id, period=data["period"])


# ---------------------------------------------------------------- the external verifier (B9)

VERIFIER_SEND_BACK = {COLLECTED: "return_for_correction", **SEND_BACK}  # from state → trigger (v7 roles)


def _batches_of_year(session: Session, year: int) -> dict[str, Record]:
    batches = records_in_states(session, workflow_key=WORKFLOW, states=(COLLECTED, *VERIFIED_STATES))
    prefix = f"{year:04d}-"
    return {str(b.data["period"]): b for b in batches if str(b.data.get("period", "")).startswith(prefix)}


def _verifier_sends_back(session: Session, batch: Record, actor: ActorRef, comment: str) -> None:
    assert batch.id is not None
    fire_transition(
        session,
        record_id=batch.id,
        trigger=VERIFIER_SEND_BACK[batch.state],
        actor=actor,
        form_data={},
        expected_version=batch.version,
        comment=comment,
    )


register_month_process(MonthProcess(records_of_year=_batches_of_year, send_back=_verifier_sends_back))


@policy(RecordEnteredState)
def a_locked_year_keeps_its_batches(event: RecordEnteredState, session: Session) -> None:
    """A year closed by the verification: its batches neither start nor move."""
    if event.workflow_key != WORKFLOW:
        return
    batch = session.get(Record, event.record_id)
    years = years_of_periods([str(batch.data.get("period", ""))]) if batch else set()
    locked = sorted(years & locked_years(session, org_id=event.org_id))
    if locked:
        raise GuardRefused(lock_message(locked[0]))
