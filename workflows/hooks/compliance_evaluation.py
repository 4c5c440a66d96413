"""9.2 compliance evaluation: the scope pre-filled from the obligation register, a nonconformity opened by
each non-compliant row (linked to the evaluation and to the obligation), each result recorded on its
obligation when the evaluation closes, and the two ways one starts by itself — the scheduler, for the
obligations due at their frequency, and a new version of an obligation."""

from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any, cast

from sqlmodel import Session

from engine.events import policy
from engine.forms.spec import Text
from engine.records.queries import linked_records, records_in_states
from engine.scheduler.registry import JobContext
from engine.scheduler.starts import StartHook, register_start
from engine.workflow.access import ActorRef
from engine.workflow.computed import china_today
from engine.workflow.errors import FORM_HAS_ERRORS, FormRefused
from engine.workflow.events import RecordEnteredState
from engine.workflow.lifecycle import create_record, fire_transition, process_context
from engine.workflow.models import Record
from engine.workflow.registry import ComputeContext, GuardContext, computed, declare_names, guard
from engine.workflow.writes import as_date, link_record, load_record_row

WORKFLOW = "compliance_evaluation"
SCOPING, PLANNED, SUBMITTED = "scoping", "planned", "submitted"
OPEN_STATES = (SCOPING, PLANNED, SUBMITTED, "under_review", "reviewed")
SET_SCOPE, RECORD_RESULTS, NOTE_NCS, CLOSE = "set_scope", "record_results", "note_nonconformities", "close"
declare_names(WORKFLOW, states=OPEN_STATES, triggers=(SET_SCOPE, RECORD_RESULTS, NOTE_NCS, CLOSE))
OBLIGATIONS = "compliance_obligation"
IN_FORCE = ("in_effect", "evaluation_due")  # the obligation's states in which it is evaluated
NEW_VERSION, EVALUATE = "revise_version", "evaluate"
declare_names(OBLIGATIONS, states=IN_FORCE, triggers=(NEW_VERSION, EVALUATE))
NONCONFORMITIES = "nonconformity"
REJECTED = "rejected"
declare_names(NONCONFORMITIES, states=(REJECTED,))
NC_SOURCE = "compliance_evaluation"  # a choice of the nonconformity report's source

COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE = "compliant", "non_compliant", "not_applicable"
EVIDENCED = (COMPLIANT, NON_COMPLIANT)  # results that must name their evidence
SCOPE_DUE, SCOPE_ALL, SCOPE_ONE = "due", "all", "one"  # choices of ce_plan's scope
PLANNING_DAYS = 30  # an evaluation started by itself is planned this many days ahead
LINK = "obligation"  # the kind of the link between an evaluation and each obligation it evaluates


def _rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in data.get("results") or [] if isinstance(row, dict)]


@computed("compliance_evaluation_summary")
def summary(context: ComputeContext) -> dict[str, Any]:
    """How many obligations the evaluation holds and how they were found (the list shows them)."""
    rows = _rows(context.data)
    found = Counter(row.get("result") for row in rows)
    return {
        "obligation_count": len(rows),
        "compliant_count": found[COMPLIANT],
        "non_compliant_count": found[NON_COMPLIANT],
        "not_applicable_count": found[NOT_APPLICABLE],
        "unanswered_count": sum(1 for row in rows if not row.get("result")),
    }


@guard("every_obligation_answered")
def every_obligation_answered(context: GuardContext) -> Text | None:
    """Every row has a result; a compliant or non-compliant one its evidence, a not-applicable one why;
    no obligation twice. The message names the rows."""
    data = context.record_data
    rows = _rows(data)
    seen: set[Any] = set()
    evidence_file = bool(data.get("evaluation_evidence"))
    twice, unanswered, no_evidence, no_reason = [], [], [], []
    for number, row in enumerate(rows, start=1):
        if row.get("obligation") in seen:
            twice.append(number)
        seen.add(row.get("obligation"))
        result = row.get("result")
        if not result:
            unanswered.append(number)
        elif result in EVIDENCED and not row.get("evidence_reference") and not evidence_file:
            no_evidence.append(number)
        elif result == NOT_APPLICABLE and not row.get("note"):
            no_reason.append(number)
    problems = [
        (twice, "重复列出了同一合规义务", "list an obligation a second time"),
        (unanswered, "尚未选择评价结论", "have no result yet"),
        (no_evidence, "未写明证据（文件或记录编号）", "name no evidence (a file or record number)"),
        (no_reason, "为“不适用”但未在说明中写明理由", "are not applicable but the note says not why"),
    ]
    found = [(rows_, zh, en) for rows_, zh, en in problems if rows_]
    if not found:
        return None
    return Text(
        zh="；".join(f"评价结果第 {'、'.join(map(str, rows_))} 行{zh}" for rows_, zh, _ in found),
        en="; ".join(f"Result row(s) {', '.join(map(str, rows_))} {en}" for rows_, _, en in found),
    )


