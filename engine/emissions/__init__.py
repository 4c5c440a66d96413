"""Pure greenhouse-gas calculation for Tanguan (碳管): no database, no network.

Public API::

    load_calc_file(path) -> CalcInput          # JSON, CSV or xlsx (docs/calc-format.md)
    calculate(calc_input) -> Inventory         # raises CalcError listing every bad line; .warnings
    inventory_to_json(inventory) -> dict
    intensity(inventory, *, production=None) -> Intensity
    baseline(periods, *, adjustments=()) -> Baseline
    target_progress(target, *, current_year, current_value) -> TargetProgress
    inventory_uncertainty(inventory) -> Uncertainty | None
    data_quality(inventory) -> DataQuality

Arithmetic is Decimal at 28 significant digits, half-even, with no intermediate rounding;
presented values are rounded half-even to 6 decimals in JSON and 2 in the terminal table
(engine/emissions/rounding.py). Formulas, factor precedence and sources: docs/emissions.md.
"""

from engine.emissions.calc import calculate, validate
from engine.emissions.errors import CalcError, Issue
from engine.emissions.loader import calc_input_from_dict, calc_input_from_rows, load_calc_file
from engine.emissions.model import (
    ActivityTier,
    CalcInput,
    CalcLine,
    Category,
    Inventory,
    LineResult,
    Production,
)
from engine.emissions.performance import (
    Adjustment,
    Baseline,
    Intensity,
    PeriodEmissions,
    Target,
    TargetKind,
    TargetProgress,
    baseline,
    intensity,
    target_progress,
)
from engine.emissions.quality import (
    DataQuality,
    Uncertainty,
    combine_product,
    combine_sum,
    data_quality,
    inventory_uncertainty,
)
from engine.emissions.report import errors_to_json, inventory_to_json
from engine.emissions.units import convert, parse_unit

__all__ = [
    "ActivityTier",
    "Adjustment",
    "Baseline",
    "CalcError",
    "CalcInput",
    "CalcLine",
    "Category",
    "DataQuality",
    "Intensity",
    "Inventory",
    "Issue",
    "LineResult",
    "PeriodEmissions",
    "Production",
    "Target",
    "TargetKind",
    "TargetProgress",
    "Uncertainty",
    "baseline",
    "calc_input_from_dict",
    "calc_input_from_rows",
    "calculate",
    "combine_product",
    "combine_sum",
    "convert",
    "data_quality",
    "errors_to_json",
    "intensity",
    "inventory_to_json",
    "inventory_uncertainty",
    "load_calc_file",
    "parse_unit",
    "target_progress",
    "validate",
]
