"""The values of a year substituted under the plan's missing-data rules, as the inventory page and the
annual report show them: which parameter, which month, by which rule, the value and the reason."""

from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session, col, select

from engine.dqcp.models import MonthlyFiling
from engine.dqcp.plan import plan_in_force
from engine.forms.spec import Text
from engine.workflow.lifecycle import process_context


@dataclass(frozen=True)
class SubstitutionLine:
    parameter: str
    code: str
    period: str
    rule: Text
    value: Decimal | None
    unit: str
    reason: str


def substitutions_in_year(session: Session, *, year: int) -> list[SubstitutionLine]:
    filings = session.exec(
        select(MonthlyFiling)
        .where(col(MonthlyFiling.substitution_rule).is_not(None))
        .where(MonthlyFiling.period >= f"{year}-01", MonthlyFiling.period <= f"{year}-12")
        .order_by(col(MonthlyFiling.period), col(MonthlyFiling.row_code))
    ).all()
    if not filings:
        return []
    plan = plan_in_force(session)
    labels: dict[str, Text] = {}
    if plan is not None:
        workflow = process_context(session).catalog.get(plan.workflow_key)
        rows = workflow.create_form.field("rows") if workflow else None
        rule = (
            next((column for column in rows.columns if column.name == "missing_rule"), None) if rows else None
        )
        labels = {choice.value: Text(zh=choice.zh, en=choice.en) for choice in rule.choices} if rule else {}
    lines = []
    for filing in filings:
        row = plan.row(filing.row_code) if plan else None
        rule_key = filing.substitution_rule or ""
        lines.append(
            SubstitutionLine(
                parameter=row.parameter if row else filing.row_code,
                code=filing.row_code,
                period=filing.period,
                rule=labels.get(rule_key, Text(zh=rule_key, en=rule_key)),
                value=filing.substituted_value,
                unit=row.unit if row else "",
                reason=filing.substitution_reason or "",
            )
        )
    return lines
