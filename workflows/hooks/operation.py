"""8.1–8.5 operation: the computed values of the design review, supplier evaluation and operating-criterion
registers, the guard that a design review covers energy metering (GB 17167), the policy that a measured
value outside an operating criterion's range opens a nonconformity, and the scheduler's reminder that a
supplier's next evaluation is due."""

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session

from engine.dqcp.anomalies import Anomaly, AnomalyFound
from engine.events import announce, policy
from engine.forms.spec import Text
from engine.records.queries import records_in_states
from engine.scheduler.reviews import ReviewDue, ReviewHook, register_review
from engine.workflow.errors import FORM_HAS_ERRORS, FormRefused
from engine.workflow.events import RecordEnteredState
from engine.workflow.models import Record
from engine.workflow.registry import ComputeContext, GuardContext, computed, declare_names, guard
from workflows.hooks.metering_instrument import add_months

DESIGN_REVIEW = "design_review"
SUPPLIERS = "supplier_evaluation"
CRITERIA = "operating_criterion"
RECORD_DEVIATION = "record_deviation"
QUALIFIED, SUSPENDED = "qualified", "suspended"
METERING = "energy_metering"  # the checklist aspect GB 17167 asks every design to answer
declare_names(CRITERIA, triggers={RECORD_DEVIATION})
declare_names(SUPPLIERS, states={QUALIFIED, SUSPENDED})
REMIND_DAYS = 30  # a supplier's buyer is reminded this many days before the next evaluation falls due


def as_decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None
    return number if number is not None and number.is_finite() else None


def as_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def plain(number: Decimal) -> str:
    """A Decimal as people write it: no exponent, no trailing zeros."""
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---- 8.2 design review -------------------------------------------------------------------------------


def _rows(value: Any) -> list[dict[str, Any]]:
    return [row for row in value or [] if isinstance(row, dict)] if isinstance(value, list) else []


@computed("design_review_checklist")
def checklist_summary(context: ComputeContext) -> dict[str, Any]:
    rows = _rows(context.data.get("checklist"))
    count = {result: sum(1 for row in rows if row.get("result") == result) for result in RESULTS}
    return {
        "conforming_items": str(count["conforming"]),
        "nonconforming_items": str(count["nonconforming"]),
        "not_applicable_items": str(count["not_applicable"]),
        "metering_reviewed": "yes" if any(row.get("aspect") == METERING for row in rows) else "no",
    }


RESULTS = ("conforming", "nonconforming", "not_applicable")


@guard("metering_is_reviewed")
def metering_is_reviewed(context: GuardContext) -> Text | None:
    """8.2 asks designs to provide for energy metering (GB 17167): no conclusion without that item."""
    if any(row.get("aspect") == METERING for row in _rows(context.record_data.get("checklist"))):
        return None
    return Text(
        zh="检查清单缺少“能源计量（GB 17167）”检查项，请先修改评审清单",
        en="The checklist has no energy metering (GB 17167) item; revise the checklist first",
    )


# ---- 8.3 supplier evaluation -------------------------------------------------------------------------

GRADES = ((Decimal(90), "A"), (Decimal(75), "B"), (Decimal(60), "C"))


def weighted_score(criteria: Any) -> Decimal | None:
    """The weighted average of the scores (weights need not total 100), to one decimal; None without
    any weight."""
    pairs: list[tuple[Decimal, Decimal]] = []
    for row in _rows(criteria):
        weight, score = as_decimal(row.get("weight")), as_decimal(row.get("score"))
        if weight is not None and score is not None:
            pairs.append((weight, score))
    total_weight = sum((w for w, _ in pairs), Decimal(0))
    if not total_weight:
        return None
    total = sum((w * s for w, s in pairs), Decimal(0)) / total_weight
    return total.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def grade_of(score: Decimal | None) -> str | None:
    if score is None:
        return None
    return next((grade for floor, grade in GRADES if score >= floor), "D")


@computed("supplier_score")
def supplier_score(context: ComputeContext) -> dict[str, Any]:
    """Each evaluation submitted becomes a row of ``evaluations``; the latest gives the total, the grade
    and the next due date (its date + the supplier's interval)."""
    data = context.data
    evaluations = _rows(data.get("evaluations"))
    score = as_decimal(data.get("total_score"))
    if context.submitted.get("evaluation_date") and context.submitted.get("criteria"):
        score = weighted_score(context.submitted["criteria"])
        row = {
            "evaluation_date": context.submitted["evaluation_date"],
            "total_score": plain(score) if score is not None else None,
            "grade": grade_of(score),
        }
        evaluations = [*evaluations, row]
    last = as_date(data.get("evaluation_date"))
    months = as_decimal(data.get("evaluation_interval_months"))
    due = add_months(last, int(months)) if last and months and months >= 1 else None
    return {
        "total_score": plain(score) if score is not None else None,
        "grade": grade_of(score),
        "next_evaluation_due": due.isoformat() if due else None,
        "evaluations": evaluations or None,
    }


