"""The JSON form of an inventory (keys are public and stable; see docs/calc-format.md).

Numbers are rounded half-even to 6 decimals only here, from the full-precision results.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine.emissions.balance import balance_totals
from engine.emissions.errors import CalcError, Issue
from engine.emissions.factors import Source, factor_set
from engine.emissions.model import Inventory, LineResult
from engine.emissions.performance import intensity
from engine.emissions.quality import data_quality, inventory_uncertainty
from engine.emissions.rounding import OUTPUT_DECIMALS, plain, to_json_number

FORMAT_VERSION = 1


def inventory_to_json(inventory: Inventory) -> dict[str, Any]:
    fuel_set = factor_set(inventory.factor_set)
    uncertainty = inventory_uncertainty(inventory)
    quality = data_quality(inventory)
    return {
        "format_version": FORMAT_VERSION,
        "rounding": f"half-even, {OUTPUT_DECIMALS} decimals, applied to presented values only",
        "origin": inventory.origin,
        "factor_set": {"id": fuel_set.id, "title": fuel_set.title, "document": fuel_set.document},
        "gwp_set": inventory.gwp_set,
        "grid_caliber": inventory.grid_caliber,
        **({"sector_set": inventory.sector_set} if inventory.sector_set else {}),
        "warnings": [_issue(warning) for warning in inventory.warnings],
        "total_tco2e": to_json_number(inventory.total_tco2e),
        "by_category": _numbers(inventory.by_category),
        "by_gas": _numbers(inventory.by_gas),
        "gas_mass_t": _numbers(inventory.gas_mass_t),
        "by_org_unit": _numbers(inventory.by_org_unit),
        "by_period": _numbers(inventory.by_period),
        "biomass_co2_t": to_json_number(inventory.biomass_co2_t),
        **_balances(inventory),
        "intensity": _intensity(inventory),
        "uncertainty": None
        if uncertainty is None
        else {
            "absolute_tco2e": to_json_number(uncertainty.absolute_tco2e),
            "relative_pct": None
            if uncertainty.relative_pct is None
            else to_json_number(uncertainty.relative_pct),
            "lines_without_uncertainty": list(uncertainty.lines_without),
        },
        "data_quality": {
            "basis_tco2e": to_json_number(quality.basis_tco2e),
            "activity_tiers": _numbers(quality.activity_tiers),
            "factor_tiers": _numbers(quality.factor_tiers),
        },
        "factor_choices": factor_choices(inventory),
        "lines": [
            _line(
                line,
                uncertainty_pct=None if uncertainty is None else uncertainty.line_relative_pct.get(line.line),
            )
            for line in inventory.lines
        ],
    }


def errors_to_json(error: CalcError) -> dict[str, Any]:
    return {"errors": [_issue(issue) for issue in error.issues]}


def _issue(issue: Issue) -> dict[str, Any]:
    return {
        "line": issue.line,
        "field": issue.field,
        "message_zh": issue.message_zh,
        "message_en": issue.message_en,
    }


def _balances(inventory: Inventory) -> dict[str, Any]:
    """``by_mass_balance``, the net of each carbon balance group, when the inventory has any."""
    totals = balance_totals(inventory.lines)
    return {"by_mass_balance": _numbers(totals)} if totals else {}


def _numbers(values: Mapping[str, Decimal]) -> dict[str, float | int]:
    return {key: to_json_number(value) for key, value in values.items()}


def _intensity(inventory: Inventory) -> dict[str, Any] | None:
    if inventory.production is None:
        return None
    result = intensity(inventory)
    return {
        "product": result.product,
        "product_quantity": None
        if result.product_quantity is None
        else to_json_number(result.product_quantity),
        "product_unit": result.product_unit,
        "tco2e_per_product_unit": None if result.per_product is None else to_json_number(result.per_product),
        "output_value_10k_cny": (
            None if result.output_value_10k_cny is None else to_json_number(result.output_value_10k_cny)
        ),
        "tco2e_per_10k_cny": None
        if result.per_output_value is None
        else to_json_number(result.per_output_value),
    }


def factor_choices(inventory: Inventory) -> list[dict[str, Any]]:
    """Each distinct factor choice with the lines that took it."""
    grouped: dict[tuple[str, str, str], list[int]] = {}
    for line in inventory.lines:
        choice = line.trace.choice
        grouped.setdefault((choice.tier.value, choice.reason_zh, choice.reason_en), []).append(line.line)
    return [
        {"tier": tier, "reason_zh": reason_zh, "reason_en": reason_en, "lines": lines}
        for (tier, reason_zh, reason_en), lines in grouped.items()
    ]


def _source(source: Source | None) -> dict[str, Any] | None:
    if source is None:
        return None
    return {
        "document": source.document,
        "year": source.year,
        "confidence": source.confidence,
        "detail": source.detail,
    }


def _line(line: LineResult, *, uncertainty_pct: Decimal | None) -> dict[str, Any]:
    trace = line.trace
    document: dict[str, Any] = {
        "line": line.line,
        "name": line.name,
        "category": line.category.value,
        "source": line.source_name,
        "quantity": plain(line.quantity),
        "unit": line.unit,
        "org_unit": line.org_unit,
        "period": line.period,
        "tier": line.tier.value,
        "tco2e": to_json_number(line.tco2e),
        "counted_in_total": line.counted_in_total,
        "gases": {
            gas: {"mass_t": to_json_number(amount.mass_t), "tco2e": to_json_number(amount.tco2e)}
            for gas, amount in line.gases.items()
        },
        "uncertainty_pct": None if uncertainty_pct is None else to_json_number(uncertainty_pct),
        "trace": {
            "inputs": dict(trace.inputs),
            "activity": trace.activity,
            "factors": [
                {
                    "name": factor.name,
                    "value": plain(factor.value),
                    "unit": factor.unit,
                    "note": factor.note,
                    "source": _source(factor.source),
                }
                for factor in trace.factors
            ],
            "factor_choice": {
                "tier": trace.choice.tier.value,
                "reason_zh": trace.choice.reason_zh,
                "reason_en": trace.choice.reason_en,
            },
            "formula": trace.formula,
            "result_tco2e": to_json_number(line.tco2e),
        },
    }
    if "fossil_fraction" in trace.inputs:  # a mixed fuel: its biomass part, out of ``tco2e``
        document["biomass_co2_t"] = to_json_number(line.biomass_co2_t)
    return document
