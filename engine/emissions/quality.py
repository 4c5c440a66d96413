"""Uncertainty by error propagation, and data-quality shares.

Uncertainty (IPCC 2006 Vol.1 Ch.3 Approach 1), U as % half-width of the 95 % interval:

* a product (a line: activity × factor): U = √(U_activity² + U_factor²);
* a sum (the inventory): U_abs = √Σ(U_i × |E_i|)², U = U_abs / |Σ E_i|.

A component not given on a line counts as 0; lines with neither are listed so that the reader
knows the figure leaves them out. Biomass lines are not in the total and so not in either figure.

Data quality: the share of each activity-data tier (measured / statistical / estimated /
unspecified) and of each factor tier, weighted by |emissions| of the lines counted in the total
(exports and recovery weigh by their absolute size).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext

from engine.emissions.factors import FactorTier
from engine.emissions.model import ActivityTier, Inventory
from engine.emissions.rounding import CONTEXT

HUNDRED = Decimal(100)


def combine_product(relative_pcts: Iterable[Decimal]) -> Decimal:
    """Relative uncertainty (%) of a product from the relative uncertainties (%) of its factors."""
    with localcontext(CONTEXT):
        return sum((value * value for value in relative_pcts), Decimal(0)).sqrt()


def combine_sum(terms: Iterable[tuple[Decimal, Decimal]]) -> tuple[Decimal, Decimal | None]:
    """(absolute uncertainty, relative % or None for a zero sum) of Σ value from (value, relative %) pairs."""
    with localcontext(CONTEXT):
        total = Decimal(0)
        squares = Decimal(0)
        for value, relative_pct in terms:
            total += value
            absolute = relative_pct * abs(value) / HUNDRED
            squares += absolute * absolute
        absolute_total = squares.sqrt()
        return absolute_total, (absolute_total * HUNDRED / abs(total) if total else None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Uncertainty:
    total_tco2e: Decimal
    absolute_tco2e: Decimal
    relative_pct: Decimal | None
    line_relative_pct: Mapping[int, Decimal]  # by line number
    lines_without: tuple[int, ...]


def inventory_uncertainty(inventory: Inventory) -> Uncertainty | None:
    """Propagated uncertainty of the total, or None when no line gives an uncertainty."""
    counted = [line for line in inventory.lines if line.counted_in_total]
    if all(line.uncertainty is None and line.factor_uncertainty is None for line in counted):
        return None
    line_relative: dict[int, Decimal] = {}
    without: list[int] = []
    for line in counted:
        parts = [value for value in (line.uncertainty, line.factor_uncertainty) if value is not None]
        if parts:
            line_relative[line.line] = combine_product(parts)
        else:
            without.append(line.line)
    absolute, relative = combine_sum(
        (line.tco2e, line_relative.get(line.line, Decimal(0))) for line in counted
    )
    return Uncertainty(
        total_tco2e=inventory.total_tco2e,
        absolute_tco2e=absolute,
        relative_pct=relative,
        line_relative_pct=line_relative,
        lines_without=tuple(without),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DataQuality:
    basis_tco2e: Decimal  # Σ|emissions| of the lines counted in the total
    activity_tiers: Mapping[str, Decimal]  # share 0–1 by tier, best tier first
    factor_tiers: Mapping[str, Decimal]


def data_quality(inventory: Inventory) -> DataQuality:
    counted = [line for line in inventory.lines if line.counted_in_total]
    with localcontext(CONTEXT):
        basis = sum((abs(line.tco2e) for line in counted), Decimal(0))
        activity: dict[str, Decimal] = {}
        factor: dict[str, Decimal] = {}
        for line in counted:
            weight = abs(line.tco2e)
            activity[line.tier.value] = activity.get(line.tier.value, Decimal(0)) + weight
            tier = line.trace.choice.tier.value
            factor[tier] = factor.get(tier, Decimal(0)) + weight
        return DataQuality(
            basis_tco2e=basis,
            activity_tiers=_shares(activity, basis, order=[tier.value for tier in ActivityTier]),
            factor_tiers=_shares(factor, basis, order=[tier.value for tier in FactorTier]),
        )


def _shares(weights: Mapping[str, Decimal], basis: Decimal, *, order: list[str]) -> Mapping[str, Decimal]:
    if not basis:
        return {}
    return {name: weights[name] / basis for name in order if name in weights}
