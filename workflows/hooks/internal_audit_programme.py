"""9.3 the annual internal audit programme: its rows (one per clause group) derived from the risk register
and the previous year's audit findings, each row's frequency and default months by the rule in
workflows/data/internal_audit.yaml, and the scheduler's job that starts each planned month's audit of a
programme in force (once: the claim is written with the new audit)."""

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlmodel import Session

from engine.events import policy
from engine.forms.spec import Text
from engine.records.queries import records_in_states
from engine.reports.periods import declare_period
from engine.scheduler.registry import JobContext, ScheduledJob, register_job
from engine.workflow.access import ActorRef
from engine.workflow.errors import GuardRefused
from engine.workflow.events import RecordEnteredState
from engine.workflow.lifecycle import create_record, fire_transition, process_context
from engine.workflow.registry import ComputeContext, GuardContext, action, computed, declare_names, guard
from engine.workflow.writes import as_date, load_record_row
from workflows.hooks.internal_audit_rules import as_decimal, checklist_rows, rules, unknown_prefixes

WORKFLOW = "internal_audit_programme"
IN_FORCE = "in_force"
LOAD_BASIS, PLAN_MONTHS, APPROVE = "load_basis", "plan_months", "approve_programme"
declare_names(WORKFLOW, states=("drafting", IN_FORCE), triggers=(LOAD_BASIS, PLAN_MONTHS, APPROVE))
AUDITS = "internal_audit"
RISKS, REGISTERED = "risk_opportunity", "registered"
declare_names(AUDITS, states=("reported", "closed"))
declare_names(RISKS, states=(REGISTERED,))
declare_period(WORKFLOW, year="year")
LEVELS = ("none", "low", "medium", "high", "very_high")  # the risk levels, lowest first
TWICE, ONCE = "twice", "once"
RULE = "by_risk_and_results"  # the one choice of ia_programme_status's frequency_rule: the rule, in words
STARTER_ROLE = "quality_manager"  # the role the scheduler starts an audit with (one of ia_start's roles)


def _under(clause: Any, prefix: str) -> bool:
    return str(clause) == prefix or str(clause).startswith(prefix + ".")


def _findings(session: Session, *, year: int) -> dict[str, tuple[int, int]]:
    """Per clause group, the (minor, major) nonconformities of the audits reported in ``year``."""
    scale = rules().answers
    counts: dict[str, tuple[int, int]] = {}
    for audit in records_in_states(session, workflow_key=AUDITS, states=("reported", "closed")):
        issued = as_date(audit.data.get("report_date"))
        if issued is None or issued.year != year:
            continue
        for row in checklist_rows(audit.data):
            answer = scale.get(str(row.get("answer")))
            if answer is None or answer.severity is None:
                continue
            for group in rules().groups:
                if _under(row.get("clause"), group.clauses):
                    minor, major = counts.get(group.clauses, (0, 0))
                    is_major = answer.key == rules().twice_after
                    counts[group.clauses] = (minor + (not is_major), major + is_major)
    return counts


def _risk_levels(session: Session) -> dict[str, str]:
    """Per risk kind, the highest level (residual where assessed) of the registered risks."""
    levels: dict[str, str] = {}
    for risk in records_in_states(session, workflow_key=RISKS, states=(REGISTERED,)):
        if risk.data.get("nature") != "risk":
            continue
        level = str(risk.data.get("residual_level") or risk.data.get("level") or "none")
        kind = str(risk.data.get("kind"))
        if level in LEVELS and LEVELS.index(level) > LEVELS.index(levels.get(kind, "none")):
            levels[kind] = level
    return levels


def derived_basis(session: Session, *, year: int) -> list[dict[str, Any]]:
    """The rows' basis: each clause group's risk and the previous year's findings."""
    levels, findings = _risk_levels(session), _findings(session, year=year - 1)
    rows = []
    for group in rules().groups:
        level = max((levels.get(kind, "none") for kind in group.risk_kinds), key=LEVELS.index, default="none")
        minor, major = findings.get(group.clauses, (0, 0))
        rows.append(
            {
                "clauses": group.clauses,
                "process": f"{group.label.zh} {group.label.en}",
                "risk_level": level,
                "minor_findings": minor,
                "major_findings": major,
            }
        )
    return rows


def frequency(row: dict[str, Any]) -> str:
    level = str(row.get("risk_level") or "none")
    rank = LEVELS.index(level) if level in LEVELS else 0
    major = as_decimal(row.get("major_findings")) or Decimal(0)
    return TWICE if rank >= LEVELS.index(rules().twice_from_level) or major > 0 else ONCE


def default_months(row: dict[str, Any]) -> tuple[int, ...]:
    months = rules().months
    if frequency(row) == TWICE:
        return months["twice"]
    return (
        months["once_with_findings"] if (as_decimal(row.get("minor_findings")) or 0) > 0 else months["once"]
    )


def _rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = data.get("rows")
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def months_of(row: dict[str, Any]) -> list[int]:
    found = [as_decimal(row.get(name)) for name in ("first_month", "second_month")]
    return [int(month) for month in found if month is not None]


