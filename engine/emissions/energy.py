"""Purchased and exported electricity and heat, and recovered gas."""

from __future__ import annotations

from dataclasses import replace

from engine.emissions.errors import CalcError
from engine.emissions.factors import (
    FactorChoice,
    FactorTier,
    canonical_gas,
    defaults,
    grid_factor,
    gwp,
    normalize_region,
)
from engine.emissions.lines import (
    CO2,
    GJ,
    MWH,
    TONNE,
    Blocked,
    Found,
    LineSettings,
    Outcome,
    co2_only,
    direct_factor,
    line_factor,
    line_issue,
    missing_field,
    need,
    only_co2,
    quantity_text,
    reject_unused,
    require_dimension,
)
from engine.emissions.model import (
    CalcLine,
    FactorUsed,
    GasAmount,
)
from engine.emissions.rounding import plain, shown
from engine.emissions.units import (
    Dimension,
    Unit,
    convert,
    parse_unit,
)

# ---------------------------------------------------------------- electricity, heat, recovery


def electricity(line: CalcLine, settings: LineSettings, found: Found) -> Outcome:
    unit = found.check(
        lambda: require_dimension(line, Dimension.ENERGY, what_zh="电力", what_en="electricity")
    )
    found.check(lambda: only_co2(line, method_zh="电力排放", method_en="electricity"))
    if line.factor is not None:
        found.check(
            lambda: reject_unused(
                line, used=("factor", "factor_unit"), method_zh="电力排放", method_en="electricity"
            )
        )
        return direct_factor(
            line,
            settings,
            found,
            reason_zh="本行给出实测/供应商排放因子，优先于电网因子",
            reason_en="measured factor given on the line overrides the grid factor",
        )
    found.check(
        lambda: reject_unused(line, used=(), method_zh="电网因子法", method_en="the grid-factor method")
    )
    region = line.region or settings.region
    year = line.year or settings.year
    found.add(
        missing_field(name).issues[0] for name, value in (("region", region), ("year", year)) if value is None
    )
    # An unknown region is reported even when the year is missing; the lookup needs both.
    need(found.check(lambda: normalize_region(need(region))))
    grid, choice = grid_factor(
        region=need(region),
        year=need(year),
        caliber=need(settings.grid_caliber),
        published=settings.grid_factors,
    )
    unit = need(unit)
    energy = convert(line.quantity, source=unit, target=MWH)
    co2 = energy * grid.value
    return Outcome(
        gases=co2_only(co2),
        activity=f"{plain(energy)} MWh"
        + ("" if unit is MWH else f" (= {quantity_text(line.quantity, unit)})"),
        factors=(
            FactorUsed(
                name="EF_grid",
                value=grid.value,
                unit="tCO2/MWh",
                source=grid.source,
                note=f"{grid.region} {grid.year} ({grid.caliber})",
            ),
        ),
        choice=choice,
        formula=f"E = AD × EF = {plain(energy)} MWh × {plain(grid.value)} tCO2/MWh = {shown(co2)} tCO2",
    )


def heat(line: CalcLine, settings: LineSettings, found: Found) -> Outcome:
    given = found.check(lambda: parse_unit(line.unit))
    if given is not None and given.dimension is Dimension.MASS:
        return _steam(line, settings, found, unit=given)
    unit = found.check(
        lambda: require_dimension(
            line,
            Dimension.ENERGY,
            what_zh="热力",
            what_en="heat",
            hint_zh="；以吨计的蒸汽或热水请用质量单位并给出 enthalpy 和 reference_enthalpy",
            hint_en="; for steam or hot water in tonnes use a mass unit with enthalpy and reference_enthalpy",
        )
    )
    for field in ("enthalpy", "reference_enthalpy"):
        if getattr(line, field) is not None:
            found.add(
                [
                    line_issue(
                        line,
                        field,
                        zh=f"{field} 只用于以质量（t、kg）计的蒸汽或热水；"
                        f"数量已是热量（{line.unit}），请删除",
                        en=f"{field} is used only for steam or hot water in a mass unit (t, kg); "
                        f"the quantity is already heat ({line.unit}): remove it",
                    )
                ]
            )
    found.check(lambda: only_co2(line, method_zh="热力排放", method_en="heat"))
    if line.factor is not None:
        found.check(
            lambda: reject_unused(
                line, used=("factor", "factor_unit"), method_zh="热力排放", method_en="heat"
            )
        )
        return direct_factor(
            line,
            settings,
            found,
            reason_zh="本行给出供热方实测排放因子，优先于缺省值",
            reason_en="measured supplier factor given on the line overrides the default",
        )
    found.check(
        lambda: reject_unused(line, used=(), method_zh="热力缺省因子法", method_en="the default heat factor")
    )
    default = defaults()["purchased_heat_ef"]
    unit = need(unit)
    heat = convert(line.quantity, source=unit, target=GJ)
    co2 = heat * default.value
    return Outcome(
        gases=co2_only(co2),
        activity=f"{plain(heat)} GJ" + ("" if unit is GJ else f" (= {quantity_text(line.quantity, unit)})"),
        factors=(FactorUsed(name="EF_heat", value=default.value, unit=default.unit, source=default.source),),
        choice=FactorChoice(
            tier=FactorTier.NATIONAL,
            reason_zh="无供热方实测因子 → 采用 GB/T 32150-2025 缺省值 0.11 tCO2/GJ",
            reason_en="no measured supplier factor → GB/T 32150-2025 default 0.11 tCO2/GJ",
        ),
        formula=f"E = AD × EF = {plain(heat)} GJ × {plain(default.value)} tCO2/GJ = {shown(co2)} tCO2",
    )


