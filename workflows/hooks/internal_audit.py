"""9.3 internal audit: the plan's checks, the checklist made from the clause library when the plan is
confirmed (with a re-audit row per finding closed since the clause's last audit), the answers scored by the
configured scale, each finding of the issued report turned into a nonconformity or an improvement item
(linked both ways, in the same transaction), the close once the findings are closed or followed up, and the
latest checklists as the self-assessment score per clause. Independence: internal_audit_independence."""

import hashlib
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from engine.clauses.scores import ClauseScore, register_score_source
from engine.events import policy
from engine.forms.spec import Text
from engine.identity.models import User
from engine.records.queries import records_in_states
from engine.workflow.access import ActorRef
from engine.workflow.computed import china_today
from engine.workflow.errors import FORM_HAS_ERRORS, FormRefused, GuardRefused, SeparationRefused
from engine.workflow.events import RecordEnteredState
from engine.workflow.lifecycle import create_record, fire_transition, process_context
from engine.workflow.models import Record
from engine.workflow.registry import ComputeContext, GuardContext, action, computed, declare_names, guard
from engine.workflow.writes import as_date, load_record_row
from workflows.hooks.internal_audit_independence import (
    APPROVED,
    REQUESTED,
    answer_conflicts,
    described,
    override_covers,
    plan_fingerprint,
    team_conflicts,
    team_members,
)
from workflows.hooks.internal_audit_rules import (
    IMPROVEMENT,
    NONCONFORMITY,
    as_decimal,
    checklist_rows,
    comparable,
    earned,
    is_finding,
    question_rows,
    reaudit_row,
    rules,
    scope_clauses,
    scores_by_clause,
    unknown_prefixes,
)

WORKFLOW = "internal_audit"
PLANNING, FIELDWORK, REPORTED, CLOSED = "planning", "fieldwork", "reported", "closed"
SAVE_PLAN, SUBMIT_PLAN, LOAD_CHECKLIST = "save_plan", "submit_plan", "load_checklist"
REQUEST_OVERRIDE, ANSWER, ISSUE, RECORD_FINDINGS = (
    "request_override",
    "answer_item",
    "issue_report",
    "record_findings",
)
CLOSE = "close_audit"
declare_names(
    WORKFLOW,
    states=(PLANNING, FIELDWORK, REPORTED, CLOSED),
    triggers=(
        SAVE_PLAN,
        SUBMIT_PLAN,
        LOAD_CHECKLIST,
        REQUEST_OVERRIDE,
        ANSWER,
        ISSUE,
        RECORD_FINDINGS,
        CLOSE,
    ),
)
FINDING_WORKFLOWS = {NONCONFORMITY: "nonconformity", IMPROVEMENT: "improvement_item"}
declare_names("nonconformity")
declare_names("improvement_item")
LOADER_ROLE = "admin"  # the role the file gives the steps the process fires itself (load, record findings)
SOURCE = "internal_audit"  # the nonconformity's and the improvement item's source (their forms' choice)
DONE_STATES = (REPORTED, CLOSED)  # an audit whose checklist counts (its report is issued)


def _loader(actor: ActorRef) -> ActorRef:
    return ActorRef(id=actor.id, name=actor.name, roles=frozenset({LOADER_ROLE}))


def _refused(field: str, zh: str, en: str) -> FormRefused:
    return FormRefused(FORM_HAS_ERRORS, field_errors={field: {"zh": zh, "en": en}})


# ---- the plan ------------------------------------------------------------------------------------------


@guard("lead_is_in_the_team")
def lead_is_in_the_team(context: GuardContext) -> Text | None:
    data = context.record_data
    members = [row.get("member") for row in data.get("team") or [] if isinstance(row, dict)]
    if data.get("lead_auditor") not in members:
        return Text(
            zh="审核组长须列入审核组（并填写其所属部门）",
            en="The lead auditor must be in the team (with their own unit)",
        )
    return None


@guard("dates_in_order")
def dates_in_order(context: GuardContext) -> Text | None:
    data = context.record_data
    start, end, since = (as_date(data.get(name)) for name in ("start_date", "end_date", "records_from"))
    if start and end and end < start:
        return Text(zh="现场审核结束日期早于开始日期", en="The fieldwork ends before it starts")
    if since and end and since > end:
        return Text(
            zh="审核覆盖期间的起点晚于审核结束日期", en="The audited period starts after the audit ends"
        )
    return None