# ---- the scope, from the obligation register ---------------------------------------------------------


def _obligation_ids(record: Any) -> set[int]:
    return {row["obligation"] for row in _rows(record.data) if isinstance(row.get("obligation"), int)}


def obligations_in_open_evaluations(session: Session, *, besides: int | None = None) -> set[int]:
    """The obligations some evaluation not yet closed holds (other than ``besides``)."""
    return {
        obligation
        for evaluation in records_in_states(session, workflow_key=WORKFLOW, states=OPEN_STATES)
        if evaluation.id != besides
        for obligation in _obligation_ids(evaluation)
    }


def obligations_due(session: Session, *, by: date) -> list[Record]:
    """Applicable obligations in force whose evaluation falls due by ``by``, or whose new version is
    still to be evaluated, oldest number first."""
    found = []
    for record in records_in_states(session, workflow_key=OBLIGATIONS, states=IN_FORCE):
        due = as_date(record.data.get("next_evaluation_due"))
        if record.data.get("applicability") != "applicable":
            continue
        if record.state == IN_FORCE[1] or (due is not None and due <= by):
            found.append(record)
    return sorted(found, key=lambda r: r.id or 0)


def _scope(session: Session, evaluation: Any) -> list[int]:
    data = evaluation.data
    scope = data.get("scope")
    if scope == SCOPE_ONE:
        if not isinstance(data.get("obligation"), int):
            raise FormRefused(
                FORM_HAS_ERRORS,
                field_errors={"obligation": {"zh": "请选择要评价的合规义务", "en": "Choose the obligation"}},
            )
        return [data["obligation"]]
    busy = obligations_in_open_evaluations(session, besides=evaluation.id)
    if scope == SCOPE_ALL:
        candidates = [
            r
            for r in records_in_states(session, workflow_key=OBLIGATIONS, states=IN_FORCE)
            if r.data.get("applicability") == "applicable"
        ]
    else:
        candidates = obligations_due(session, by=as_date(data.get("planned_date")) or china_today())
    chosen = sorted(r.id for r in candidates if r.id is not None and r.id not in busy)
    if not chosen:
        raise FormRefused(
            FORM_HAS_ERRORS,
            field_errors={
                "scope": {
                    "zh": "该范围内没有待评价的合规义务（或都已在进行中的评价中）",
                    "en": "No obligation in this scope is to be evaluated (or each is in an open evaluation)",
                }
            },
        )
    return chosen


@policy(RecordEnteredState)
def fill_the_scope(event: RecordEnteredState, session: Session) -> None:
    """A new evaluation's rows: one per obligation of its scope, from the register (an audited step)."""
    if event.workflow_key != WORKFLOW or event.trigger != "create":
        return
    evaluation = load_record_row(session, record_id=event.record_id)
    chosen = _scope(session, evaluation)
    fire_transition(
        session,
        record_id=event.record_id,
        trigger=SET_SCOPE,
        actor=event.actor,
        form_data={"results": [{"obligation": obligation} for obligation in chosen]},
        expected_version=evaluation.version,
    )


@policy(RecordEnteredState)
def link_the_obligations(event: RecordEnteredState, session: Session) -> None:
    """Each obligation a row names is linked to the evaluation: both pages list the other."""
    if event.workflow_key != WORKFLOW or event.trigger not in (SET_SCOPE, RECORD_RESULTS):
        return
    evaluation = load_record_row(session, record_id=event.record_id)
    for obligation in sorted(_obligation_ids(evaluation)):
        link_record(session, org_id=event.org_id, from_id=event.record_id, to_id=obligation, kind=LINK)


# ---- a non-compliant row opens a nonconformity --------------------------------------------------------