@action("apply_the_frequency")
def apply_the_frequency(context: GuardContext) -> dict[str, Any]:
    """Each row's frequency by the rule; a row without months gets the rule's default months."""
    rows = []
    for row in _rows(context.record_data):
        row = {**row, "frequency": frequency(row)}
        if not months_of(row):
            months = default_months(row)
            row.update(first_month=months[0], second_month=months[1] if len(months) > 1 else None)
        rows.append({key: value for key, value in row.items() if value is not None})
    return {"rows": rows}


@guard("months_match_frequency")
def months_match_frequency(context: GuardContext) -> Text | None:
    for row in _rows(context.record_data):
        wanted = 2 if frequency(row) == TWICE else 1
        months = months_of(row)
        if len(months) != wanted or len(set(months)) != len(months):
            return Text(
                zh=f"条款组 {row.get('clauses')} 按规则每年审核 {wanted} 次，应填写 {wanted} 个不同的月份",
                en=f"Clause group {row.get('clauses')} is audited {wanted} time(s) a year by the rule: "
                f"give {wanted} different month(s)",
            )
    return None


@computed("internal_audit_programme_rows")
def programme_status(context: ComputeContext) -> dict[str, Any]:
    rows = _rows(context.data)
    planned = {month for row in rows for month in months_of(row)}
    approved = context.today.isoformat() if context.trigger == APPROVE else context.data.get("approved_on")
    return {"audits_planned": len(planned) or None, "approved_on": approved, "frequency_rule": RULE}


def _year(data: dict[str, Any]) -> int | None:
    year = as_decimal(data.get("year"))
    return int(year) if year is not None else None


@policy(RecordEnteredState)
def a_new_programme_derives_its_rows(event: RecordEnteredState, session: Session) -> None:
    if event.workflow_key != WORKFLOW or event.trigger != "create":
        return
    row = load_record_row(session, record_id=event.record_id)
    year = _year(row.data) or 0
    fire_transition(
        session,
        record_id=event.record_id,
        trigger=LOAD_BASIS,
        actor=event.actor,
        form_data={"rows": derived_basis(session, year=year)},
        expected_version=row.version,
        comment="按风险登记册和上一年度内审发现生成",
    )


BASIS_KEYS = ("clauses", "process", "risk_level", "minor_findings", "major_findings")


@policy(RecordEnteredState)
def the_basis_is_the_registers(event: RecordEnteredState, session: Session) -> None:
    """The risk and the past results of each row are those of the registers (the months are the planner's);
    approving checks them again, so a risk raised meanwhile is not approved past."""
    if event.workflow_key != WORKFLOW or event.trigger not in (LOAD_BASIS, PLAN_MONTHS, APPROVE):
        return
    data = load_record_row(session, record_id=event.record_id).data
    wanted = derived_basis(session, year=_year(data) or 0)

    def shape(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
        return [tuple(str(as_decimal(r.get(k)) or r.get(k)) for k in BASIS_KEYS) for r in rows]

    if shape(_rows(data)) != shape(wanted):
        raise GuardRefused(
            Text(
                zh="各条款组的风险等级和以往审核结果须取自登记册（已有变化时请重新生成方案）",
                en="Each group's risk and past results come from the registers "
                "(if they changed, derive the rows again)",
            )
        )


# ---- the scheduler starts each month's audit -----------------------------------------------------------


def _months_due(data: dict[str, Any], *, today: date) -> dict[int, list[str]]:
    """The planned months up to this one (from the month of approval) → their clause groups."""
    approved = as_date(data.get("approved_on"))
    first = approved.month if approved is not None and approved.year == today.year else 1
    due: dict[int, list[str]] = {}
    for row in _rows(data):
        for month in months_of(row):
            if first <= month <= today.month and not unknown_prefixes(row.get("clauses")):
                due.setdefault(month, []).append(str(row.get("clauses")))
    return due


def start_planned_audits(ctx: JobContext) -> Iterator[str]:
    workflow = process_context(ctx.session).catalog.get(AUDITS)
    if workflow is None:
        return
    for programme in records_in_states(ctx.session, workflow_key=WORKFLOW, states=(IN_FORCE,)):
        if _year(programme.data) != ctx.today.year or programme.id is None:
            continue
        for month, groups in sorted(_months_due(programme.data, today=ctx.today).items()):
            period = f"{ctx.today.year}-{month:02d}"
            if not ctx.claim(f"{WORKFLOW}:{programme.id}", period):
                continue
            actor = ActorRef(id=cast(int, None), name="scheduler", roles=frozenset({STARTER_ROLE}))
            audit = create_record(
                ctx.session,
                workflow=workflow,
                org_id=ctx.org_id,
                actor=actor,
                form_data={
                    "title": f"{ctx.today.year}年{month}月内部审核（{programme.number}）",
                    "scope_clauses": ", ".join(groups),
                    "planned_start": date(ctx.today.year, month, 1).isoformat(),
                    "programme": programme.id,
                },
                today=ctx.today,
            )
            yield f"按审核方案 {programme.number} 启动内部审核：{audit.number}「{audit.title}」"


register_job(
    ScheduledJob(
        "internal_audit_starts",
        Text(zh="按方案启动内部审核", en="Internal audits started by the programme"),
        start_planned_audits,
    )
)