@guard("plan_written")
def plan_written(context: GuardContext) -> Text | None:
    if not context.record_data.get("team") or not context.record_data.get("criteria"):
        return Text(zh="请先编制审核计划（范围、准则、审核组、日期）", en="Write the audit plan first")
    return None


@policy(RecordEnteredState)
def scope_is_in_the_library(event: RecordEnteredState, session: Session) -> None:
    """A scope names clauses of the library (the checklist is made from them)."""
    if event.workflow_key != WORKFLOW or event.trigger not in ("create", SAVE_PLAN):
        return
    row = load_record_row(session, record_id=event.record_id)
    unknown = unknown_prefixes(row.data.get("scope_clauses"))
    if unknown or not scope_clauses(row.data.get("scope_clauses")):
        listed = "、".join(unknown) or str(row.data.get("scope_clauses") or "")
        raise _refused(
            "scope_clauses",
            f"条款库中没有这些条款：{listed}",
            f"The clause library has no such clause: {listed.replace('、', ', ')}",
        )


def _user_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(col(User.id), col(User.display_name)).where(col(User.id).in_(ids))).all()
    return {user_id: name for user_id, name in rows}


def _independence_refusal(session: Session, conflicts: list[Any]) -> SeparationRefused:
    text = described(conflicts, _user_names(session, {c.member for c in conflicts}))
    return SeparationRefused(
        Text(
            zh=f"审核员独立性冲突：{text.zh}。请调整审核组，或申请豁免（须写明理由并由第二人批准）",
            en=f"Auditor independence conflict: {text.en}. Change the team, or request an override "
            "(with a reason, approved by a second person)",
        )
    )


@policy(RecordEnteredState)
def an_override_needs_a_conflict(event: RecordEnteredState, session: Session) -> None:
    if event.workflow_key != WORKFLOW or event.trigger != REQUEST_OVERRIDE:
        return
    row = load_record_row(session, record_id=event.record_id)
    if not team_conflicts(session, org_id=event.org_id, record_id=event.record_id, data=row.data):
        raise GuardRefused(
            Text(
                zh="审核组没有独立性冲突，无需豁免",
                en="The team has no independence conflict: no override needed",
            )
        )


@action("request_the_override")
def request_the_override(context: GuardContext) -> dict[str, Any]:
    return {
        "override_status": REQUESTED,
        "override_requested_by": context.actor_id,
        "override_approved_by": None,
        "override_plan": plan_fingerprint(context.record_data),
    }


@guard("override_requested")
def override_requested(context: GuardContext) -> Text | None:
    data = context.record_data
    if data.get("override_status") != REQUESTED or data.get("override_plan") != plan_fingerprint(data):
        return Text(
            zh="没有待批准的豁免申请（或申请后计划已修改，请重新申请）",
            en="No override is waiting (or the plan changed since it was requested: request it again)",
        )
    return None


@action("approve_the_override")
def approve_the_override(context: GuardContext) -> dict[str, Any]:
    return {"override_status": APPROVED, "override_approved_by": context.actor_id}


# ---- the checklist -------------------------------------------------------------------------------------


def _finding_ids(data: dict[str, Any]) -> set[int]:
    return {row["finding"] for row in checklist_rows(data) if isinstance(row.get("finding"), int)}


def _reaudited_ids(data: dict[str, Any]) -> set[int]:
    return {row["reaudited"] for row in checklist_rows(data) if isinstance(row.get("reaudited"), int)}


def reaudit_rows(session: Session, *, record_id: int, clauses: set[str]) -> list[dict[str, Any]]:
    """A row per finding of an earlier audit, of a clause in scope, that is closed and not re-audited yet."""
    earlier = [
        audit
        for audit in records_in_states(
            session, workflow_key=WORKFLOW, states=(PLANNING, FIELDWORK, *DONE_STATES)
        )
        if audit.id != record_id
    ]
    reaudited = set().union(*(_reaudited_ids(audit.data) for audit in earlier)) if earlier else set()
    wanted: dict[int, str] = {}
    for audit in earlier:
        for row in checklist_rows(audit.data):
            finding = row.get("finding")
            if isinstance(finding, int) and row.get("clause") in clauses and finding not in reaudited:
                wanted[finding] = str(row["clause"])
    if not wanted:
        return []
    findings = session.scalars(
        select(Record).where(col(Record.id).in_(wanted), col(Record.closed_at).is_not(None))
    ).all()
    return [
        reaudit_row(clause=wanted[f.id], finding_id=f.id, finding_number=f.number, finding_title=f.title)
        for f in sorted(findings, key=lambda f: (wanted[f.id or 0], f.id or 0))
        if f.id is not None
    ]