def _open_nonconformity(
    session: Session, *, event: RecordEnteredState, evaluation: Any, obligation: Record, row: dict[str, Any]
) -> int:
    workflow = process_context(session).catalog.get(NONCONFORMITIES)
    assert workflow is not None
    owner = obligation.data.get("owner")
    found_on = as_date(evaluation.data.get("evaluated_on")) or china_today()
    description = (
        f"合规性评价 {evaluation.number}「{evaluation.title}」中，合规义务 {obligation.number}"
        f"「{obligation.title}」（{obligation.data.get('edition') or ''}）评价为不合规。\n"
        f"说明：{row.get('note') or '—'}\n证据：{row.get('evidence_reference') or '—'}"
    )
    data = {
        "title": f"不符合合规义务：{obligation.number}「{obligation.title}」"[:200],
        "source": NC_SOURCE,
        "description": description[:4000],
        "found_on": found_on.isoformat(),
        "clause": "9.2",
        "assignee": owner if isinstance(owner, int) else None,
        "related_record": evaluation.id,
    }
    record = create_record(
        session,
        workflow=workflow,
        org_id=event.org_id,
        actor=event.actor,
        form_data={key: value for key, value in data.items() if value is not None},
        today=found_on,
    )
    assert record.id is not None
    link_record(session, org_id=event.org_id, from_id=record.id, to_id=obligation.id or 0, kind=LINK)
    return record.id


def _nonconformity_of(session: Session, *, evaluation_id: int, obligation_id: int) -> int | None:
    """The nonconformity this evaluation opened for the obligation earlier (sent back and submitted
    again), unless it was rejected."""
    of_evaluation = {r.id for r in linked_records(session, record_id=evaluation_id)}
    return next(
        (
            r.id
            for r in linked_records(session, record_id=obligation_id)
            if r.workflow_key == NONCONFORMITIES and r.id in of_evaluation and r.state != REJECTED
        ),
        None,
    )


@policy(RecordEnteredState)
def open_the_nonconformities(event: RecordEnteredState, session: Session) -> None:
    """On submitting, each non-compliant row gets its nonconformity (opened now, or the one opened when
    the evaluation was submitted before) and the rows record its number: the next step, in this
    transaction, by the person who submitted."""
    if event.workflow_key != WORKFLOW or event.to_state != SUBMITTED:
        return
    evaluation = load_record_row(session, record_id=event.record_id)
    rows = _rows(evaluation.data)
    for row in rows:
        row.pop("nonconformity", None)
        obligation = session.get(Record, row.get("obligation"))
        if row.get("result") != NON_COMPLIANT or obligation is None or obligation.id is None:
            continue
        row["nonconformity"] = _nonconformity_of(
            session, evaluation_id=event.record_id, obligation_id=obligation.id
        ) or _open_nonconformity(session, event=event, evaluation=evaluation, obligation=obligation, row=row)
    opened = [row["nonconformity"] for row in rows if row.get("nonconformity")]
    fire_transition(
        session,
        record_id=event.record_id,
        trigger=NOTE_NCS,
        actor=event.actor,
        form_data={**evaluation.data, "results": rows},
        expected_version=load_record_row(session, record_id=event.record_id).version,
        comment=f"开具不符合 {len(opened)} 项" if opened else None,
    )


# ---- closing records each result on its obligation -----------------------------------------------------


def _result_offered(session: Session, obligation: Record, result: str) -> bool:
    """Whether the obligation's evaluation step (of the version it is pinned to) offers this result."""
    workflow = process_context(session).catalog.pinned(
        session, key=OBLIGATIONS, version=obligation.workflow_version
    )
    transition = next((t for t in workflow.spec.transitions if t.trigger == EVALUATE), None)
    form = workflow.forms.get(transition.form) if transition and transition.form else None
    field = form.field("evaluation_result") if form else None
    return field is not None and any(choice.value == result for choice in field.choices)


@policy(RecordEnteredState)
def record_the_results_on_the_obligations(event: RecordEnteredState, session: Session) -> None:
    """Each obligation's own evaluation step, in this transaction: its last result and date, its next
    evaluation date from its frequency, the evaluation linked (its page lists it)."""
    if event.workflow_key != WORKFLOW or event.trigger != CLOSE:
        return
    evaluation = load_record_row(session, record_id=event.record_id)
    evaluated_on = as_date(evaluation.data.get("evaluated_on")) or china_today()
    for row in _rows(evaluation.data):
        obligation = session.get(Record, row.get("obligation"))
        result = str(row.get("result") or "")
        if (
            obligation is None
            or obligation.state not in IN_FORCE
            or not _result_offered(session, obligation, result)
        ):
            continue
        nonconformity = session.get(Record, row["nonconformity"]) if row.get("nonconformity") else None
        note = "；".join(
            part
            for part in (
                f"合规性评价 {evaluation.number}",
                row.get("note"),
                f"证据：{row['evidence_reference']}" if row.get("evidence_reference") else None,
                f"不符合 {nonconformity.number}" if nonconformity else None,
            )
            if part
        )
        fire_transition(
            session,
            record_id=obligation.id or 0,
            trigger=EVALUATE,
            actor=event.actor,
            form_data={
                "evaluated_on": evaluated_on.isoformat(),
                "evaluation_result": result,
                "evaluation_note": note[:3000],
                "evaluation_record": event.record_id,
            },
            expected_version=load_record_row(session, record_id=obligation.id or 0).version,
        )


