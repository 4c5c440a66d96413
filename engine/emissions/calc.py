"""The inventory calculation: one method per kind of source line, then totals.

Formulas (GB/T 32150 family; see docs/emissions.md):

* combustion: E = FC × NCV × CC × OF × 44/12 (or AD in GJ × CC × OF × 44/12 when the quantity is
  already heat); a mixed or alternative fuel counts its fossil part (× fossil_fraction), its biomass
  part is reported apart;
* a direct factor on any line: E = Q × EF × GWP(gas), EF in t of the gas per unit;
* carbonates: E = M × purity × (tCO2 per t, from atomic masses) × calcination fraction;
* cement clinker: E = (clinker + kiln dust + bypass dust) × [(CaO − CaO_nc) × 44/56 + (MgO − MgO_nc) × 44/40];
* electrolytic aluminium anode effects: E = P × (EF_CF4 × GWP_CF4 + EF_C2F6 × GWP_C2F6) / 1000;
* carbon-bearing process material: E = M × C × 44/12;
* carbon mass balance (chemicals, coking): lines of one ``mass_balance`` group, inputs + M × C × 44/12 and
  outputs (products, wastes) − M × C × 44/12, so the group nets (Σ inputs − Σ outputs) × C × 44/12;
* lime (output method): E = Q × [(CaO − CaO_nc) × M(CO2)/M(CaO) + (MgO − MgO_nc) × M(CO2)/M(MgO)];
* N2O from nitric/adipic acid: E = P × EF_N2O × (1 − η × μ) / 1000 × GWP_N2O;
* wastewater CH4: E = [(TOW − S) × B0 × MCF − R] × GWP_CH4;
* electricity: MWh × grid factor (measured > province > regional grid > national);
* heat: GJ × 0.11 tCO2/GJ unless a measured factor is given; steam or hot water in t is GJ =
  t × (h − h0) / 1000 first (enthalpies in kJ/kg);
* carbon fixed in products (steel): R = M × C × 44/12, subtracted as its own category;
* exported electricity and heat and recovered gas are subtracted; biomass CO2 is reported
  separately and left out of the total.

Rounding: none here. All arithmetic runs in :data:`engine.emissions.rounding.CONTEXT`
(28 significant digits, half-even); results are rounded only when presented.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import fields
from decimal import Decimal, localcontext
from functools import cache

from engine.emissions.balance import balance_warnings
from engine.emissions.combustion import combustion
from engine.emissions.energy import electricity, heat, recovered
from engine.emissions.errors import CalcError, Issue
from engine.emissions.factors import (
    check_grid_caliber,
    check_gwp_set,
    factor_set,
)
from engine.emissions.lines import (
    Found,
    LineSettings,
    Outcome,
    T,
    line_issue,
)
from engine.emissions.model import (
    SUBTRACTED,
    UNASSIGNED,
    CalcInput,
    CalcLine,
    Category,
    GasAmount,
    Inventory,
    LineResult,
    Trace,
)
from engine.emissions.performance import production_issues
from engine.emissions.plausibility import implausible
from engine.emissions.process import process
from engine.emissions.rounding import CONTEXT, plain, shown
from engine.emissions.sector_sets import sector_set
from engine.emissions.sectors import carbon_fixed
from engine.emissions.units import (
    parse_unit,
)

FRACTION_FIELDS = (
    "oxidation_rate",
    "purity",
    "calcination_fraction",
    "carbon_fraction",
    "cao_content",
    "mgo_content",
    "cao_noncarbonate",
    "mgo_noncarbonate",
    "kiln_dust_calcination",
    "bypass_dust_calcination",
    "abatement_efficiency",
    "abatement_use_rate",
    "mcf",
    "fossil_fraction",
)
NON_NEGATIVE_FIELDS = (
    "quantity",
    "factor",
    "kiln_dust",
    "bypass_dust",
    "anode_effect_minutes",
    "n2o_generation_factor",
    "b0",
    "sludge_cod",
    "ch4_recovered",
    "enthalpy",
    "reference_enthalpy",
    "uncertainty",
    "factor_uncertainty",
)
# Above this, a carbon content was almost certainly typed in tC/TJ (the standards' "×10⁻³ tC/GJ").
MAX_CARBON_CONTENT = Decimal("0.1")
# No input number, line result or total of a plant comes near this (China emits ≈ 1.3 × 10^10 t a
# year); beyond it a value is a typing or unit mistake, and far beyond it Decimal arithmetic overflows.
MAX_MAGNITUDE = Decimal(10) ** 15


def calculate(calc_input: CalcInput) -> Inventory:
    """Emissions of every line and the totals; raises :class:`CalcError` listing all bad lines."""
    return _run(calc_input, unknown_method=frozenset())


def validate(calc_input: CalcInput, *, unknown_method: Collection[int] = ()) -> list[Issue]:
    """Every problem :func:`calculate` would report, without raising.

    ``unknown_method`` lists line numbers whose category could not be read (the loader has reported
    it): only their checks that do not depend on the method are run.
    """
    try:
        _run(calc_input, unknown_method=frozenset(unknown_method))
    except CalcError as error:
        return list(error.issues)
    return []


def _run(calc_input: CalcInput, *, unknown_method: frozenset[int]) -> Inventory:
    with localcontext(CONTEXT):
        # Every check runs: a bad top-level setting only skips the line checks that need it.
        settings, issues = _settings(calc_input)
        results: list[LineResult] = []
        warnings: list[Issue] = []
        for line in calc_input.lines:
            try:
                result = _calculate_line(
                    line, settings, warnings=warnings, method_known=line.line not in unknown_method
                )
            except CalcError as error:
                issues.extend(error.issues)
                continue
            if result is not None:
                results.append(result)
                warnings += implausible(result)
        if issues:
            raise CalcError(issues)
        warnings += balance_warnings(results)
        return _inventory(calc_input, settings, tuple(results), warnings=warnings)


def _settings(calc_input: CalcInput) -> tuple[LineSettings, list[Issue]]:
    """The settings that could be resolved (None for a bad one) and the problems found."""
    issues: list[Issue] = []
    if not calc_input.lines:
        issues.append(
            Issue(line=None, field="lines", message_zh="没有任何排放源行", message_en="there are no lines")
        )
    fuel_set = _collect(issues, lambda: factor_set(calc_input.factor_set))
    gwp_set = _collect(issues, lambda: check_gwp_set(calc_input.gwp_set))
    grid_caliber = _collect(issues, lambda: check_grid_caliber(calc_input.grid_caliber))
    chosen = calc_input.sector_set
    sector = None if chosen is None else _collect(issues, lambda: sector_set(chosen))
    issues += production_issues(calc_input.production, required=False)
    settings = LineSettings(
        fuel_set=fuel_set,
        gwp_set=gwp_set,
        grid_caliber=grid_caliber,
        region=calc_input.region,
        year=calc_input.year,
        grid_factors=calc_input.grid_factors,
        sector_set=sector,
    )
    return settings, issues


def _collect(issues: list[Issue], compute: Callable[[], T]) -> T | None:
    try:
        return compute()
    except CalcError as error:
        issues.extend(error.issues)
        return None


def _calculate_line(
    line: CalcLine, settings: LineSettings, *, warnings: list[Issue], method_known: bool = True
) -> LineResult | None:
    """The line's result (its warnings added to ``warnings``); raises with every problem of the line;
    None when only a setting failed."""
    found = Found(line.line)
    too_large = list(_too_large(line))
    found.add(too_large)
    found.add(_check_fields(line))
    found.check(lambda: parse_unit(line.unit))  # whatever the method, so reported even if it stops early
    if too_large:
        raise CalcError(found.issues)  # the method's arithmetic could overflow: it is not run
    method = METHODS[line.category]
    outcome = found.check(lambda: method(line, settings, found)) if method_known else None
    if found.issues:
        raise CalcError(found.issues)
    if outcome is None:
        if method_known and settings.complete:
            raise RuntimeError(f"line {line.line} was skipped without a reported problem")
        return None  # blocked by a top-level setting (or category), which is reported by itself
    found.add(_result_beyond_bound(line, outcome))
    if found.issues:
        raise CalcError(found.issues)
    warnings += found.warnings
    sign = Decimal(-1) if line.category in SUBTRACTED or outcome.subtracted else Decimal(1)
    gases = {
        gas: GasAmount(mass_t=sign * amount.mass_t, tco2e=sign * amount.tco2e)
        for gas, amount in outcome.gases.items()
    }
    total = sum((amount.tco2e for amount in gases.values()), Decimal(0))
    return LineResult(
        line=line.line,
        name=line.name,
        category=line.category,
        source_name=line.source_name,
        quantity=line.quantity,
        unit=line.unit,
        tco2e=total,
        counted_in_total=line.category is not Category.BIOMASS,
        gases=gases,
        tier=line.tier,
        uncertainty=line.uncertainty,
        factor_uncertainty=line.factor_uncertainty,
        org_unit=line.org_unit,
        period=line.period,
        biomass_co2_t=outcome.biomass_co2,
        trace=Trace(
            inputs=_given_inputs(line),
            activity=outcome.activity,
            factors=outcome.factors,
            choice=outcome.choice,
            formula=outcome.formula,
        ),
    )


def _too_large(line: CalcLine) -> Iterable[Issue]:
    for name in (*NON_NEGATIVE_FIELDS, "ncv"):  # the other numbers have ranges of their own
        value = getattr(line, name)
        if value is not None and abs(value) >= MAX_MAGNITUDE:
            yield line_issue(
                line,
                name,
                zh=f"{name} 数值过大（{value:.2E} ≥ 10^15）：请检查数值和单位",
                en=f"{name} is too large ({value:.2E} ≥ 10^15); check the number and its unit",
            )


def _result_beyond_bound(line: CalcLine, outcome: Outcome) -> Iterable[Issue]:
    largest = max(max(abs(gas.tco2e), abs(gas.mass_t)) for gas in outcome.gases.values())
    if largest >= MAX_MAGNITUDE:
        yield line_issue(
            line,
            "quantity",
            zh=f"本行结果 {largest:.2E} tCO2e 超出任何工厂的合理范围（≥ 10^15 t）：请检查数量、单位和因子",
            en=f"this line comes to {largest:.2E} tCO2e, beyond any plant (≥ 10^15 t); check the quantity, "
            "its unit and the factors",
        )


def _check_fields(line: CalcLine) -> Iterable[Issue]:
    for name in NON_NEGATIVE_FIELDS:
        value = getattr(line, name)
        if value is not None and value < 0:
            yield line_issue(
                line,
                name,
                zh=f"{name} 不能为负数（{plain(value)}）；输出电力/热力和回收量请用对应类别并填正数",
                en=f"{name} must not be negative ({plain(value)}); exports and recovery have their own "
                "categories and take positive numbers",
            )
    for name in FRACTION_FIELDS:
        value = getattr(line, name)
        if value is not None and not 0 <= value <= 1:
            yield line_issue(
                line,
                name,
                zh=f"{name} 应为 0–1 之间的小数（{plain(value)}）；百分数请除以 100",
                en=f"{name} must be a fraction between 0 and 1 ({plain(value)}); divide a percentage by 100",
            )
    if line.carbon_content is not None and not 0 < line.carbon_content <= MAX_CARBON_CONTENT:
        yield line_issue(
            line,
            "carbon_content",
            zh=f"单位热值含碳量 {plain(line.carbon_content)} 超出范围；单位为 tC/GJ（如无烟煤 0.0274），"
            "标准表中“×10⁻³ tC/GJ”的数值需除以 1000",
            en=f"carbon_content {plain(line.carbon_content)} is out of range; it is in tC/GJ "
            "(e.g. anthracite "
            "0.0274); divide the standards' '×10⁻³ tC/GJ' figures by 1000",
        )
    for rate, unit_field in (("ncv", "ncv_unit"), ("factor", "factor_unit")):
        if getattr(line, unit_field) is not None and getattr(line, rate) is None:
            yield line_issue(
                line,
                unit_field,
                zh=f"给出了 {unit_field} 却没有 {rate}",
                en=f"{unit_field} is given without {rate}",
            )
    if line.ncv is not None and line.ncv <= 0:
        yield line_issue(line, "ncv", zh="低位发热量必须大于 0", en="ncv must be greater than 0")
    if line.oxidation_rate == 0:  # like CC and NCV: a zero would silently zero the line
        yield line_issue(
            line,
            "oxidation_rate",
            zh="碳氧化率必须大于 0（为 0 表示燃料未燃烧，本行排放将为 0）；如 0.98",
            en="oxidation_rate must be greater than 0 (0 would mean the fuel did not burn and zero the "
            "line); e.g. 0.98",
        )
    for content, noncarbonate in (("cao_content", "cao_noncarbonate"), ("mgo_content", "mgo_noncarbonate")):
        whole, part = getattr(line, content), getattr(line, noncarbonate)
        if whole is not None and part is not None and part > whole:
            yield line_issue(
                line,
                noncarbonate,
                zh=f"{noncarbonate} 不能大于 {content}",
                en=f"{noncarbonate} must not exceed {content}",
            )


METHODS: Mapping[Category, Callable[[CalcLine, LineSettings, Found], Outcome]] = {
    Category.COMBUSTION: combustion,
    Category.BIOMASS: combustion,
    Category.PROCESS: process,
    Category.PURCHASED_ELECTRICITY: electricity,
    Category.EXPORTED_ELECTRICITY: electricity,
    Category.PURCHASED_HEAT: heat,
    Category.EXPORTED_HEAT: heat,
    Category.RECOVERED: recovered,
    Category.FIXED_IN_PRODUCTS: carbon_fixed,
}


# ---------------------------------------------------------------- totals


@cache
def _input_field_names() -> tuple[str, ...]:
    return tuple(item.name for item in fields(CalcLine) if item.name != "line")


def _given_inputs(line: CalcLine) -> Mapping[str, str]:
    given: dict[str, str] = {}
    for name in _input_field_names():
        value = getattr(line, name)
        if value is None:
            continue
        given[name] = plain(value) if isinstance(value, Decimal) else str(value)
    return given


def _inventory(
    calc_input: CalcInput, settings: LineSettings, results: tuple[LineResult, ...], *, warnings: list[Issue]
) -> Inventory:
    assert (
        settings.fuel_set is not None and settings.gwp_set is not None and settings.grid_caliber is not None
    )
    total = Decimal(0)
    biomass = Decimal(0)
    by_category: dict[str, Decimal] = {}
    by_gas: dict[str, Decimal] = {}
    gas_mass: dict[str, Decimal] = {}
    by_org_unit: dict[str, Decimal] = {}
    by_period: dict[str, Decimal] = {}
    for result in results:
        if not result.counted_in_total:
            biomass += result.tco2e
            continue
        biomass += result.biomass_co2_t  # the biomass part of a mixed fuel
        total += result.tco2e
        _add(by_category, result.category.value, result.tco2e)
        _add(by_org_unit, result.org_unit or UNASSIGNED, result.tco2e)
        _add(by_period, result.period or UNASSIGNED, result.tco2e)
        for gas, amount in result.gases.items():
            _add(by_gas, gas, amount.tco2e)
            _add(gas_mass, gas, amount.mass_t)
    gross = sum((abs(result.tco2e) for result in results), Decimal(0))
    if gross >= MAX_MAGNITUDE:
        raise CalcError.single(
            field="lines",
            zh=f"各行合计 {gross:.2E} tCO2e 超出任何工厂的合理范围（≥ 10^15 t）：请检查数量、单位和因子",
            en=f"the lines add up to {gross:.2E} tCO2e, beyond any plant (≥ 10^15 t); check the quantities, "
            "their units and the factors",
        )
    if total < 0:
        warnings.append(
            Issue(
                line=None,
                field="total_tco2e",
                message_zh=f"净排放总量为负（{shown(total)} tCO2e）："
                "输出电力/热力和回收量之和大于排放量，请核对",
                message_en=f"the net total is negative ({shown(total)} tCO2e): exports and recovery exceed "
                "the emissions; check them",
            )
        )
    order = list(Category)
    return Inventory(
        factor_set=settings.fuel_set.id,
        gwp_set=settings.gwp_set,
        grid_caliber=settings.grid_caliber,
        lines=results,
        total_tco2e=total,
        by_category=dict(sorted(by_category.items(), key=lambda item: order.index(Category(item[0])))),
        by_gas=by_gas,
        gas_mass_t=gas_mass,
        by_org_unit=by_org_unit,
        by_period=by_period,
        biomass_co2_t=biomass,
        production=calc_input.production,
        origin=calc_input.origin,
        warnings=tuple(warnings),
        sector_set=settings.sector_set.id if settings.sector_set else None,
    )


def _add(totals: dict[str, Decimal], key: str, value: Decimal) -> None:
    totals[key] = totals.get(key, Decimal(0)) + value
