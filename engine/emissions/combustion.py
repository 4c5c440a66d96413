"""Fuel combustion and biomass: E = FC × NCV × CC × OF × 44/12, each parameter measured on the line or
taken from the factor set, with the choice explained."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engine.emissions.errors import CalcError
from engine.emissions.factors import (
    FactorChoice,
    FactorSet,
    FactorTier,
    FuelFactor,
    find_fuel,
)
from engine.emissions.lines import (
    GJ,
    Found,
    LineSettings,
    Outcome,
    co2_from_carbon,
    co2_only,
    line_factor,
    missing_field,
    need,
    only_co2,
    quantity_text,
    reject_unused,
    required_name,
    warn_zero,
)
from engine.emissions.model import (
    CalcLine,
    Category,
    FactorUsed,
)
from engine.emissions.rounding import plain, shown
from engine.emissions.units import (
    DIMENSION_ZH,
    Dimension,
    Unit,
    convert,
    parse_energy_per_unit,
    parse_unit,
)

# ---------------------------------------------------------------- combustion and biomass


@dataclass(frozen=True, slots=True)
class _Defaults:
    fuel: FuelFactor | None  # None: every parameter is the line's own


def combustion(line: CalcLine, settings: LineSettings, found: Found) -> Outcome:
    if line.factor is not None:
        return line_factor(line, settings, found)
    if line.category is Category.BIOMASS and line.fossil_fraction is not None:
        found.add(
            CalcError.single(
                field="fossil_fraction",
                zh="生物质类别的行全部按生物质计、不计入总量；"
                "含化石碳的混合燃料或替代燃料请用 combustion 类别并给出 fossil_fraction",
                en="a biomass line is all biomass and out of the total; for a mixed or alternative fuel with "
                "fossil carbon use category combustion with fossil_fraction",
            ).issues
        )
    found.check(
        lambda: reject_unused(
            line,
            used=("ncv", "ncv_unit", "carbon_content", "oxidation_rate", "fossil_fraction"),
            method_zh="燃料燃烧计算",
            method_en="the combustion method",
        )
    )
    found.check(lambda: only_co2(line, method_zh="燃料燃烧的热值法", method_en="the heating-value method"))
    unit = found.check(lambda: parse_unit(line.unit))
    name = found.check(lambda: required_name(line, field="fuel"))
    if line.category is Category.BIOMASS:
        defaults_found = found.check(lambda: _biomass_parameters(line))
    else:
        defaults_found = found.check(lambda: _fuel_defaults(line, need(settings.fuel_set), need(name)))
    # Whether the unit fits the fuel needs the fuel's table unit: an unknown fuel skips that check.
    return _heating_value_method(
        line, found, unit=need(unit), name=need(name), library=need(defaults_found).fuel
    )


def _fuel_defaults(line: CalcLine, fuel_set: FactorSet, name: str) -> _Defaults:
    library = fuel_set.find_fuel(name)
    if library is None and not _all_parameters_given(line):
        find_fuel(fuel_set, name)  # raises with close spellings and other factor sets
    return _Defaults(fuel=library)


def _biomass_parameters(line: CalcLine) -> _Defaults:
    if not _all_parameters_given(line):
        raise CalcError.single(
            field="factor",
            zh="生物质燃料没有缺省值：请给出 factor，或 ncv、ncv_unit、carbon_content 和 oxidation_rate",
            en="biomass fuels have no defaults: give factor, or ncv, ncv_unit, carbon_content and "
            "oxidation_rate",
        )
    return _Defaults(fuel=None)  # biomass parameters are always the line's own


def _all_parameters_given(line: CalcLine) -> bool:
    return None not in (line.ncv, line.ncv_unit, line.carbon_content, line.oxidation_rate)


def _heating_value_method(
    line: CalcLine, found: Found, *, unit: Unit, name: str, library: FuelFactor | None
) -> Outcome:
    measured: list[str] = []
    defaulted: list[str] = []
    factors: list[FactorUsed] = []
    if unit.dimension is Dimension.ENERGY:
        if line.ncv is not None:
            raise CalcError.single(
                field="ncv",
                zh=f"数量已是热量单位（{unit}），不应再给 ncv",
                en=f"the quantity is already heat ({unit}); ncv must not be given",
            )
        heat = convert(line.quantity, source=unit, target=GJ)
        # Allowed by the format, but a fuel in MWh may as well be the electricity a generator made.
        found.warn(
            "unit",
            zh=f"{name} 以 {unit} 计：数量视为燃料的热量（低位发热量基准），不再乘低位发热量 NCV",
            en=f"{name} in {unit} is taken as its heat content; the fuel's NCV is not applied",
        )
        activity = f"{plain(heat)} GJ" + ("" if unit is GJ else f" (= {quantity_text(line.quantity, unit)})")
        formula_head = f"E = AD × CC × OF × 44/12 = {plain(heat)} GJ"
    else:
        ncv, basis = _heating_value(
            line, library=library, measured=measured, defaulted=defaulted, factors=factors
        )
        fuel_quantity = _fuel_quantity(line, unit=unit, basis=basis, name=name)
        heat = fuel_quantity * ncv
        activity = (
            f"{quantity_text(fuel_quantity, basis)}"
            + ("" if unit is basis else f" (= {quantity_text(line.quantity, unit)})")
            + f"; AD = {plain(heat)} GJ"
        )
        formula_head = (
            f"E = FC × NCV × CC × OF × 44/12 = {quantity_text(fuel_quantity, basis)}"
            f" × {plain(ncv)} GJ/{basis}"
        )
    carbon_content = _parameter(
        "CC",
        line.carbon_content,
        library.carbon_content if library else None,
        unit="tC/GJ",
        library=library,
        measured=measured,
        defaulted=defaulted,
        factors=factors,
        field="carbon_content",
    )
    oxidation_rate = _parameter(
        "OF",
        line.oxidation_rate,
        library.oxidation_rate if library else None,
        unit="fraction",
        library=library,
        measured=measured,
        defaulted=defaulted,
        factors=factors,
        field="oxidation_rate",
    )
    co2 = co2_from_carbon(heat * carbon_content * oxidation_rate)
    formula = (
        f"{formula_head} × {plain(carbon_content)} tC/GJ × {plain(oxidation_rate)} × 44/12 "
        f"= {shown(co2)} tCO2"
    )
    biomass = Decimal(0)
    if line.fossil_fraction is not None:
        co2, biomass, formula = _fossil_part(line, found, co2=co2, formula=formula, factors=factors)
    return Outcome(
        gases=co2_only(co2),
        activity=activity,
        factors=tuple(factors),
        choice=_combustion_choice(name, library=library, measured=measured, defaulted=defaulted),
        formula=formula,
        biomass_co2=biomass,
    )


def _fossil_part(
    line: CalcLine, found: Found, *, co2: Decimal, formula: str, factors: list[FactorUsed]
) -> tuple[Decimal, Decimal, str]:
    """A mixed or alternative fuel (cement: waste tyres, RDF): the fossil share of its carbon counts, the
    rest is biomass CO2, reported apart like a biomass line (GB/T 32151.8 alternative-fuel structure)."""
    fraction = need(line.fossil_fraction)
    warn_zero(
        line, found, "fossil_fraction", what_zh="化石碳比例", what_en="the fossil carbon share", example="0.6"
    )
    fossil = co2 * fraction
    biomass = co2 - fossil
    factors.append(
        FactorUsed(name="f_fossil", value=fraction, unit="fraction", source=None, note="given on the line")
    )
    formula += (
        f"; fossil part × f_fossil {plain(fraction)} = {shown(fossil)} tCO2 (in the total), "
        f"biomass part {shown(biomass)} tCO2 (reported apart)"
    )
    return fossil, biomass, formula


def _heating_value(
    line: CalcLine,
    *,
    library: FuelFactor | None,
    measured: list[str],
    defaulted: list[str],
    factors: list[FactorUsed],
) -> tuple[Decimal, Unit]:
    """NCV in GJ per basis unit, and the basis unit (t, 10^4 Nm3 …)."""
    if line.ncv is None:
        if library is None:
            raise missing_field("ncv")
        defaulted.append("ncv")
        factors.append(
            FactorUsed(
                name="NCV",
                value=library.ncv,
                unit=f"GJ/{library.basis}",
                source=library.source,
                note=f"default for {library.fuel}",
            )
        )
        return library.ncv, library.basis
    ncv_unit = line.ncv_unit or (f"GJ/{library.basis}" if library is not None else None)
    if ncv_unit is None:
        raise missing_field("ncv_unit")
    per = parse_energy_per_unit(ncv_unit, field="ncv_unit")
    measured.append("ncv")
    ncv = line.ncv * per.numerator_in_base
    factors.append(
        FactorUsed(name="NCV", value=ncv, unit=f"GJ/{per.per}", source=None, note="given on the line")
    )
    return ncv, per.per


def _fuel_quantity(line: CalcLine, *, unit: Unit, basis: Unit, name: str) -> Decimal:
    if unit.dimension is basis.dimension:
        return convert(line.quantity, source=unit, target=basis)
    hint_zh = hint_en = ""
    if unit.dimension is Dimension.VOLUME and basis.dimension is Dimension.STANDARD_VOLUME:
        hint_zh = "；m³ 为实际体积，请先按 0 °C、101.325 kPa 换算为标准立方米 Nm³"
        hint_en = "; m³ is actual volume: convert it to Nm³ at 0 °C and 101.325 kPa first"
    raise CalcError.single(
        field="unit",
        zh=f"单位 {unit} 与燃料“{name}”不匹配：其低位发热量按 {basis} 计"
        f"（{DIMENSION_ZH[basis.dimension]}）{hint_zh}",
        en=f"unit {unit} does not fit fuel '{name}': its heating value is per {basis} "
        f"({basis.dimension}){hint_en}",
    )


def _parameter(
    symbol: str,
    given: Decimal | None,
    default: Decimal | None,
    *,
    unit: str,
    library: FuelFactor | None,
    measured: list[str],
    defaulted: list[str],
    factors: list[FactorUsed],
    field: str,
) -> Decimal:
    if given is not None:
        measured.append(field)
        factors.append(FactorUsed(name=symbol, value=given, unit=unit, source=None, note="given on the line"))
        return given
    if default is None or library is None:
        raise missing_field(field)
    defaulted.append(field)
    factors.append(
        FactorUsed(
            name=symbol,
            value=default,
            unit=unit,
            source=library.source,
            note=f"default for {library.fuel}",
        )
    )
    return default


# What the reasons call the fuel parameters (the lists hold the input keys).
_PARAMETERS = {
    "ncv": ("低位发热量", "NCV"),
    "carbon_content": ("单位热值含碳量", "carbon content"),
    "oxidation_rate": ("碳氧化率", "oxidation rate"),
}


def _named(keys: list[str], *, zh: bool) -> str:
    return ("、" if zh else ", ").join(_PARAMETERS.get(key, (key, key))[0 if zh else 1] for key in keys)


def _combustion_choice(
    name: str, *, library: FuelFactor | None, measured: list[str], defaulted: list[str]
) -> FactorChoice:
    if not defaulted:
        return FactorChoice(
            tier=FactorTier.MEASURED,
            reason_zh=f"{name}：参数均为本行给出的实测值（{_named(measured, zh=True)}）",
            reason_en=f"{name}: all parameters given on the line ({_named(measured, zh=False)})",
        )
    assert library is not None
    where = f"{library.factor_set}（{library.source.confidence}）"
    where_en = f"{library.factor_set} ({library.source.confidence})"
    if not measured:
        return FactorChoice(
            tier=FactorTier.NATIONAL,
            reason_zh=f"无实测值 → 采用 {where} 中{library.fuel}的缺省值",
            reason_en=f"no measured values → defaults for {library.fuel} from {where_en}",
        )
    return FactorChoice(
        tier=FactorTier.PARTLY_MEASURED,
        reason_zh=f"实测：{_named(measured, zh=True)}；缺省（{where}）：{_named(defaulted, zh=True)}",
        reason_en=(
            f"measured: {_named(measured, zh=False)}; defaults from {where_en}: {_named(defaulted, zh=False)}"
        ),
    )