# ---- started by itself: the scheduler, and a new version of an obligation -------------------------------


def _start(session: Session, *, org_id: int, actor: ActorRef, data: dict[str, Any], today: date) -> Record:
    workflow = process_context(session).catalog.get(WORKFLOW)
    assert workflow is not None
    return create_record(session, workflow=workflow, org_id=org_id, actor=actor, form_data=data, today=today)


def start_due_evaluations(ctx: JobContext) -> Iterator[str]:
    """Once a month, one evaluation of every obligation due by today at its frequency that no open
    evaluation holds; the person owning most of them evaluates."""
    busy = obligations_in_open_evaluations(ctx.session)
    due = [r for r in obligations_due(ctx.session, by=ctx.today) if r.id not in busy]
    owners = Counter(r.data.get("owner") for r in due if isinstance(r.data.get("owner"), int))
    month = f"{ctx.today.year}年{ctx.today.month}月"
    if not owners or not ctx.claim(WORKFLOW, ctx.today.strftime("%Y-%m")):
        return
    workflow = process_context(ctx.session).catalog.get(WORKFLOW)
    assert workflow is not None
    actor = ActorRef(id=cast(int, None), name="系统定时任务", roles=frozenset(workflow.spec.start.roles))
    record = _start(
        ctx.session,
        org_id=ctx.org_id,
        actor=actor,
        data={
            "title": f"{month}合规性评价（按评价频次）",
            "period": month,
            "scope": SCOPE_DUE,
            "evaluator": owners.most_common(1)[0][0],
            "planned_date": (ctx.today + timedelta(days=PLANNING_DAYS)).isoformat(),
            "plan_note": "系统按各合规义务的评价频次定期启动：范围为到计划日期应评价、"
            "且不在进行中评价内的义务。",
        },
        today=ctx.today,
    )
    yield f"{record.number}「{record.title}」（{len(_obligation_ids(record))} 项合规义务）"


register_start(
    StartHook(
        name="compliance_evaluation_due",
        label=Text(zh="合规性评价（按频次）", en="Compliance evaluations (by frequency)"),
        start=start_due_evaluations,
    )
)


@policy(RecordEnteredState)
def evaluate_the_new_version(event: RecordEnteredState, session: Session) -> None:
    """A new version of an obligation is evaluated: it joins an evaluation still being carried out, or
    one starts for it alone; nothing when an open evaluation holds it already."""
    if event.workflow_key != OBLIGATIONS or event.trigger != NEW_VERSION:
        return
    if event.record_id in obligations_in_open_evaluations(session):
        return
    obligation = load_record_row(session, record_id=event.record_id)
    open_ones = sorted(
        records_in_states(session, workflow_key=WORKFLOW, states=(PLANNED,)), key=lambda r: r.id or 0
    )
    edition = str(obligation.data.get("edition") or "")
    if open_ones:
        evaluation = load_record_row(session, record_id=max(r.id or 0 for r in open_ones))
        fire_transition(
            session,
            record_id=evaluation.id,
            trigger=RECORD_RESULTS,
            actor=event.actor,
            form_data={
                **evaluation.data,
                "results": [*_rows(evaluation.data), {"obligation": event.record_id}],
            },
            expected_version=evaluation.version,
            comment=f"{obligation.number} 发布新版本 {edition}，加入本次评价",
        )
        return
    today = china_today()
    owner = obligation.data.get("owner")
    _start(
        session,
        org_id=event.org_id,
        actor=event.actor,
        data={
            "title": f"{obligation.number}「{obligation.title}」新版本 {edition} 合规性评价"[:200],
            "period": f"{today.year}年{today.month}月（换版）",
            "scope": SCOPE_ONE,
            "obligation": event.record_id,
            "evaluator": owner if isinstance(owner, int) else event.actor.id,
            "planned_date": (today + timedelta(days=PLANNING_DAYS)).isoformat(),
            "plan_note": f"合规义务发布新版本 {edition}，评价其适用性和本公司的合规情况。",
        },
        today=today,
    )