def generated_checklist(session: Session, *, record_id: int, data: dict[str, Any]) -> list[dict[str, Any]]:
    clauses = scope_clauses(data.get("scope_clauses"))
    numbers = {clause.number for clause in clauses}
    return question_rows(clauses) + reaudit_rows(session, record_id=record_id, clauses=numbers)


@policy(RecordEnteredState)
def confirming_checks_the_team_and_makes_the_checklist(event: RecordEnteredState, session: Session) -> None:
    """Confirming the plan: the team must be independent (or covered by an approved override); then the
    checklist is loaded, in the confirmer's name."""
    if event.workflow_key != WORKFLOW or event.trigger != SUBMIT_PLAN:
        return
    row = load_record_row(session, record_id=event.record_id)
    conflicts = team_conflicts(session, org_id=event.org_id, record_id=event.record_id, data=row.data)
    if conflicts and not override_covers(row.data):
        raise _independence_refusal(session, conflicts)
    fire_transition(
        session,
        record_id=event.record_id,
        trigger=LOAD_CHECKLIST,
        actor=_loader(event.actor),
        form_data={"checklist": generated_checklist(session, record_id=event.record_id, data=row.data)},
        expected_version=row.version,
        comment="按条款库生成检查表" + ("（独立性豁免已批准）" if conflicts else ""),
    )


def _same_rows(stored: list[dict[str, Any]], wanted: list[dict[str, Any]], keys: tuple[str, ...]) -> bool:
    def shape(rows: list[dict[str, Any]]) -> list[tuple[str | None, ...]]:
        return [tuple(comparable(row.get(key)) for key in keys) for row in rows]

    return shape(stored) == shape(wanted)


@policy(RecordEnteredState)
def the_checklist_is_the_librarys(event: RecordEnteredState, session: Session) -> None:
    """Whoever loads the checklist, it is exactly the one made from the library for the scope, unanswered."""
    if event.workflow_key != WORKFLOW or event.trigger != LOAD_CHECKLIST:
        return
    row = load_record_row(session, record_id=event.record_id)
    stored = checklist_rows(row.data)
    wanted = generated_checklist(session, record_id=event.record_id, data=row.data)
    keys = ("clause", "question", "kind", "max_points", "reaudited", "answer", "finding")
    if not _same_rows(stored, wanted, keys):
        raise GuardRefused(
            Text(
                zh="检查表只能按条款库和审核范围生成，不能手工填写",
                en="The checklist is made from the clause library for the scope; it cannot be typed",
            )
        )


# ---- fieldwork -----------------------------------------------------------------------------------------


def _item(context: GuardContext) -> int | None:
    number = as_decimal(context.form_data.get("item"))
    rows = checklist_rows(context.record_data)
    if number is None or number != number.to_integral_value() or not 1 <= number <= len(rows):
        return None
    return int(number) - 1


@guard("item_exists")
def item_exists(context: GuardContext) -> Text | None:
    if _item(context) is None:
        count = len(checklist_rows(context.record_data))
        return Text(
            zh=f"检查表没有这一项（共 {count} 项）", en=f"The checklist has no such item (it has {count})"
        )
    return None


@guard("finding_described")
def finding_described(context: GuardContext) -> Text | None:
    answer = rules().answers.get(str(context.form_data.get("answer")))
    if answer is not None and answer.is_finding and not str(context.form_data.get("note") or "").strip():
        return Text(
            zh=f"「{answer.label.zh}」须填写发现描述",
            en=f"Describe the finding of a '{answer.label.en}' answer",
        )
    return None


ANSWER_FIELDS = ("item", "answer", "evidence", "auditee", "note")  # ia_answer's: kept on the row only


@action("record_the_answer")
def record_the_answer(context: GuardContext) -> dict[str, Any]:
    """The row gets the answer, its points by the scale, the evidence, the auditee, the finding (of a
    finding's answer) and the auditor; the form's fields are not kept besides (the next form is empty)."""
    index = _item(context)
    rows = [dict(row) for row in checklist_rows(context.record_data)]
    if index is None:
        return {}
    form = context.form_data
    finding = rules().answers[str(form.get("answer"))].is_finding
    rows[index].update(
        answer=form.get("answer"),
        points=str(earned(form.get("answer"), rows[index].get("max_points"))),
        evidence=form.get("evidence"),
        auditee=form.get("auditee"),
        note=form.get("note") if finding else None,
        answered_by=context.actor_id,
    )
    rows[index] = {key: value for key, value in rows[index].items() if value is not None}
    return {"checklist": rows, "last_item": index + 1, **dict.fromkeys(ANSWER_FIELDS)}


