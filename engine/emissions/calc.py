"""The inventory calculation: one method per kind of source line, then totals.

Formulas (GB/T 32150 family; see docs/emissions.md):

* combustion: E = FC × NCV × CC × OF × 44/12 (or AD in GJ × CC × OF × 44/12 when the quantity is
  already heat);
* a direct factor on any line: E = Q × EF × GWP(gas), EF in t of the gas per unit;
* carbonates: E = M × purity × (tCO2 per t, from atomic masses) × calcination fraction;
* cement clinker: E = (clinker + kiln dust + bypass dust) × [(CaO − CaO_nc) × 44/56 + (MgO − MgO_nc) × 44/40];
* electrolytic aluminium anode effects: E = P × (EF_CF4 × GWP_CF4 + EF_C2F6 × GWP_C2F6) / 1000;
* carbon-bearing process material: E = M × C × 44/12;
* electricity: MWh × grid factor (measured > province > regional grid > national);
* heat: GJ × 0.11 tCO2/GJ unless a measured factor is given;
* exported electricity and heat and recovered gas are subtracted; biomass CO2 is reported
  separately and left out of the total.

Rounding: none here. All arithmetic runs in :data:`engine.emissions.rounding.CONTEXT`
(28 significant digits, half-even); results are rounded only when presented.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal, localcontext
from functools import cache
from typing import TypeVar

from engine.emissions.chemistry import Carbonate, carbonate_names, find_carbonate
from engine.emissions.errors import CalcError, Issue, suggestion_text
from engine.emissions.factors import (
    FactorChoice,
    FactorSet,
    FactorTier,
    FuelFactor,
    Source,
    canonical_gas,
    check_grid_caliber,
    check_gwp_set,
    defaults,
    factor_set,
    find_fuel,
    grid_factor,
    gwp,
    normalize_region,
)
from engine.emissions.model import (
    SUBTRACTED,
    UNASSIGNED,
    CalcInput,
    CalcLine,
    Category,
    FactorUsed,
    GasAmount,
    Inventory,
    LineResult,
    Trace,
)
from engine.emissions.performance import production_issues
from engine.emissions.rounding import CONTEXT, plain, shown
from engine.emissions.units import (
    DIMENSION_ZH,
    Dimension,
    PerUnit,
    Unit,
    convert,
    parse_energy_per_unit,
    parse_mass_per_unit,
    parse_unit,
)

CO2 = "CO2"
TONNE = parse_unit("t")
GJ = parse_unit("GJ")
MWH = parse_unit("MWh")

CLINKER_NAMES = ("熟料", "水泥熟料", "clinker")
ALUMINIUM_NAMES = ("电解铝", "原铝", "铝液", "aluminium", "aluminum", "primary aluminium")

# Fields that only some methods use; giving one to another method is an error, not ignored.
METHOD_FIELDS = (
    "ncv",
    "ncv_unit",
    "carbon_content",
    "oxidation_rate",
    "factor",
    "factor_unit",
    "purity",
    "calcination_fraction",
    "carbon_fraction",
    "cao_content",
    "mgo_content",
    "cao_noncarbonate",
    "mgo_noncarbonate",
    "kiln_dust",
    "bypass_dust",
    "anode_effect_minutes",
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
)
NON_NEGATIVE_FIELDS = (
    "quantity",
    "factor",
    "kiln_dust",
    "bypass_dust",
    "anode_effect_minutes",
    "uncertainty",
    "factor_uncertainty",
)
# Above this, a carbon content was almost certainly typed in tC/TJ (the standards' "×10⁻³ tC/GJ").
MAX_CARBON_CONTENT = Decimal("0.1")

STOICHIOMETRY = Source(
    document="stoichiometry (IUPAC atomic masses)",
    year=None,
    confidence="D",
    detail="carbon_reference.md §5; check against IPCC 2006 Vol.3 Ch.2 Table 2.1",
)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Settings:
    # None when the file's setting is invalid (reported once); the checks that need it are skipped.
    fuel_set: FactorSet | None
    gwp_set: str | None
    grid_caliber: str | None
    region: str | None
    year: int | None

    @property
    def complete(self) -> bool:
        return None not in (self.fuel_set, self.gwp_set, self.grid_caliber)


@dataclass(frozen=True, slots=True)
class _Outcome:
    gases: Mapping[str, GasAmount]  # unsigned
    activity: str
    factors: tuple[FactorUsed, ...]
    choice: FactorChoice
    formula: str


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
        for line in calc_input.lines:
            try:
                result = _calculate_line(line, settings, method_known=line.line not in unknown_method)
            except CalcError as error:
                issues.extend(error.issues)
                continue
            if result is not None:
                results.append(result)
        if issues:
            raise CalcError(issues)
        return _inventory(calc_input, settings, tuple(results))


def _settings(calc_input: CalcInput) -> tuple[_Settings, list[Issue]]:
    """The settings that could be resolved (None for a bad one) and the problems found."""
    issues: list[Issue] = []
    if not calc_input.lines:
        issues.append(
            Issue(line=None, field="lines", message_zh="没有任何排放源行", message_en="there are no lines")
        )
    fuel_set = _collect(issues, lambda: factor_set(calc_input.factor_set))
    gwp_set = _collect(issues, lambda: check_gwp_set(calc_input.gwp_set))
    grid_caliber = _collect(issues, lambda: check_grid_caliber(calc_input.grid_caliber))
    issues += production_issues(calc_input.production, required=False)
    settings = _Settings(
        fuel_set=fuel_set,
        gwp_set=gwp_set,
        grid_caliber=grid_caliber,
        region=calc_input.region,
        year=calc_input.year,
    )
    return settings, issues


def _collect(issues: list[Issue], compute: Callable[[], _T]) -> _T | None:
    try:
        return compute()
    except CalcError as error:
        issues.extend(error.issues)
        return None


class _Blocked(Exception):
    """A step needs a value whose problem is already reported; it is skipped, not reported again."""


def _need(value: _T | None) -> _T:
    """``value``, or skip the step (:class:`_Blocked`) when an earlier check could not produce it."""
    if value is None:
        raise _Blocked
    return value


class _Found:
    """The problems of one line, at most one per field: the first explanation of a field wins.

    Independent checks each run through :meth:`check`, so a failing one does not hide the others;
    a step that depends on a failed one raises :class:`_Blocked` and adds nothing (no cascades).
    """

    __slots__ = ("fields", "issues", "line")

    def __init__(self, line: int) -> None:
        self.line = line
        self.issues: list[Issue] = []
        self.fields: set[str] = set()

    def add(self, issues: Iterable[Issue]) -> None:
        for issue in issues:
            if issue.field in self.fields:
                continue
            self.fields.add(issue.field)
            self.issues.append(issue if issue.line is not None else replace(issue, line=self.line))

    def check(self, compute: Callable[[], _T]) -> _T | None:
        """``compute()``, or None once its problems are recorded (or it was blocked)."""
        try:
            return compute()
        except CalcError as error:
            self.add(error.issues)
        except _Blocked:
            pass
        return None


def _calculate_line(line: CalcLine, settings: _Settings, *, method_known: bool = True) -> LineResult | None:
    """The line's result; raises with every problem of the line; None when only a setting failed."""
    found = _Found(line.line)
    found.add(_check_fields(line))
    found.check(lambda: parse_unit(line.unit))  # whatever the method, so reported even if it stops early
    method = _METHODS[line.category]
    outcome = found.check(lambda: method(line, settings, found)) if method_known else None
    if found.issues:
        raise CalcError(found.issues)
    if outcome is None:
        if method_known and settings.complete:
            raise RuntimeError(f"line {line.line} was skipped without a reported problem")
        return None  # blocked by a top-level setting (or category), which is reported by itself
    sign = Decimal(-1) if line.category in SUBTRACTED else Decimal(1)
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
        trace=Trace(
            inputs=_given_inputs(line),
            activity=outcome.activity,
            factors=outcome.factors,
            choice=outcome.choice,
            formula=outcome.formula,
        ),
    )


