"""Units of activity data and their conversions, exact in ``Decimal``.

Four dimensions, each with a base unit: mass (t), standard volume (Nm³, gas at 0 °C and
101.325 kPa), actual volume (m³) and energy (GJ). Standard and actual volume are deliberately
different dimensions: turning m³ into Nm³ needs the gas temperature and pressure, which the
calculator does not guess. Converting between dimensions always raises :class:`CalcError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from engine.emissions.errors import CalcError, suggestion_text


class Dimension(StrEnum):
    MASS = "mass"
    STANDARD_VOLUME = "standard_volume"
    VOLUME = "volume"
    ENERGY = "energy"


DIMENSION_ZH = {
    Dimension.MASS: "质量",
    Dimension.STANDARD_VOLUME: "标准状态体积",
    Dimension.VOLUME: "实际体积",
    Dimension.ENERGY: "能量",
}

# 1 tce = 7 000 kcal/kg × 4.1868 kJ/kcal = 29.3076 GJ/t (standard-coal definition used by GB/T 2589).
GJ_PER_TCE = Decimal("29.3076")


@dataclass(frozen=True, slots=True)
class Unit:
    symbol: str
    dimension: Dimension
    in_base: Decimal  # how many base units one of this unit is

    def __str__(self) -> str:
        return self.symbol


def _units() -> dict[str, Unit]:
    table: list[tuple[str, Dimension, str, tuple[str, ...]]] = [
        ("t", Dimension.MASS, "1", ("吨", "tonne", "tonnes", "ton")),
        ("kg", Dimension.MASS, "0.001", ("千克", "公斤")),
        ("10^4 t", Dimension.MASS, "10000", ("万t", "万吨")),
        ("Nm3", Dimension.STANDARD_VOLUME, "1", ("标准立方米", "标方")),
        ("10^4 Nm3", Dimension.STANDARD_VOLUME, "10000", ("万Nm3", "万标准立方米", "万标方")),
        ("m3", Dimension.VOLUME, "1", ("立方米",)),
        ("10^4 m3", Dimension.VOLUME, "10000", ("万m3", "万立方米")),
        ("GJ", Dimension.ENERGY, "1", ("吉焦",)),
        ("MJ", Dimension.ENERGY, "0.001", ("兆焦",)),
        ("TJ", Dimension.ENERGY, "1000", ("太焦",)),
        ("MWh", Dimension.ENERGY, "3.6", ("兆瓦时",)),
        ("kWh", Dimension.ENERGY, "0.0036", ("千瓦时", "度")),
        ("10^4 kWh", Dimension.ENERGY, "36", ("万kWh", "万千瓦时", "万度")),
        ("GWh", Dimension.ENERGY, "3600", ("吉瓦时",)),
        ("tce", Dimension.ENERGY, str(GJ_PER_TCE), ("吨标准煤", "吨标煤")),
    ]
    units: dict[str, Unit] = {}
    for symbol, dimension, in_base, aliases in table:
        unit = Unit(symbol=symbol, dimension=dimension, in_base=Decimal(in_base))
        for spelling in (symbol, *aliases):
            units[_spelling_key(spelling)] = unit
    return units


def _spelling_key(text: str) -> str:
    """Fold the spellings people type: '10^4 Nm³', '10⁴Nm3', '万 Nm3', '1e4 nm3' all meet."""
    key = text.strip().replace(" ", "").replace("³", "3").replace("⁴", "^4")
    for ten_thousand in ("10^4", "1e4", "10000"):
        key = key.replace(ten_thousand, "万")
    return key.lower()


_UNITS = _units()
KNOWN_UNITS: tuple[str, ...] = tuple(dict.fromkeys(unit.symbol for unit in _UNITS.values()))


def parse_unit(text: str, *, field: str = "unit") -> Unit:
    unit = _UNITS.get(_spelling_key(text))
    if unit is None:
        hint_zh, hint_en = suggestion_text(text, KNOWN_UNITS)
        raise CalcError.single(
            field=field,
            zh=f"未知单位“{text}”{hint_zh}。可用单位：{', '.join(KNOWN_UNITS)}",
            en=f"unknown unit '{text}'{hint_en}. Known units: {', '.join(KNOWN_UNITS)}",
        )
    return unit


def convert(value: Decimal, *, source: Unit, target: Unit, field: str = "unit") -> Decimal:
    """``value`` in ``source`` expressed in ``target``; different dimensions are an error."""
    if source.dimension is not target.dimension:
        raise CalcError.single(
            field=field,
            zh=(
                f"单位不匹配：{source}（{DIMENSION_ZH[source.dimension]}）不能换算为 "
                f"{target}（{DIMENSION_ZH[target.dimension]}）"
            ),
            en=(
                f"incompatible unit: {source} ({source.dimension}) cannot be converted to "
                f"{target} ({target.dimension})"
            ),
        )
    if source is target:
        return value
    return value * source.in_base / target.in_base


@dataclass(frozen=True, slots=True)
class PerUnit:
    """A rate such as 'GJ/t' or 'tCO2/MWh': numerator scaling and the unit it is per."""

    numerator_label: str
    numerator_in_base: Decimal
    per: Unit


# "kg" is tried before "g" and "t" so that "kgCO2" is read as kilograms.
_MASS_NUMERATORS = {"kg": Decimal("0.001"), "g": Decimal("0.000001"), "t": Decimal(1)}


def parse_energy_per_unit(text: str, *, field: str) -> PerUnit:
    """A heating value unit such as 'GJ/t', 'MJ/kg', 'GJ/万Nm3'; numerator scaled to GJ."""
    numerator, per = _split_rate(text, field=field)
    energy = parse_unit(numerator, field=field)
    if energy.dimension is not Dimension.ENERGY:
        raise CalcError.single(
            field=field,
            zh=f"“{text}”的分子必须是能量单位（如 GJ）",
            en=f"the numerator of '{text}' must be an energy unit (e.g. GJ)",
        )
    return PerUnit(numerator_label=energy.symbol, numerator_in_base=energy.in_base, per=per)


def parse_mass_per_unit(text: str, *, gas: str, field: str) -> PerUnit:
    """A factor unit such as 'tCO2/MWh', 'kgCO2/kWh' or just 'MWh' (then t of ``gas`` per MWh).

    A gas written in the numerator must be the line's gas; 'CO2e' is accepted for CO2 only,
    because a CO2e factor for another gas would be multiplied by its GWP a second time.
    """
    if "/" not in text:
        return PerUnit(numerator_label="t", numerator_in_base=Decimal(1), per=parse_unit(text, field=field))
    numerator, per = _split_rate(text, field=field)
    folded = numerator.replace(" ", "")
    mass_symbol = next((symbol for symbol in _MASS_NUMERATORS if folded.lower().startswith(symbol)), None)
    if mass_symbol is None:
        raise CalcError.single(
            field=field,
            zh=f"“{text}”的分子必须是质量单位（t、kg 或 g）",
            en=f"the numerator of '{text}' must be a mass unit (t, kg or g)",
        )
    label = folded[len(mass_symbol) :]
    allowed = {"", gas.lower()} | ({"co2e"} if gas == "CO2" else set())
    if label.lower() not in allowed:
        raise CalcError.single(
            field=field,
            zh=f"因子单位“{text}”中的气体与本行气体 {gas} 不一致",
            en=f"the gas in factor unit '{text}' does not match the line's gas {gas}",
        )
    return PerUnit(numerator_label=folded, numerator_in_base=_MASS_NUMERATORS[mass_symbol], per=per)


def _split_rate(text: str, *, field: str) -> tuple[str, Unit]:
    numerator, slash, denominator = text.rpartition("/")
    if not slash or not numerator.strip():
        raise CalcError.single(
            field=field,
            zh=f"单位“{text}”应写成“分子/分母”，如 GJ/t",
            en=f"unit '{text}' must be written as numerator/denominator, e.g. GJ/t",
        )
    return numerator.strip(), parse_unit(denominator, field=field)