@policy(RecordEnteredState)
def answers_come_from_an_independent_auditor(event: RecordEnteredState, session: Session) -> None:
    """Only an auditor of the team answers, and not on their own unit or records (unless overridden)."""
    if event.workflow_key != WORKFLOW or event.trigger != ANSWER:
        return
    row = load_record_row(session, record_id=event.record_id)
    if event.actor.id not in team_members(row.data):
        raise SeparationRefused(
            Text(zh="只有审核组成员可以记录审核结果", en="Only an auditor of the team records answers")
        )
    item = as_decimal(row.data.get("last_item"))
    rows = checklist_rows(row.data)
    clause = str(rows[int(item) - 1].get("clause")) if item is not None and 1 <= item <= len(rows) else ""
    conflicts = answer_conflicts(
        session,
        org_id=event.org_id,
        record_id=event.record_id,
        data=row.data,
        auditor=event.actor.id,
        clause=clause,
    )
    if conflicts and not override_covers(row.data):
        raise _independence_refusal(session, conflicts)


@computed("internal_audit_status")
def audit_status(context: ComputeContext) -> dict[str, Any]:
    data = context.data
    rows = checklist_rows(data)
    totals = scores_by_clause(rows)
    score = sum((got for got, _ in totals.values()), Decimal(0))
    top = sum((as_decimal(row.get("max_points")) or Decimal(0) for row in rows), Decimal(0))
    covers = data.get("override_plan") == plan_fingerprint(data)
    return {
        "items": len(rows) or None,
        "answered": sum(1 for row in rows if row.get("answer")) if rows else None,
        "score": str(score) if rows else None,
        "max_score": str(top) if rows else None,
        "score_percent": str((score * 100 / top).quantize(Decimal("0.1"))) if top else None,
        "findings_count": sum(1 for row in rows if is_finding(row)) if rows else None,
        "override_status": data.get("override_status") if covers else None,
        "override_requested_by": data.get("override_requested_by") if covers else None,
        "override_approved_by": data.get("override_approved_by") if covers else None,
    }


# ---- the report and its findings -----------------------------------------------------------------------


@guard("every_item_answered")
def every_item_answered(context: GuardContext) -> Text | None:
    rows = checklist_rows(context.record_data)
    open_items = [str(number) for number, row in enumerate(rows, start=1) if not row.get("answer")]
    if not rows or open_items:
        shown = "、".join(open_items[:10])
        return Text(
            zh=f"检查表尚有 {len(open_items)} 项未审核（第 {shown} 项）",
            en=f"{len(open_items)} checklist items are not answered yet (items {shown.replace('、', ', ')})",
        )
    return None


def _issued_shape(rows: list[dict[str, Any]]) -> str:
    content = [
        {
            key: comparable(value)
            for key, value in sorted(row.items())
            if key != "finding" and comparable(value)
        }
        for row in rows
    ]
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


@action("fix_the_issued_checklist")
def fix_the_issued_checklist(context: GuardContext) -> dict[str, Any]:
    """The checklist as issued: later steps may only add each finding's record to it."""
    return {"issued_checklist": _issued_shape(checklist_rows(context.record_data))}


def _finding_form(
    audit: Record, row: dict[str, Any], number: int, *, owner: int | None
) -> tuple[str, dict[str, Any]]:
    answer = rules().answers[str(row["answer"])]
    kind = answer.becomes or NONCONFORMITY
    note = str(row.get("note") or "")
    title = f"【{answer.label.zh}】{audit.number} 第 {number} 项（{row['clause']}）：{note}"[:200]
    description = (
        f"内部审核 {audit.number}「{audit.title}」检查表第 {number} 项，条款 {row['clause']}。\n"
        f"检查内容：{row.get('question')}\n发现：{note}\n审核证据：{row.get('evidence')}\n"
        f"受审核人：{row.get('auditee')}"
    )[:4000]
    found_on = audit.data.get("report_date") or china_today().isoformat()
    if kind == NONCONFORMITY:
        units = [r.get("unit") for r in audit.data.get("scope_units") or [] if isinstance(r, dict)]
        return kind, {
            "title": title,
            "source": SOURCE,
            "description": description,
            "found_on": found_on,
            "org_unit": units[0] if len(units) == 1 else None,
            "clause": row["clause"],
            "related_record": audit.id,
        }
    return kind, {
        "title": title,
        "source": SOURCE,
        "source_record": audit.id,
        "description": description,
        "owner": owner,
    }