def _steam(line: CalcLine, settings: LineSettings, found: Found, *, unit: Unit) -> Outcome:
    """Steam or hot water in tonnes: GJ = t × (h − h0) / 1000 (h, h0 in kJ/kg), then the heat method as for
    GJ (the default factor, or the line's factor per GJ unless its factor_unit says otherwise)."""
    found.check(lambda: only_co2(line, method_zh="热力排放", method_en="heat"))
    found.check(
        lambda: reject_unused(
            line,
            used=("enthalpy", "reference_enthalpy", "factor", "factor_unit"),
            method_zh="蒸汽/热水焓值换算",
            method_en="steam or hot water by enthalpy",
        )
    )
    found.add(
        CalcError.single(field=field, zh=zh, en=en).issues[0]
        for field, zh, en in (
            (
                "enthalpy",
                "以吨计的蒸汽或热水需要 enthalpy：其温度、压力下的焓值（kJ/kg，查水和水蒸气性质表）",
                "steam or hot water in tonnes needs enthalpy: its enthalpy at its temperature and pressure "
                "(kJ/kg, from the steam tables)",
            ),
            (
                "reference_enthalpy",
                "以吨计的蒸汽或热水需要 reference_enthalpy：给水（回水）焓值（kJ/kg）；本工具不设缺省值，"
                "如 20 °C 给水为 83.74 kJ/kg（20 × 4.1868，见 docs/emissions.md）",
                "steam or hot water in tonnes needs reference_enthalpy: the feed (return) water's enthalpy "
                "(kJ/kg); there is no default here, e.g. 83.74 kJ/kg for feed water at 20 °C (20 × 4.1868, "
                "see docs/emissions.md)",
            ),
        )
        if getattr(line, field) is None
    )
    enthalpy, reference = need(line.enthalpy), need(line.reference_enthalpy)
    if enthalpy <= reference:
        found.add(
            [
                line_issue(
                    line,
                    "enthalpy",
                    zh=f"焓值 enthalpy（{plain(enthalpy)} kJ/kg）必须大于给水焓值 reference_enthalpy"
                    f"（{plain(reference)} kJ/kg）",
                    en=f"enthalpy ({plain(enthalpy)} kJ/kg) must be greater than reference_enthalpy "
                    f"({plain(reference)} kJ/kg)",
                )
            ]
        )
        raise Blocked
    mass = convert(line.quantity, source=unit, target=TONNE)
    heat_gj = mass * (enthalpy - reference) / 1000
    inner = heat(
        replace(line, quantity=heat_gj, unit="GJ", enthalpy=None, reference_enthalpy=None), settings, found
    )
    conversion = (
        f"AD = M × (h − h0) / 1000 = {plain(mass)} t × ({plain(enthalpy)} − {plain(reference)}) kJ/kg / 1000"
    )
    return replace(
        inner,
        activity=f"{plain(mass)} t"
        + ("" if unit is TONNE else f" (= {quantity_text(line.quantity, unit)})")
        + f"; AD = {plain(heat_gj)} GJ",
        factors=(
            FactorUsed(name="h", value=enthalpy, unit="kJ/kg", source=None, note="given on the line"),
            FactorUsed(name="h0", value=reference, unit="kJ/kg", source=None, note="given on the line"),
            *inner.factors,
        ),
        formula=f"{conversion} = {plain(heat_gj)} GJ; {inner.formula}",
    )


def recovered(line: CalcLine, settings: LineSettings, found: Found) -> Outcome:
    if line.factor is not None:
        return line_factor(line, settings, found)
    found.check(lambda: reject_unused(line, used=(), method_zh="回收量", method_en="recovery"))
    unit = found.check(
        lambda: require_dimension(line, Dimension.MASS, what_zh="回收气体量", what_en="recovered gas")
    )
    gas_name = found.check(lambda: canonical_gas(line.gas or CO2))
    found_gas = found.check(lambda: gwp(gwp_set=need(settings.gwp_set), gas=need(gas_name)))
    mass = convert(line.quantity, source=need(unit), target=TONNE)
    gas = need(found_gas)
    tco2e = mass * gas.value
    return Outcome(
        gases={gas.gas: GasAmount(mass_t=mass, tco2e=tco2e)},
        activity=f"{plain(mass)} t {gas.gas}",
        factors=(FactorUsed(name=f"GWP {gas.gas}", value=gas.value, unit="tCO2e/t", source=gas.source),),
        choice=FactorChoice(
            tier=FactorTier.DIRECT,
            reason_zh=f"回收的 {gas.gas} 质量直接扣减",
            reason_en=f"recovered {gas.gas} mass subtracted directly",
        ),
        formula=f"R = M × GWP = {plain(mass)} t × {plain(gas.value)} = {shown(tco2e)} tCO2e (subtracted)",
    )
