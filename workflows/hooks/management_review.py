"""9.4 management review: the input pack compiled into the record, frozen and hashed at approval, and the
outputs' actions opened as improvement records linked to the review.

A review entering ``mr_compiling`` (started, or its inputs refreshed) gets its inputs compiled from live
data (workflows/hooks/review_inputs.py) and moves on to preparing, in the same transaction, by the process
firing ``compile_review_inputs`` with the compiled figures in the name of whoever started or refreshed it.
The pack's SHA-256 is a computed value, written with every change of the inputs; the approval — the
signature — is the last write: it sets the day the pack was frozen in that same write, so the signature
covers the pack and its hash (ADR 0014: a signature hashes the record's data as signed, so nothing may be
written after it). The actions are created after the signature as other records that point at the review:
the review's own data does not change (ADR 0029)."""

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session, col, select

from engine.audit import canonical_json
from engine.carbon_data.restatement import register_figure_users
from engine.events import policy
from engine.forms.spec import FormSpec, Text
from engine.records.display import CHINA_TIME
from engine.records.queries import linked_records, records_in_states
from engine.reports.periods import declare_period
from engine.trust_chain.registry import FrozenFigure, FrozenFigures, register_frozen_figures
from engine.workflow.access import ActorRef
from engine.workflow.computed import china_today
from engine.workflow.events import RecordEnteredState
from engine.workflow.lifecycle import create_record, fire_transition, process_context
from engine.workflow.models import Record
from engine.workflow.registry import (
    ComputeContext,
    GuardContext,
    computed,
    declare_names,
    guard,
    start_condition,
)
from engine.workflow.writes import as_date, load_record_row
from workflows.hooks.review_inputs import (
    IMPROVEMENTS,
    REVIEW_APPROVED,
    REVIEWS,
    SECTIONS,
    Section,
    compile_inputs,
    review_period,
)

CREATE = "create"
REFRESH = "refresh_review_inputs"
COMPILE = "compile_review_inputs"
APPROVE = "approve_management_review"
COMPILER_ROLE = "admin"  # the role the workflow file gives COMPILE; the process fires it
declare_names(REVIEWS, states=("mr_compiling", "mr_closed"), triggers=(REFRESH, COMPILE, APPROVE))
declare_names(IMPROVEMENTS)
# The pack covers review_since … review_until; before it is compiled, the year under review.
declare_period(REVIEWS, start="review_since", end="review_until", year="review_year")
PACK_FIELDS = (
    "figures_year",
    "review_since",
    "review_until",
    "inputs_compiled_at",
    "input_summaries",
    "inputs",
)


def _year(value: Any) -> int | None:
    try:
        return int(Decimal(str(value))) if value is not None else None
    except (InvalidOperation, ValueError):
        return None


def pack_form(
    sections: list[Section], *, year: int, since: date, until: date, at: datetime
) -> dict[str, Any]:
    """The compiled sections as the values of forms/mr_inputs.yaml."""
    return {
        "inputs_compiled_at": at.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M"),
        "figures_year": str(year),
        "review_since": since.isoformat(),
        "review_until": until.isoformat(),
        "input_summaries": [
            {"section": s.key, "summary_zh": s.summary.zh, "summary_en": s.summary.en} for s in sections
        ],
        "inputs": [
            {"section": s.key, "item": item, "value": value, "unit": unit}
            for s in sections
            for item, value, unit in s.lines
        ],
    }


@policy(RecordEnteredState)
def compile_the_inputs(event: RecordEnteredState, session: Session) -> None:
    """A review started or refreshed gets its inputs compiled from live data, then moves on to preparing."""
    if event.workflow_key != REVIEWS or event.trigger not in (CREATE, REFRESH):
        return
    row = load_record_row(session, record_id=event.record_id)
    today = china_today()
    period = review_period(
        session, org_id=event.org_id, year=_year(row.data.get("review_year")), review_id=row.id, today=today
    )
    sections = compile_inputs(session, org_id=event.org_id, period=period, review_id=row.id)
    compiler = ActorRef(id=event.actor.id, name=event.actor.name, roles=frozenset({COMPILER_ROLE}))
    fire_transition(
        session,
        record_id=event.record_id,
        trigger=COMPILE,
        actor=compiler,
        form_data=pack_form(
            sections, year=period.year, since=period.since, until=period.until, at=datetime.now(CHINA_TIME)
        ),
        expected_version=row.version,
    )


def pack_sha256(data: dict[str, Any]) -> str | None:
    """The SHA-256 of the input pack's canonical JSON (sorted keys, no spaces), None before it is compiled."""
    if "inputs" not in data:
        return None
    pack = {name: data.get(name) for name in PACK_FIELDS}
    return hashlib.sha256(canonical_json(pack).encode()).hexdigest()


# A performance line of the pack reads "<parameter name>（<year>）": the trust chain links it to its trace.
_PARAMETER_ITEM = re.compile(r"^(?P<name>.+)（(?P<year>\d{4})）$")


def frozen_figures(record: Record) -> FrozenFigures:
    """The pack's performance figures as frozen, with its stored hash and the hash computed again."""
    figures = []
    for line in record.data.get("inputs") or []:
        if not isinstance(line, dict) or line.get("section") != "performance":
            continue
        item = str(line.get("item") or "")
        match = _PARAMETER_ITEM.match(item)
        figures.append(
            FrozenFigure(
                label=item,
                value=None if line.get("value") in (None, "—") else str(line.get("value")),
                unit=str(line.get("unit") or ""),
                parameter_name=match["name"] if match else None,
                year=int(match["year"]) if match else None,
            )
        )
    return FrozenFigures(
        recorded_sha256=record.data.get("pack_sha256"),
        computed_sha256=pack_sha256(record.data),
        frozen_on=record.data.get("pack_frozen_on"),
        figures=tuple(figures),
    )