def suppliers_due(session: Session, today: date) -> Iterable[ReviewDue]:
    """Suppliers in use whose next evaluation falls due within REMIND_DAYS (or is past): once per due date,
    to the buyer (else whoever evaluated last)."""
    for record in records_in_states(session, workflow_key=SUPPLIERS, states=(QUALIFIED, SUSPENDED)):
        due = as_date(record.data.get("next_evaluation_due"))
        person = record.data.get("buyer") or record.data.get("evaluator")
        if due is None or due > today + timedelta(days=REMIND_DAYS) or not isinstance(person, int):
            continue
        name = str(record.data.get("name") or record.title)
        yield ReviewDue(
            subject=f"supplier:{record.id}",
            period=due.isoformat(),
            title=Text(
                zh=f"供应商低碳评价到期：{name}（{due.isoformat()}）",
                en=f"Supplier low-carbon evaluation due: {name} ({due.isoformat()})",
            ),
            user_ids=(person,),
            record_id=record.id,
        )


register_review(
    ReviewHook(
        name="supplier_evaluation_due",
        label=Text(zh="供应商", en="Suppliers"),
        due=suppliers_due,
    )
)


# ---- 8.4 operating criteria: a value outside the range opens a nonconformity --------------------------


def range_result(data: dict[str, Any], value: Decimal) -> str:
    lower, upper = as_decimal(data.get("lower_limit")), as_decimal(data.get("upper_limit"))
    if lower is not None and value < lower:
        return "below"
    if upper is not None and value > upper:
        return "above"
    return "within"


@policy(RecordEnteredState)
def limits_are_in_order(event: RecordEnteredState, session: Session) -> None:
    """A criterion whose lower limit is above its upper limit, or whose target lies outside them, is
    refused on the field (422), whichever way it is written (the form, the API, an import)."""
    if event.workflow_key != CRITERIA:
        return
    record = session.get(Record, event.record_id)
    data = record.data if record is not None else {}
    lower, upper = as_decimal(data.get("lower_limit")), as_decimal(data.get("upper_limit"))
    target = as_decimal(data.get("target"))
    errors = {}
    if lower is not None and upper is not None and lower > upper:
        errors["upper_limit"] = {"zh": "上限不能小于下限", "en": "The upper limit is below the lower limit"}
    elif target is not None and range_result(data, target) != "within":
        errors["target"] = {"zh": "目标值应在上下限之间", "en": "The target must lie within the limits"}
    if errors:
        raise FormRefused(FORM_HAS_ERRORS, field_errors=errors)


@computed("operating_criterion_deviation")
def measurement(context: ComputeContext) -> dict[str, Any]:
    """A measured value submitted becomes a row of ``measurements``, judged against the limits in force."""
    data = context.data
    rows = _rows(data.get("measurements"))
    value = as_decimal(context.submitted.get("measured_value"))
    if value is not None and context.submitted.get("measured_on"):
        rows = [
            *rows,
            {
                "measured_on": context.submitted["measured_on"],
                "measured_value": plain(value),
                "result": range_result(data, value),
                "measurement_note": context.submitted.get("measurement_note"),
            },
        ]
    last = rows[-1] if rows else None
    return {
        "measurements": rows or None,
        "last_value": last["measured_value"] if last else None,
        "last_result": last["result"] if last else None,
    }


def _limits(data: dict[str, Any]) -> str:
    lower, upper = data.get("lower_limit"), data.get("upper_limit")
    unit = str(data.get("unit") or "")
    return f"{lower if lower is not None else '—'}–{upper if upper is not None else '—'} {unit}".strip()


@policy(RecordEnteredState)
def a_deviation_opens_a_nonconformity(event: RecordEnteredState, session: Session) -> None:
    """8.4: a value recorded outside the criterion's range is reported as a nonconformity in the name of
    whoever recorded it, linked to the criterion, in the same transaction (the nonconformity process's
    own policy on AnomalyFound opens it)."""
    if event.workflow_key != CRITERIA or event.trigger != RECORD_DEVIATION:
        return
    record = session.get(Record, event.record_id)
    rows = _rows(record.data.get("measurements")) if record is not None else []
    if record is None or not rows or rows[-1].get("result") == "within":
        return
    row, data = rows[-1], record.data
    above = row.get("result") == "above"
    parameter, unit = str(data.get("parameter") or record.title), str(data.get("unit") or "")
    value, day = f"{row.get('measured_value')} {unit}".strip(), str(row.get("measured_on"))
    facility = data.get("facility") if isinstance(data.get("facility"), int) else None
    announce(
        session,
        AnomalyFound(
            org_id=event.org_id,
            anomaly=Anomaly(
                rule="operating_criterion",
                subject=record.number,
                period=day,
                title=Text(
                    zh=f"运行控制准则 {record.number}「{parameter}」{day} 测量值 {value} "
                    f"{'超出上限' if above else '低于下限'}",
                    en=f"Operating criterion {record.number} '{parameter}' on {day}: {value} "
                    f"{'above the upper' if above else 'below the lower'} limit",
                ),
                description=Text(
                    zh=f"控制范围 {_limits(data)}，{day} 测量值 {value}。"
                    f"{row.get('measurement_note') or ''}请分析原因并采取纠正措施。",
                    en=f"Range {_limits(data)}; measured {value} on {day}. "
                    f"{row.get('measurement_note') or ''} Find the cause and correct it.",
                ),
                reporter_id=event.actor.id,
                org_unit_id=facility,
                linked_record_id=record.id,
            ),
            found_on=as_date(day) or date.today(),
        ),
    )
