"""6.3 objectives: each names the carbon performance parameter it is measured by (its code), a baseline
value and a target value; progress is read from the parameter's yearly values (engine.planning).

progress = (baseline − latest) / (baseline − target) × 100 %: 0 % at the baseline, 100 % at the target,
whichever way the target goes (a substitution rate that should rise works the same way as an intensity).
"""

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session

from engine.planning.models import PerformanceParameter
from engine.planning.performance import ParameterValue, evaluate_parameters
from engine.records.queries import records_in_states
from engine.workflow.models import Record
from engine.workflow.registry import declare_names

WORKFLOW = "carbon_objective"
PURSUING = "pursuing"
OBJECTIVE_STATES = (PURSUING, "achieved", "abandoned")
declare_names(WORKFLOW, states=OBJECTIVE_STATES)
YEARS_SHOWN = 6  # the trend covers at most this many years up to the current one


def _number(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


@dataclass
class ObjectiveProgress:
    record: Record
    parameter: PerformanceParameter | None  # None: no parameter has the objective's code
    values: dict[int, Decimal | None] = field(default_factory=dict)  # year → the parameter's value
    latest_year: int | None = None
    latest: Decimal | None = None
    progress_pct: Decimal | None = None


def parameter_values(session: Session, *, org_id: int, years: range) -> dict[int, dict[str, ParameterValue]]:
    """Every parameter's value per year, by code (one inventory per year)."""
    return {
        year: {
            value.parameter.code: value for value in evaluate_parameters(session, org_id=org_id, year=year)
        }
        for year in years
    }


def progress_of(
    record: Record, values: dict[int, dict[str, ParameterValue]], parameters: dict[str, PerformanceParameter]
) -> ObjectiveProgress:
    data = record.data or {}
    code = str(data.get("parameter_code") or "")
    result = ObjectiveProgress(record=record, parameter=parameters.get(code))
    for year, by_code in sorted(values.items()):
        found = by_code.get(code)
        result.values[year] = found.value if found is not None else None
        if found is not None and found.value is not None:
            result.latest_year, result.latest = year, found.value
    baseline, target = _number(data.get("baseline_value")), _number(data.get("target_value"))
    if result.latest is not None and baseline is not None and target is not None and baseline != target:
        result.progress_pct = ((baseline - result.latest) / (baseline - target) * 100).quantize(
            Decimal("0.1")
        )
    return result


def objectives_progress(
    session: Session, *, org_id: int, current_year: int, include_closed: bool = True
) -> tuple[list[ObjectiveProgress], list[int]]:
    """The organization's objectives with their parameter's values for the years shown, and those years."""
    states = OBJECTIVE_STATES if include_closed else (PURSUING,)
    objectives = sorted(
        records_in_states(session, workflow_key=WORKFLOW, states=states), key=lambda r: r.number
    )
    if not objectives:
        return [], []
    first = min(int(_number((r.data or {}).get("baseline_year")) or current_year) for r in objectives)
    years = range(max(first, current_year - YEARS_SHOWN + 1), current_year + 1)
    values = parameter_values(session, org_id=org_id, years=years)
    parameters = {
        value.parameter.code: value.parameter for by_code in values.values() for value in by_code.values()
    }
    return [progress_of(record, values, parameters) for record in objectives], list(years)


ACTION_PLAN = "action_plan"  # its plans name their objective in the field below
PLAN_STATES = ("planned", "in_progress", "done", "cancelled")
declare_names(ACTION_PLAN, states=PLAN_STATES)


def plans_by_objective(session: Session) -> dict[int, list[Record]]:
    """The organization's action plans, by the objective each names."""
    found: dict[int, list[Record]] = {}
    for plan in records_in_states(session, workflow_key=ACTION_PLAN, states=PLAN_STATES):
        objective = (plan.data or {}).get("objective")
        if isinstance(objective, int):
            found.setdefault(objective, []).append(plan)
    return {key: sorted(plans, key=lambda r: r.number) for key, plans in found.items()}
