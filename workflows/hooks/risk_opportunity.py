"""6.2.1 risks and opportunities: the score (likelihood × impact, each 1–5) and its level, before and after
treatment; the heat map's counts; and the periodic review the scheduler reminds the owner of.

The thresholds are the organization's risk criteria (ISO 31000 6.3.4), kept here beside the register: a
score of 1–4 is low, 5–9 medium, 10–16 high and 20–25 very high. A stored level is the one the record was
written with (ADR 0010): changing the thresholds rates an entry again when it is next written.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session

from engine.forms.spec import Text
from engine.records.queries import records_in_states
from engine.scheduler.reviews import ReviewDue, ReviewHook, register_review
from engine.workflow.models import Record
from engine.workflow.registry import ComputeContext, computed, declare_names

WORKFLOW = "risk_opportunity"
REGISTERED = "registered"
declare_names(WORKFLOW, states={REGISTERED})
HOOK = "risk_opportunity_scores"
SCALE = range(1, 6)
# (lowest score of the level, level), highest first.
LEVEL_FLOORS = ((20, "very_high"), (10, "high"), (5, "medium"), (1, "low"))
LEVELS = ("low", "medium", "high", "very_high")
INHERENT, RESIDUAL = "inherent", "residual"


def rating(value: Any) -> int | None:
    """A likelihood or impact on the 1–5 scale, or None."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return int(number) if number == number.to_integral_value() and int(number) in SCALE else None


def level_of(score: int) -> str:
    return next(level for floor, level in LEVEL_FLOORS if score >= floor)


def scores(data: dict[str, Any]) -> dict[str, Any]:
    """score and level; residual ones from the residual ratings, each falling back to the inherent one."""
    likelihood, impact = rating(data.get("likelihood")), rating(data.get("impact"))
    values: dict[str, Any] = {"score": None, "level": None, "residual_score": None, "residual_level": None}
    if likelihood is None or impact is None:
        return values
    residual_likelihood = rating(data.get("residual_likelihood")) or likelihood
    residual_impact = rating(data.get("residual_impact")) or impact
    score, residual = likelihood * impact, residual_likelihood * residual_impact
    return {
        "score": score,
        "level": level_of(score),
        "residual_score": residual,
        "residual_level": level_of(residual),
    }


@computed(HOOK)
def on_write(context: ComputeContext) -> dict[str, Any]:
    return scores(context.data)


def cell_of(record: Record, mode: str) -> tuple[int, int] | None:
    """(likelihood, impact) of an entry before (inherent) or after (residual) treatment."""
    data = record.data or {}
    likelihood, impact = rating(data.get("likelihood")), rating(data.get("impact"))
    if likelihood is None or impact is None:
        return None
    if mode == RESIDUAL:
        return (
            rating(data.get("residual_likelihood")) or likelihood,
            rating(data.get("residual_impact")) or impact,
        )
    return likelihood, impact


@dataclass
class HeatMap:
    mode: str
    counts: dict[tuple[int, int], int] = field(default_factory=dict)  # (likelihood, impact) → entries
    by_level: dict[str, int] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)


def heat_map(
    session: Session, *, mode: str, nature: str | None = None, cell: tuple[int, int] | None = None
) -> HeatMap:
    """The entries in the register on the 5 × 5 grid (risks, opportunities or both), and those of one cell."""
    result = HeatMap(mode=mode, by_level=dict.fromkeys(LEVELS, 0))
    entries = records_in_states(session, workflow_key=WORKFLOW, states=(REGISTERED,))
    for record in sorted(entries, key=lambda r: r.number):
        if nature and (record.data or {}).get("nature") != nature:
            continue
        where = cell_of(record, mode)
        if where is None:
            continue
        result.counts[where] = result.counts.get(where, 0) + 1
        result.by_level[level_of(where[0] * where[1])] += 1
        if cell is None or cell == where:
            result.records.append(record)
    return result


def reviews_due(session: Session, today: date) -> Iterable[ReviewDue]:
    """Entries whose review date has come: their owner is reminded once per review date."""
    for record in records_in_states(session, workflow_key=WORKFLOW, states=(REGISTERED,)):
        data = record.data or {}
        review_date, owner = data.get("review_date"), data.get("owner")
        if not isinstance(review_date, str) or review_date > today.isoformat() or not isinstance(owner, int):
            continue
        yield ReviewDue(
            subject=f"{WORKFLOW}:{record.id}",
            period=review_date,
            title=Text(
                zh=f"风险和机遇定期评审到期：{record.number} {record.title}",
                en=f"Risk or opportunity due for review: {record.number} {record.title}",
            ),
            user_ids=(owner,),
            record_id=record.id,
        )


register_review(
    ReviewHook(
        name=WORKFLOW,
        label=Text(zh="风险和机遇定期评审", en="Periodic review of risks and opportunities"),
        due=reviews_due,
    )
)