register_frozen_figures(REVIEWS, frozen_figures)


@register_figure_users
def reviews_of_year(session: Session, year: int, snapshot_ids: frozenset[int]) -> list[Record]:
    """The approved reviews that froze the year's figures (a restatement of the year names them)."""
    return [
        record
        for record in records_in_states(session, workflow_key=REVIEWS, states=(REVIEW_APPROVED,))
        if _year(record.data.get("figures_year")) == year and record.data.get("pack_frozen_on")
    ]


@computed("management_review_pack")
def pack_hash(context: ComputeContext) -> dict[str, Any]:
    """The pack's hash as it stands; the approval (the signature, the last write) freezes it on its day."""
    values: dict[str, Any] = {"pack_sha256": pack_sha256(context.data)}
    if context.trigger == APPROVE:
        values["pack_frozen_on"] = context.today.isoformat()
    return values


@guard("review_inputs_compiled")
def inputs_compiled(context: GuardContext) -> Text | None:
    if not context.record_data.get("inputs_compiled_at"):
        return Text(zh="评审输入尚未汇编", en="The review's inputs are not compiled yet")
    return None


@guard("review_meeting_not_in_future")
def meeting_not_in_future(context: GuardContext) -> Text | None:
    held = as_date(context.record_data.get("meeting_date"))
    if held is not None and held > china_today():
        return Text(
            zh="会议日期不能晚于今天：请在会议召开后记录",
            en="The meeting date cannot be after today: record it once held",
        )
    return None


REVISE = "revise"


@guard("review_changes_explained")
def changes_explained(context: GuardContext) -> Text | None:
    data = context.record_data
    if REVISE in (data.get("policy_change"), data.get("objectives_change")) and not data.get("changes_note"):
        return Text(
            zh="方针或目标需变更时，请填写“方针/目标变更说明”",
            en="When the policy or objectives change, fill in “Changes to the policy or objectives”",
        )
    return None


@policy(RecordEnteredState)
def open_the_actions(event: RecordEnteredState, session: Session) -> None:
    """Each action of an approved review becomes an improvement record pointing at the review (the link
    shows on both), owned and due as the outputs say. The review itself is not written again."""
    if event.workflow_key != REVIEWS or event.trigger != APPROVE:
        return
    row = load_record_row(session, record_id=event.record_id)
    improvements = process_context(session).catalog.get(IMPROVEMENTS)
    if row is None or improvements is None:
        return
    for action in row.data.get("actions") or []:
        create_record(
            session,
            workflow=improvements,
            org_id=event.org_id,
            actor=event.actor,
            form_data={
                "title": action["action"],
                "source": "management_review",
                "source_record": row.id,
                "description": f"管理评审 {row.number}「{row.title}」输出的措施：{action['action']}",
                "owner": action["owner"],
                "due_date": action["due"],
            },
        )


@dataclass(frozen=True)
class PackSection:
    key: str
    title: Text
    summary: Text
    lines: list[dict[str, str]]


def pack_sections(data: dict[str, Any], form: FormSpec) -> list[PackSection]:
    """The stored pack, section by section, with each section's title from the form (for the pack page and
    the docx: what was compiled, or frozen, never the live figures)."""
    summaries = {
        row.get("section"): row for row in data.get("input_summaries") or [] if isinstance(row, dict)
    }
    table = form.field("input_summaries")
    column = next(c for c in table.columns if c.name == "section") if table else None
    titles = {c.value: Text(zh=c.zh, en=c.en) for c in column.choices} if column else {}
    sections = []
    for key in SECTIONS:
        summary = summaries.get(key) or {}
        sections.append(
            PackSection(
                key=key,
                title=titles.get(key, Text(zh=key, en=key)),
                summary=Text(
                    zh=str(summary.get("summary_zh") or ""), en=str(summary.get("summary_en") or "")
                ),
                lines=[
                    {
                        "item": str(line.get("item") or ""),
                        "value": str(line.get("value") or ""),
                        "unit": str(line.get("unit") or ""),
                    }
                    for line in data.get("inputs") or []
                    if isinstance(line, dict) and line.get("section") == key
                ],  # fmt: skip
            )
        )
    return sections


def review_actions(session: Session, *, review_id: int) -> list[Record]:
    """The improvement records the review's approved actions became (they link to it), oldest first."""
    linked = linked_records(session, record_id=review_id)
    return sorted(
        (r for r in linked if r.workflow_key == IMPROVEMENTS and r.data.get("source_record") == review_id),
        key=lambda r: r.id or 0,
    )


def reviews(session: Session) -> list[Record]:
    """The organization's management reviews, newest first."""
    workflow = process_context(session).catalog.get(REVIEWS)
    states = tuple(workflow.spec.states) if workflow else ()
    return sorted(records_in_states(session, workflow_key=REVIEWS, states=states), key=lambda r: -(r.id or 0))


@start_condition("management_system_established")
def a_policy_is_in_force(session: Session, org_id: int, today: date) -> bool:
    """The scheduler starts the yearly review only where a carbon policy is in force (5.2): an organization
    that has not set up its management system has none to review."""
    in_force = select(Record.id).where(
        col(Record.org_id) == org_id,
        col(Record.workflow_key) == "carbon_policy",
        col(Record.state) == "in_force",
    )
    return session.exec(in_force).first() is not None
