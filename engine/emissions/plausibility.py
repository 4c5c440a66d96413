"""Plausible ranges of the values a line uses (issue 14 item 8): the NCV of a coal, a carbon content, an
oxidation rate, a clinker's CaO and MgO, a kiln's process factor. A value outside its range is a warning
in the result — never refused, never silently accepted. The ranges and their basis are data
(data/plausible_ranges.csv); a check applies where the value's unit is the range's."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from engine.emissions.errors import Issue
from engine.emissions.factors import DATA_DIR
from engine.emissions.model import LineResult
from engine.emissions.process import CLINKER_NAMES
from engine.emissions.rounding import shown

ANY = "*"
CLINKER_FACTOR = "clinker_factor"  # the line's CO2 per unit of clinker, not one of its factors
# (zh, en) names; the clinker's checks name the clinker already, a fuel's are prefixed with the fuel.
NAMES = {
    "NCV": ("低位发热量", "NCV"),
    "CC": ("单位热值含碳量", "carbon content"),
    "OF": ("碳氧化率", "oxidation rate"),
    "CaO": ("熟料 CaO 含量", "clinker CaO content"),
    "MgO": ("熟料 MgO 含量", "clinker MgO content"),
    CLINKER_FACTOR: ("熟料过程排放因子", "clinker process factor"),
}
OWN_SUBJECT = frozenset({"CaO", "MgO", CLINKER_FACTOR})


@dataclass(frozen=True, slots=True)
class PlausibleRange:
    check: str
    subject: str  # the fuel or material, or * for any
    unit: str
    low: Decimal
    high: Decimal
    basis: str


@cache
def plausible_ranges() -> dict[tuple[str, str, str], PlausibleRange]:
    with open(DATA_DIR / "plausible_ranges.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    found = {}
    for row in rows:
        bounds = PlausibleRange(
            row["check"], row["subject"], row["unit"], Decimal(row["low"]), Decimal(row["high"]), row["basis"]
        )
        found[(bounds.check, bounds.subject, bounds.unit)] = bounds
    return found


def _range(check: str, subject: str | None, unit: str) -> PlausibleRange | None:
    ranges = plausible_ranges()
    name = (subject or "").strip()
    name = CLINKER_NAMES[0] if name.lower() in CLINKER_NAMES else name
    return ranges.get((check, name, unit)) or ranges.get((check, ANY, unit))


def _warning(result: LineResult, bounds: PlausibleRange, value: Decimal) -> Issue:
    zh, en = NAMES.get(bounds.check, (bounds.check, bounds.check))
    if bounds.check not in OWN_SUBJECT and bounds.subject != ANY:
        zh, en = f"{bounds.subject}{zh}", f"{bounds.subject} {en}"
    unit = "" if bounds.unit == "fraction" else f" {bounds.unit}"
    band = f"{shown(bounds.low)}–{shown(bounds.high)}{unit}"
    return Issue(
        line=result.line,
        field=bounds.check,
        message_zh=f"{zh} {shown(value)}{unit} 超出常见范围 {band}，请核对数值和单位（已按此值计算）",
        message_en=f"{en} {shown(value)}{unit} is outside the usual range {band}; check the value and "
        "its unit (it was used as given)",
    )


def outside(check: str, *, subject: str | None, unit: str, value: Decimal) -> PlausibleRange | None:
    """The range ``value`` falls outside of (None: inside, or no range for it)."""
    bounds = _range(check, subject, unit)
    return bounds if bounds is not None and not bounds.low <= value <= bounds.high else None


def implausible(result: LineResult) -> list[Issue]:
    """Warnings for the values the line used that fall outside their plausible range."""
    warnings = []
    for factor in result.trace.factors:
        bounds = _range(factor.name, result.source_name, factor.unit)
        if bounds is not None and not bounds.low <= factor.value <= bounds.high:
            warnings.append(_warning(result, bounds, factor.value))
    bounds = _range(CLINKER_FACTOR, result.source_name, f"tCO2/{result.unit}")
    co2 = result.gases.get("CO2")
    if bounds is not None and co2 is not None and result.quantity > 0:
        per_unit = co2.mass_t / result.quantity
        if not bounds.low <= per_unit <= bounds.high:
            warnings.append(_warning(result, bounds, per_unit))
    return warnings