def _check_fields(line: CalcLine) -> Iterable[Issue]:
    for name in NON_NEGATIVE_FIELDS:
        value = getattr(line, name)
        if value is not None and value < 0:
            yield _issue(
                line,
                name,
                zh=f"{name} 不能为负数（{plain(value)}）；输出电力/热力和回收量请用对应类别并填正数",
                en=f"{name} must not be negative ({plain(value)}); exports and recovery have their own "
                "categories and take positive numbers",
            )
    for name in FRACTION_FIELDS:
        value = getattr(line, name)
        if value is not None and not 0 <= value <= 1:
            yield _issue(
                line,
                name,
                zh=f"{name} 应为 0–1 之间的小数（{plain(value)}）；百分数请除以 100",
                en=f"{name} must be a fraction between 0 and 1 ({plain(value)}); divide a percentage by 100",
            )
    if line.carbon_content is not None and not 0 < line.carbon_content <= MAX_CARBON_CONTENT:
        yield _issue(
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
            yield _issue(
                line,
                unit_field,
                zh=f"给出了 {unit_field} 却没有 {rate}",
                en=f"{unit_field} is given without {rate}",
            )
    if line.ncv is not None and line.ncv <= 0:
        yield _issue(line, "ncv", zh="低位发热量必须大于 0", en="ncv must be greater than 0")
    for content, noncarbonate in (("cao_content", "cao_noncarbonate"), ("mgo_content", "mgo_noncarbonate")):
        whole, part = getattr(line, content), getattr(line, noncarbonate)
        if whole is not None and part is not None and part > whole:
            yield _issue(
                line,
                noncarbonate,
                zh=f"{noncarbonate} 不能大于 {content}",
                en=f"{noncarbonate} must not exceed {content}",
            )


def _issue(line: CalcLine, field: str, *, zh: str, en: str) -> Issue:
    return Issue(line=line.line, field=field, message_zh=zh, message_en=en)


def _reject_unused(line: CalcLine, *, used: Iterable[str], method_zh: str, method_en: str) -> None:
    allowed = set(used)
    unused = [name for name in METHOD_FIELDS if name not in allowed and getattr(line, name) is not None]
    if unused:
        raise CalcError(
            _issue(
                line,
                name,
                zh=f"字段 {name} 不适用于{method_zh}，请删除或改用对应方法",
                en=f"field {name} is not used by {method_en}; remove it or use the method it belongs to",
            )
            for name in unused
        )


def _only_co2(line: CalcLine, *, method_en: str, method_zh: str) -> None:
    if line.gas is not None and canonical_gas(line.gas) != CO2:
        raise CalcError.single(
            field="gas",
            zh=f"{method_zh}只计算 CO2；其他气体请用 factor（每单位该气体的吨数）",
            en=f"{method_en} gives CO2 only; for another gas give factor (t of that gas per unit)",
        )


def _require_dimension(
    line: CalcLine, dimension: Dimension, *, what_zh: str, what_en: str, hint_zh: str = "", hint_en: str = ""
) -> Unit:
    unit = parse_unit(line.unit)
    if unit.dimension is not dimension:
        raise CalcError.single(
            field="unit",
            zh=f"单位 {unit} 不适用于{what_zh}：需要{DIMENSION_ZH[dimension]}单位{hint_zh}",
            en=f"unit {unit} does not fit {what_en}: a unit of {dimension} is needed{hint_en}",
        )
    return unit


def _amount(value: Decimal, unit: Unit) -> str:
    """'10 t', '50 × 10^4 Nm3' (a bare '50 10^4 Nm3' would read as one number)."""
    separator = " × " if unit.symbol[0].isdigit() else " "
    return f"{plain(value)}{separator}{unit}"


def _co2_from_carbon(carbon: Decimal) -> Decimal:
    return carbon * 44 / 12  # multiply first so the only inexact step is the final division


def _co2_only(co2: Decimal) -> Mapping[str, GasAmount]:
    return {CO2: GasAmount(mass_t=co2, tco2e=co2)}


# ---------------------------------------------------------------- direct factor (any category)


def _direct_factor(
    line: CalcLine, settings: _Settings, found: _Found, *, reason_zh: str, reason_en: str
) -> _Outcome:
    assert line.factor is not None
    gas_name = found.check(lambda: canonical_gas(line.gas or CO2))
    found_gas = found.check(lambda: gwp(gwp_set=_need(settings.gwp_set), gas=_need(gas_name)))
    unit = found.check(lambda: parse_unit(line.unit))
    given_per = line.factor_unit
    if given_per is None:  # per the line's unit, whose problems are reported under "unit" only
        per = None if unit is None else PerUnit(numerator_label="t", numerator_in_base=Decimal(1), per=unit)
    else:
        per = found.check(lambda: parse_mass_per_unit(given_per, gas=_need(gas_name), field="factor_unit"))
    quantity = convert(line.quantity, source=_need(unit), target=_need(per).per, field="unit")
    per, gas = _need(per), _need(found_gas)
    mass = quantity * line.factor * per.numerator_in_base
    tco2e = mass * gas.value
    factor_unit = f"{per.numerator_label}/{per.per}"
    activity = _amount(quantity, per.per) + (
        "" if unit is per.per else f" (= {_amount(line.quantity, unit)})"
    )
    factors = [
        FactorUsed(name="EF", value=line.factor, unit=factor_unit, source=None, note="given on the line")
    ]
    formula = f"E = Q × EF = {_amount(quantity, per.per)} × {plain(line.factor)} {factor_unit}"
    if per.numerator_in_base != 1:
        formula += f" × {plain(per.numerator_in_base)} t per {per.numerator_label}"
    if gas.gas != CO2:
        factors.append(FactorUsed(name=f"GWP {gas.gas}", value=gas.value, unit="tCO2e/t", source=gas.source))
        formula += f" × GWP {plain(gas.value)} ({gas.gwp_set})"
    formula += f" = {shown(tco2e)} tCO2e"
    return _Outcome(
        gases={gas.gas: GasAmount(mass_t=mass, tco2e=tco2e)},
        activity=activity,
        factors=tuple(factors),
        choice=FactorChoice(tier=FactorTier.MEASURED, reason_zh=reason_zh, reason_en=reason_en),
        formula=formula,
    )


def _line_factor(line: CalcLine, settings: _Settings, found: _Found) -> _Outcome:
    found.check(
        lambda: _reject_unused(
            line,
            used=("factor", "factor_unit"),
            method_zh="直接排放因子法",
            method_en="the direct-factor method",
        )
    )
    return _direct_factor(
        line,
        settings,
        found,
        reason_zh="采用本行给出的排放因子（实测或供应商值）",
        reason_en="factor given on the line (measured or supplier value)",
    )


# ---------------------------------------------------------------- combustion and biomass


@dataclass(frozen=True, slots=True)
class _Defaults:
    fuel: FuelFactor | None  # None: every parameter is the line's own


def _combustion(line: CalcLine, settings: _Settings, found: _Found) -> _Outcome:
    if line.factor is not None:
        return _line_factor(line, settings, found)
    found.check(
        lambda: _reject_unused(
            line,
            used=("ncv", "ncv_unit", "carbon_content", "oxidation_rate"),
            method_zh="燃料燃烧计算",
            method_en="the combustion method",
        )
    )
    found.check(lambda: _only_co2(line, method_zh="燃料燃烧的热值法", method_en="the heating-value method"))
    unit = found.check(lambda: parse_unit(line.unit))
    name = found.check(lambda: _required_name(line, field="fuel"))
    if line.category is Category.BIOMASS:
        defaults_found = found.check(lambda: _biomass_parameters(line))
    else:
        defaults_found = found.check(lambda: _fuel_defaults(line, _need(settings.fuel_set), _need(name)))
    # Whether the unit fits the fuel needs the fuel's table unit: an unknown fuel skips that check.
    return _heating_value_method(line, unit=_need(unit), name=_need(name), library=_need(defaults_found).fuel)


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


def _heating_value_method(line: CalcLine, *, unit: Unit, name: str, library: FuelFactor | None) -> _Outcome:
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
        activity = f"{plain(heat)} GJ" + ("" if unit is GJ else f" (= {_amount(line.quantity, unit)})")
        formula_head = f"E = AD × CC × OF × 44/12 = {plain(heat)} GJ"
    else:
        ncv, basis = _heating_value(
            line, library=library, measured=measured, defaulted=defaulted, factors=factors
        )
        fuel_quantity = _fuel_quantity(line, unit=unit, basis=basis, name=name)
        heat = fuel_quantity * ncv
        activity = (
            f"{_amount(fuel_quantity, basis)}"
            + ("" if unit is basis else f" (= {_amount(line.quantity, unit)})")
            + f"; AD = {plain(heat)} GJ"
        )
        formula_head = (
            f"E = FC × NCV × CC × OF × 44/12 = {_amount(fuel_quantity, basis)} × {plain(ncv)} GJ/{basis}"
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
    co2 = _co2_from_carbon(heat * carbon_content * oxidation_rate)
    formula = (
        f"{formula_head} × {plain(carbon_content)} tC/GJ × {plain(oxidation_rate)} × 44/12 "
        f"= {shown(co2)} tCO2"
    )
    return _Outcome(
        gases=_co2_only(co2),
        activity=activity,
        factors=tuple(factors),
        choice=_combustion_choice(name, library=library, measured=measured, defaulted=defaulted),
        formula=formula,
    )


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
            raise _missing("ncv")
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
        raise _missing("ncv_unit")
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
        raise _missing(field)
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


def _combustion_choice(
    name: str, *, library: FuelFactor | None, measured: list[str], defaulted: list[str]
) -> FactorChoice:
    if not defaulted:
        return FactorChoice(
            tier=FactorTier.MEASURED,
            reason_zh=f"{name}：参数均为本行给出的实测值（{'、'.join(measured)}）",
            reason_en=f"{name}: all parameters given on the line ({', '.join(measured)})",
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
        reason_zh=f"实测：{'、'.join(measured)}；缺省（{where}）：{'、'.join(defaulted)}",
        reason_en=f"measured: {', '.join(measured)}; defaults from {where_en}: {', '.join(defaulted)}",
    )


def _required_name(line: CalcLine, *, field: str) -> str:
    name = line.source_name
    if not name:
        raise _missing(field)
    return name


def _missing(field: str) -> CalcError:
    return CalcError.single(field=field, zh=f"缺少必填字段 {field}", en=f"required field {field} is missing")


# ---------------------------------------------------------------- process


def _process(line: CalcLine, settings: _Settings, found: _Found) -> _Outcome:
    if line.factor is not None:
        return _line_factor(line, settings, found)
    name = _required_name(line, field="material")  # the material chooses the method
    if line.carbon_fraction is not None:
        return _carbon_material(line, found, name=name)
    carbonate = find_carbonate(name)
    if carbonate is not None:
        return _carbonate(line, found, name=name, carbonate=carbonate)
    folded = name.strip().lower()
    if folded in CLINKER_NAMES:
        return _clinker(line, found)
    if folded in ALUMINIUM_NAMES:
        return _aluminium_pfc(line, settings, found)
    known = (*carbonate_names(), *CLINKER_NAMES, *ALUMINIUM_NAMES)
    hint_zh, hint_en = suggestion_text(name, known)
    raise CalcError.single(
        field="material",
        zh=f"未知过程物料“{name}”{hint_zh}；请给出 factor（每单位该气体的吨数）或 carbon_fraction（含碳率）",
        en=f"unknown process material '{name}'{hint_en}; give factor (t of the gas per unit) "
        "or carbon_fraction",
    )


def _carbonate(line: CalcLine, found: _Found, *, name: str, carbonate: Carbonate) -> _Outcome:
    found.check(
        lambda: _reject_unused(
            line,
            used=("purity", "calcination_fraction"),
            method_zh="碳酸盐分解计算",
            method_en="the carbonate method",
        )
    )
    found.check(lambda: _only_co2(line, method_zh="碳酸盐分解", method_en="carbonate calcination"))
    unit = found.check(
        lambda: _require_dimension(line, Dimension.MASS, what_zh="碳酸盐", what_en="a carbonate")
    )
    mass = convert(line.quantity, source=_need(unit), target=TONNE)
    purity = line.purity if line.purity is not None else Decimal(1)
    fraction = line.calcination_fraction if line.calcination_fraction is not None else Decimal(1)
    ratio = carbonate.co2_per_tonne
    co2 = mass * purity * ratio * fraction
    return _Outcome(
        gases=_co2_only(co2),
        activity=f"{plain(mass)} t {name}",
        factors=(
            FactorUsed(
                name=f"EF {carbonate.formula}",
                value=ratio,
                unit="tCO2/t",
                source=STOICHIOMETRY,
                note="stoichiometric, from atomic masses",
            ),
            FactorUsed(
                name="purity",
                value=purity,
                unit="fraction",
                source=None,
                note="given on the line" if line.purity is not None else "not given: pure carbonate assumed",
            ),
            FactorUsed(
                name="F",
                value=fraction,
                unit="fraction",
                source=None,
                note="given on the line"
                if line.calcination_fraction is not None
                else "not given: full calcination (1.0)",
            ),
        ),
        choice=FactorChoice(
            tier=FactorTier.STOICHIOMETRIC,
            reason_zh=f"{carbonate.formula} 化学计量系数（由原子量计算）",
            reason_en=f"{carbonate.formula} stoichiometric factor from atomic masses",
        ),
        formula=(
            f"E = M × purity × EF × F = {plain(mass)} t × {plain(purity)} × {shown(ratio)} tCO2/t × "
            f"{plain(fraction)} = {shown(co2)} tCO2"
        ),
    )


def _clinker(line: CalcLine, found: _Found) -> _Outcome:
    found.check(
        lambda: _reject_unused(
            line,
            used=(
                "cao_content",
                "mgo_content",
                "cao_noncarbonate",
                "mgo_noncarbonate",
                "kiln_dust",
                "bypass_dust",
            ),
            method_zh="熟料法",
            method_en="the clinker method",
        )
    )
    found.check(lambda: _only_co2(line, method_zh="熟料法", method_en="the clinker method"))
    found.add(
        _missing(name).issues[0] for name in ("cao_content", "mgo_content") if getattr(line, name) is None
    )
    unit = _need(
        found.check(lambda: _require_dimension(line, Dimension.MASS, what_zh="熟料", what_en="clinker"))
    )
    if line.cao_content is None or line.mgo_content is None:
        raise _Blocked
    clinker = convert(line.quantity, source=unit, target=TONNE)
    kiln_dust = convert(line.kiln_dust or Decimal(0), source=unit, target=TONNE)
    bypass_dust = convert(line.bypass_dust or Decimal(0), source=unit, target=TONNE)
    cao_noncarbonate = line.cao_noncarbonate or Decimal(0)
    mgo_noncarbonate = line.mgo_noncarbonate or Decimal(0)
    per_cao = defaults()["clinker_co2_per_cao"]
    per_mgo = defaults()["clinker_co2_per_mgo"]
    emission_factor = (line.cao_content - cao_noncarbonate) * per_cao.value + (
        line.mgo_content - mgo_noncarbonate
    ) * per_mgo.value
    mass = clinker + kiln_dust + bypass_dust
    co2 = mass * emission_factor
    return _Outcome(
        gases=_co2_only(co2),
        activity=f"{plain(mass)} t (clinker {plain(clinker)} + kiln dust {plain(kiln_dust)} + "
        f"bypass dust {plain(bypass_dust)})",
        factors=(
            FactorUsed(
                name="CaO", value=line.cao_content, unit="fraction", source=None, note="given on the line"
            ),
            FactorUsed(
                name="CaO_nc",
                value=cao_noncarbonate,
                unit="fraction",
                source=None,
                note="given on the line" if line.cao_noncarbonate is not None else "not given: 0",
            ),
            FactorUsed(
                name="MgO", value=line.mgo_content, unit="fraction", source=None, note="given on the line"
            ),
            FactorUsed(
                name="MgO_nc",
                value=mgo_noncarbonate,
                unit="fraction",
                source=None,
                note="given on the line" if line.mgo_noncarbonate is not None else "not given: 0",
            ),
            FactorUsed(name="44/56", value=per_cao.value, unit=per_cao.unit, source=per_cao.source),
            FactorUsed(name="44/40", value=per_mgo.value, unit=per_mgo.unit, source=per_mgo.source),
        ),
        choice=FactorChoice(
            tier=FactorTier.MEASURED,
            reason_zh="熟料法：CaO、MgO 含量为本行给出的实测值，分子量比按指南取 44/56、44/40",
            reason_en="clinker method: measured CaO and MgO on the line, guideline ratios 44/56 and 44/40",
        ),
        formula=(
            "E = (Q_clinker + Q_kiln_dust + Q_bypass_dust) × "
            "[(CaO − CaO_nc) × 44/56 + (MgO − MgO_nc) × 44/40] = "
            f"{plain(mass)} t × [({plain(line.cao_content)} − {plain(cao_noncarbonate)}) × 44/56 + "
            f"({plain(line.mgo_content)} − {plain(mgo_noncarbonate)}) × 44/40] = {shown(co2)} tCO2"
        ),
    )


def _aluminium_pfc(line: CalcLine, settings: _Settings, found: _Found) -> _Outcome:
    found.check(
        lambda: _reject_unused(
            line,
            used=("anode_effect_minutes",),
            method_zh="阳极效应 PFC 计算",
            method_en="the anode-effect PFC method",
        )
    )
    if line.gas is not None:
        found.add(
            CalcError.single(
                field="gas",
                zh="阳极效应方法固定计算 CF4 和 C2F6，不应填写 gas",
                en="the anode-effect method always gives CF4 and C2F6; gas must not be given",
            ).issues
        )
    unit = found.check(
        lambda: _require_dimension(line, Dimension.MASS, what_zh="电解铝产量", what_en="aluminium output")
    )
    aluminium = convert(line.quantity, source=_need(unit), target=TONNE)
    gwp_set = _need(settings.gwp_set)
    table = defaults()
    factors: list[FactorUsed] = []
    if line.anode_effect_minutes is None:
        cf4_rate, c2f6_rate = table["aluminium_ef_cf4"].value, table["aluminium_ef_c2f6"].value
        factors += [
            FactorUsed(
                name="EF_CF4", value=cf4_rate, unit="kg/t-Al", source=table["aluminium_ef_cf4"].source
            ),
            FactorUsed(
                name="EF_C2F6", value=c2f6_rate, unit="kg/t-Al", source=table["aluminium_ef_c2f6"].source
            ),
        ]
        choice = FactorChoice(
            tier=FactorTier.NATIONAL,
            reason_zh="未给阳极效应分钟数 → 采用指南缺省 EF_CF4 0.034、EF_C2F6 0.0034 kg/t-Al",
            reason_en="no anode-effect minutes → guideline defaults EF_CF4 0.034, EF_C2F6 0.0034 kg/t-Al",
        )
    else:
        slope, ratio = table["aluminium_cf4_per_aem"], table["aluminium_c2f6_to_cf4"]
        cf4_rate = slope.value * line.anode_effect_minutes
        c2f6_rate = ratio.value * cf4_rate
        factors += [
            FactorUsed(
                name="AEM",
                value=line.anode_effect_minutes,
                unit="min/cell-day",
                source=None,
                note="given on the line",
            ),
            FactorUsed(name="slope CF4", value=slope.value, unit=slope.unit, source=slope.source),
            FactorUsed(name="C2F6/CF4", value=ratio.value, unit=ratio.unit, source=ratio.source),
        ]
        choice = FactorChoice(
            tier=FactorTier.MEASURED,
            reason_zh="由实测阳极效应分钟数计算：EF_CF4 = 0.143 × AEM，EF_C2F6 = 0.1 × EF_CF4",
            reason_en="from measured anode-effect minutes: EF_CF4 = 0.143 × AEM, EF_C2F6 = 0.1 × EF_CF4",
        )
    gases: dict[str, GasAmount] = {}
    potentials: dict[str, Decimal] = {}
    for gas_name, rate in (("CF4", cf4_rate), ("C2F6", c2f6_rate)):
        potential = gwp(gwp_set=gwp_set, gas=gas_name)
        potentials[gas_name] = potential.value
        factors.append(
            FactorUsed(name=f"GWP {gas_name}", value=potential.value, unit="tCO2e/t", source=potential.source)
        )
        mass = aluminium * rate / 1000
        gases[gas_name] = GasAmount(mass_t=mass, tco2e=mass * potential.value)
    total = gases["CF4"].tco2e + gases["C2F6"].tco2e
    return _Outcome(
        gases=gases,
        activity=f"{plain(aluminium)} t aluminium",
        factors=tuple(factors),
        choice=choice,
        formula=(
            f"E = P × (EF_CF4 × GWP_CF4 + EF_C2F6 × GWP_C2F6) / 1000 = {plain(aluminium)} t × "
            f"({plain(cf4_rate)} kg/t × {plain(potentials['CF4'])} + {plain(c2f6_rate)} kg/t × "
            f"{plain(potentials['C2F6'])}) / 1000 = {shown(total)} tCO2e"
        ),
    )


def _carbon_material(line: CalcLine, found: _Found, *, name: str) -> _Outcome:
    found.check(
        lambda: _reject_unused(
            line,
            used=("carbon_fraction",),
            method_zh="含碳物料碳平衡计算",
            method_en="the carbon-content method",
        )
    )
    found.check(lambda: _only_co2(line, method_zh="含碳物料计算", method_en="the carbon-content method"))
    assert line.carbon_fraction is not None
    unit = found.check(
        lambda: _require_dimension(
            line, Dimension.MASS, what_zh="含碳物料", what_en="a carbon-bearing material"
        )
    )
    mass = convert(line.quantity, source=_need(unit), target=TONNE)
    co2 = _co2_from_carbon(mass * line.carbon_fraction)
    return _Outcome(
        gases=_co2_only(co2),
        activity=f"{plain(mass)} t {name}",
        factors=(
            FactorUsed(
                name="C", value=line.carbon_fraction, unit="tC/t", source=None, note="given on the line"
            ),
        ),
        choice=FactorChoice(
            tier=FactorTier.MEASURED,
            reason_zh=f"{name}：含碳率为本行给出的实测值",
            reason_en=f"{name}: carbon fraction given on the line",
        ),
        formula=(
            f"E = M × C × 44/12 = {plain(mass)} t × {plain(line.carbon_fraction)} tC/t × 44/12 "
            f"= {shown(co2)} tCO2"
        ),
    )


# ---------------------------------------------------------------- electricity, heat, recovery


def _electricity(line: CalcLine, settings: _Settings, found: _Found) -> _Outcome:
    unit = found.check(
        lambda: _require_dimension(line, Dimension.ENERGY, what_zh="电力", what_en="electricity")
    )
    found.check(lambda: _only_co2(line, method_zh="电力排放", method_en="electricity"))
    if line.factor is not None:
        found.check(
            lambda: _reject_unused(
                line, used=("factor", "factor_unit"), method_zh="电力排放", method_en="electricity"
            )
        )
        return _direct_factor(
            line,
            settings,
            found,
            reason_zh="本行给出实测/供应商排放因子，优先于电网因子",
            reason_en="measured factor given on the line overrides the grid factor",
        )
    found.check(
        lambda: _reject_unused(line, used=(), method_zh="电网因子法", method_en="the grid-factor method")
    )
    region = line.region or settings.region
    year = line.year or settings.year
    found.add(
        _missing(name).issues[0] for name, value in (("region", region), ("year", year)) if value is None
    )
    # An unknown region is reported even when the year is missing; the lookup needs both.
    _need(found.check(lambda: normalize_region(_need(region))))
    grid, choice = grid_factor(region=_need(region), year=_need(year), caliber=_need(settings.grid_caliber))
    unit = _need(unit)
    energy = convert(line.quantity, source=unit, target=MWH)
    co2 = energy * grid.value
    return _Outcome(
        gases=_co2_only(co2),
        activity=f"{plain(energy)} MWh" + ("" if unit is MWH else f" (= {_amount(line.quantity, unit)})"),
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


def _heat(line: CalcLine, settings: _Settings, found: _Found) -> _Outcome:
    unit = found.check(
        lambda: _require_dimension(
            line,
            Dimension.ENERGY,
            what_zh="热力",
            what_en="heat",
            hint_zh="；以吨计的蒸汽须先按焓值换算为 GJ（本工具不提供该换算）",
            hint_en="; steam in tonnes must first be converted to GJ from its enthalpy (not provided here)",
        )
    )
    found.check(lambda: _only_co2(line, method_zh="热力排放", method_en="heat"))
    if line.factor is not None:
        found.check(
            lambda: _reject_unused(
                line, used=("factor", "factor_unit"), method_zh="热力排放", method_en="heat"
            )
        )
        return _direct_factor(
            line,
            settings,
            found,
            reason_zh="本行给出供热方实测排放因子，优先于缺省值",
            reason_en="measured supplier factor given on the line overrides the default",
        )
    found.check(
        lambda: _reject_unused(line, used=(), method_zh="热力缺省因子法", method_en="the default heat factor")
    )
    default = defaults()["purchased_heat_ef"]
    unit = _need(unit)
    heat = convert(line.quantity, source=unit, target=GJ)
    co2 = heat * default.value
    return _Outcome(
        gases=_co2_only(co2),
        activity=f"{plain(heat)} GJ" + ("" if unit is GJ else f" (= {_amount(line.quantity, unit)})"),
        factors=(FactorUsed(name="EF_heat", value=default.value, unit=default.unit, source=default.source),),
        choice=FactorChoice(
            tier=FactorTier.NATIONAL,
            reason_zh="无供热方实测因子 → 采用 GB/T 32150-2025 缺省值 0.11 tCO2/GJ",
            reason_en="no measured supplier factor → GB/T 32150-2025 default 0.11 tCO2/GJ",
        ),
        formula=f"E = AD × EF = {plain(heat)} GJ × {plain(default.value)} tCO2/GJ = {shown(co2)} tCO2",
    )


def _recovered(line: CalcLine, settings: _Settings, found: _Found) -> _Outcome:
    if line.factor is not None:
        return _line_factor(line, settings, found)
    found.check(lambda: _reject_unused(line, used=(), method_zh="回收量", method_en="recovery"))
    unit = found.check(
        lambda: _require_dimension(line, Dimension.MASS, what_zh="回收气体量", what_en="recovered gas")
    )
    gas_name = found.check(lambda: canonical_gas(line.gas or CO2))
    found_gas = found.check(lambda: gwp(gwp_set=_need(settings.gwp_set), gas=_need(gas_name)))
    mass = convert(line.quantity, source=_need(unit), target=TONNE)
    gas = _need(found_gas)
    tco2e = mass * gas.value
    return _Outcome(
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


_METHODS: Mapping[Category, Callable[[CalcLine, _Settings, _Found], _Outcome]] = {
    Category.COMBUSTION: _combustion,
    Category.BIOMASS: _combustion,
    Category.PROCESS: _process,
    Category.PURCHASED_ELECTRICITY: _electricity,
    Category.EXPORTED_ELECTRICITY: _electricity,
    Category.PURCHASED_HEAT: _heat,
    Category.EXPORTED_HEAT: _heat,
    Category.RECOVERED: _recovered,
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


def _inventory(calc_input: CalcInput, settings: _Settings, results: tuple[LineResult, ...]) -> Inventory:
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
        total += result.tco2e
        _add(by_category, result.category.value, result.tco2e)
        _add(by_org_unit, result.org_unit or UNASSIGNED, result.tco2e)
        _add(by_period, result.period or UNASSIGNED, result.tco2e)
        for gas, amount in result.gases.items():
            _add(by_gas, gas, amount.tco2e)
            _add(gas_mass, gas, amount.mass_t)
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
    )


def _add(totals: dict[str, Decimal], key: str, value: Decimal) -> None:
    totals[key] = totals.get(key, Decimal(0)) + value