@policy(RecordEnteredState)
def findings_become_records(event: RecordEnteredState, session: Session) -> None:
    """Issuing the report: each finding becomes a nonconformity (a nonconformity answer) or an improvement
    item (an observation or an opportunity), linked to the audit; its row then shows the record."""
    if event.workflow_key != WORKFLOW or event.trigger != ISSUE:
        return
    audit = session.get(Record, event.record_id)
    catalog = process_context(session).catalog
    if audit is None:
        return
    rows = [dict(row) for row in checklist_rows(audit.data)]
    made = 0
    for number, row in enumerate(rows, start=1):
        if not is_finding(row) or isinstance(row.get("finding"), int):
            continue
        kind, form = _finding_form(audit, row, number, owner=event.actor.id)
        workflow = catalog.get(FINDING_WORKFLOWS[kind])
        if workflow is None:
            continue
        finding = create_record(
            session, workflow=workflow, org_id=event.org_id, actor=event.actor, form_data=form
        )
        row["finding"] = finding.id
        made += 1
    if made:
        version = load_record_row(session, record_id=event.record_id).version
        fire_transition(
            session,
            record_id=event.record_id,
            trigger=RECORD_FINDINGS,
            actor=_loader(event.actor),
            form_data={"checklist": rows},
            expected_version=version,
            comment=f"审核发现已转入不符合/改进记录 {made} 条",
        )


@policy(RecordEnteredState)
def findings_are_this_audits(event: RecordEnteredState, session: Session) -> None:
    """Recording the findings changes nothing of the issued checklist but each finding's record, which is a
    nonconformity or an improvement item raised from this audit."""
    if event.workflow_key != WORKFLOW or event.trigger != RECORD_FINDINGS:
        return
    data = load_record_row(session, record_id=event.record_id).data
    rows = checklist_rows(data)
    ids = _finding_ids(data)
    findings = session.scalars(select(Record).where(col(Record.id).in_(ids))).all() if ids else []
    raised_here = {
        f.id
        for f in findings
        if f.workflow_key in FINDING_WORKFLOWS.values()
        and event.record_id in (f.data.get("related_record"), f.data.get("source_record"))
    }
    if _issued_shape(rows) != data.get("issued_checklist") or raised_here != ids:
        raise GuardRefused(
            Text(
                zh="签发后的检查表不能修改，只能登记由本次审核发现转入的记录",
                en="The issued checklist cannot change; only the records raised from its findings are added",
            )
        )


@policy(RecordEnteredState)
def closing_needs_the_findings_closed(event: RecordEnteredState, session: Session) -> None:
    """An audit closes when its findings' records are closed, or with the follow-up of those still open."""
    if event.workflow_key != WORKFLOW or event.trigger != CLOSE:
        return
    data = load_record_row(session, record_id=event.record_id).data
    ids = _finding_ids(data)
    still_open = (
        session.scalars(
            select(col(Record.number)).where(col(Record.id).in_(ids), col(Record.closed_at).is_(None))
        ).all()
        if ids
        else []
    )
    if still_open and not str(data.get("follow_up") or "").strip():
        listed = "、".join(sorted(still_open))
        raise _refused(
            "follow_up",
            f"发现尚未关闭（{listed}）：请填写跟踪安排",
            f"Findings still open ({listed.replace('、', ', ')}): note their follow-up",
        )


# ---- the self-assessment score per clause --------------------------------------------------------------


def clause_scores(session: Session, day: date) -> Iterator[ClauseScore]:
    """Per clause, the points of the latest audit (report issued on or before ``day``) that checked it."""
    latest: dict[str, ClauseScore] = {}
    audits = records_in_states(session, workflow_key=WORKFLOW, states=DONE_STATES)
    for audit in sorted(audits, key=lambda a: (str(a.data.get("report_date") or ""), a.id or 0)):
        issued = as_date(audit.data.get("report_date"))
        if issued is None or issued > day or audit.id is None:
            continue
        for clause, (points, top) in scores_by_clause(checklist_rows(audit.data)).items():
            latest[clause] = ClauseScore(clause, points, top, audit.id, issued)
    yield from latest.values()


register_score_source(WORKFLOW, clause_scores)
