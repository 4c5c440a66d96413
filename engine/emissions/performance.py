"""Carbon performance: emission intensity, the carbon baseline and targets on a straight-line path.

Baseline (standard 6.3): baseline = Σ(period emissions × weight) / Σ(weights), plus the recorded
adjustments (each a reason and a delta) made when static factors change.
Target path: the expected value in year y is base + (target − base) × (y − base year) /
(target year − base year), and the target value itself after the target year.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from enum import StrEnum

from engine.emissions.errors import CalcError, Issue
from engine.emissions.model import Inventory, Production
from engine.emissions.rounding import CONTEXT

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True, kw_only=True)
class Intensity:
    total_tco2e: Decimal
    product: str | None
    product_quantity: Decimal | None
    product_unit: str | None
    per_product: Decimal | None  # tCO2e per product unit
    output_value_10k_cny: Decimal | None
    per_output_value: Decimal | None  # tCO2e per 10^4 CNY


def intensity(inventory: Inventory, *, production: Production | None = None) -> Intensity:
    """Emissions per unit of product and per 10^4 CNY of output value; missing data is an error."""
    production = production or inventory.production
    issues = production_issues(production, required=True)
    if issues:
        raise CalcError(issues)
    assert production is not None
    with localcontext(CONTEXT):
        total = inventory.total_tco2e
        return Intensity(
            total_tco2e=total,
            product=production.product,
            product_quantity=production.quantity,
            product_unit=production.unit,
            per_product=total / production.quantity if production.quantity is not None else None,
            output_value_10k_cny=production.output_value_10k_cny,
            per_output_value=(
                total / production.output_value_10k_cny
                if production.output_value_10k_cny is not None
                else None
            ),
        )


def production_issues(production: Production | None, *, required: bool) -> list[Issue]:
    """What is wrong with the production data; with ``required``, its absence is wrong too."""
    if production is None or (production.quantity is None and production.output_value_10k_cny is None):
        if not required and production is None:
            return []
        return [
            _issue(
                "production",
                zh="缺少产量或产值数据，无法计算排放强度"
                "（需 production.quantity 或 production.output_value_10k_cny）",
                en="production data is missing, so intensity cannot be calculated "
                "(give production.quantity or production.output_value_10k_cny)",
            )
        ]
    issues: list[Issue] = []
    if production.quantity is not None and production.unit is None:
        issues.append(
            _issue("production.unit", zh="给出产量时必须给出单位", en="a product quantity needs a unit")
        )
    for name, value in (
        ("production.quantity", production.quantity),
        ("production.output_value_10k_cny", production.output_value_10k_cny),
    ):
        if value is not None and value <= 0:
            issues.append(_issue(name, zh=f"{name} 必须大于 0", en=f"{name} must be greater than 0"))
    return issues


def _issue(field: str, *, zh: str, en: str) -> Issue:
    return Issue(line=None, field=field, message_zh=zh, message_en=en)


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodEmissions:
    period: str
    emissions: Decimal  # tCO2e, or an intensity when the baseline is of intensity
    weight: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Adjustment:
    reason: str
    delta: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    value: Decimal
    weighted_average: Decimal
    periods: tuple[PeriodEmissions, ...]
    adjustments: tuple[Adjustment, ...]


def baseline(periods: Sequence[PeriodEmissions], *, adjustments: Sequence[Adjustment] = ()) -> Baseline:
    """Weighted average of the periods, then the adjustments added."""
    if not periods:
        raise CalcError.single(
            field="periods", zh="基准期至少需要一个期间", en="the baseline needs at least one period"
        )
    issues = [
        _issue(
            "weight",
            zh=f"期间 {item.period} 的权重不能为负",
            en=f"the weight of period {item.period} must not be negative",
        )
        for item in periods
        if item.weight < 0
    ]
    issues += [
        _issue("reason", zh="每项基准调整都必须写明原因", en="every baseline adjustment needs a reason")
        for item in adjustments
        if not item.reason.strip()
    ]
    if issues:
        raise CalcError(issues)
    with localcontext(CONTEXT):
        weights = sum((item.weight for item in periods), Decimal(0))
        if weights == 0:
            raise CalcError.single(field="weight", zh="权重之和不能为 0", en="the weights must not sum to 0")
        average = sum((item.emissions * item.weight for item in periods), Decimal(0)) / weights
        value = average + sum((item.delta for item in adjustments), Decimal(0))
    return Baseline(
        value=value, weighted_average=average, periods=tuple(periods), adjustments=tuple(adjustments)
    )


class TargetKind(StrEnum):
    TOTAL = "total"
    INTENSITY = "intensity"


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    kind: TargetKind
    base_year: int
    base_value: Decimal
    target_year: int
    reduction_pct: Decimal

    @property
    def target_value(self) -> Decimal:
        with localcontext(CONTEXT):
            return self.base_value * (HUNDRED - self.reduction_pct) / HUNDRED


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetProgress:
    target: Target
    current_year: int
    current_value: Decimal
    path_value: Decimal  # where the straight line says the value should be in current_year
    gap: Decimal  # current − path: positive means behind the path
    achieved_reduction_pct: Decimal  # reduction from the base so far, % of the base
    progress_pct: Decimal  # share of the required reduction achieved, %
    on_track: bool


def target_progress(target: Target, *, current_year: int, current_value: Decimal) -> TargetProgress:
    """Progress against ``target`` and the gap to its straight-line path in ``current_year``."""
    problems: list[tuple[str, str, str]] = []
    if target.target_year <= target.base_year:
        problems.append(
            ("target_year", "目标年必须晚于基准年", "the target year must be after the base year")
        )
    if not 0 < target.reduction_pct <= HUNDRED:
        problems.append(
            (
                "reduction_pct",
                "减排百分比必须在 0–100 之间（不含 0）",
                "the reduction percentage must be above 0 and at most 100",
            )
        )
    if target.base_value <= 0:
        problems.append(("base_value", "基准值必须大于 0", "the base value must be greater than 0"))
    if current_year < target.base_year:
        problems.append(
            (
                "current_year",
                f"当前年份 {current_year} 早于基准年 {target.base_year}",
                f"the current year {current_year} is before the base year {target.base_year}",
            )
        )
    if problems:
        raise CalcError(_issue(field, zh=zh, en=en) for field, zh, en in problems)
    with localcontext(CONTEXT):
        goal = target.target_value
        elapsed = min(current_year, target.target_year) - target.base_year
        span = target.target_year - target.base_year
        path = target.base_value + (goal - target.base_value) * elapsed / span
        reduced = target.base_value - current_value
        return TargetProgress(
            target=target,
            current_year=current_year,
            current_value=current_value,
            path_value=path,
            gap=current_value - path,
            achieved_reduction_pct=reduced * HUNDRED / target.base_value,
            progress_pct=reduced * HUNDRED / (target.base_value - goal),
            on_track=current_value <= path,
        )
