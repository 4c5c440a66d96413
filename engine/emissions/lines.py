"""What every calculation method shares: the line's settings and outcome, the per-line problem
collector (one problem per field, no cascades), the common checks and the direct-factor method that any
category may use."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TypeVar

from engine.emissions.errors import CalcError, Issue
from engine.emissions.factors import (
    FactorChoice,
    FactorSet,
    FactorTier,
    GridFactor,
    Source,
    canonical_gas,
    gwp,
)
from engine.emissions.model import (
    CalcLine,
    FactorUsed,
    GasAmount,
)
from engine.emissions.rounding import plain, shown
from engine.emissions.sector_sets import SectorSet
from engine.emissions.units import (
    DIMENSION_ZH,
    Dimension,
    PerUnit,
    Unit,
    convert,
    parse_mass_per_unit,
    parse_unit,
)

CO2 = "CO2"
TONNE = parse_unit("t")
GJ = parse_unit("GJ")
MWH = parse_unit("MWh")

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
    "kiln_dust_calcination",
    "bypass_dust_calcination",
    "n2o_generation_factor",
    "abatement_efficiency",
    "abatement_use_rate",
    "mcf",
    "b0",
    "sludge_cod",
    "ch4_recovered",
    "fossil_fraction",
    "enthalpy",
    "reference_enthalpy",
    "mass_balance",
    "flow",
)
STOICHIOMETRY = Source(
    document="stoichiometry (IUPAC atomic masses)",
    year=None,
    confidence="D",
    detail="carbon_reference.md §5; check against IPCC 2006 Vol.3 Ch.2 Table 2.1",
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LineSettings:
    # None when the file's setting is invalid (reported once); the checks that need it are skipped.
    fuel_set: FactorSet | None
    gwp_set: str | None
    grid_caliber: str | None
    region: str | None
    year: int | None
    grid_factors: tuple[GridFactor, ...] = ()  # published ones, ahead of the shipped table
    sector_set: SectorSet | None = None

    @property
    def complete(self) -> bool:
        return None not in (self.fuel_set, self.gwp_set, self.grid_caliber)


@dataclass(frozen=True, slots=True)
class Outcome:
    gases: Mapping[str, GasAmount]  # unsigned
    activity: str
    factors: tuple[FactorUsed, ...]
    choice: FactorChoice
    formula: str
    biomass_co2: Decimal = Decimal(0)  # t of biomass CO2 of a mixed fuel, reported apart from ``gases``
    subtracted: bool = False  # an output of a carbon balance: the line takes carbon out


class Blocked(Exception):
    """A step needs a value whose problem is already reported; it is skipped, not reported again."""


def need(value: T | None) -> T:
    """``value``, or skip the step (:class:`Blocked`) when an earlier check could not produce it."""
    if value is None:
        raise Blocked
    return value


class Found:
    """The problems of one line, at most one per field: the first explanation of a field wins.

    Independent checks each run through :meth:`check`, so a failing one does not hide the others;
    a step that depends on a failed one raises :class:`Blocked` and adds nothing (no cascades).
    ``warnings`` holds what is calculated but worth a second look (see :meth:`warn`).
    """

    __slots__ = ("fields", "issues", "line", "warnings")

    def __init__(self, line: int) -> None:
        self.line = line
        self.issues: list[Issue] = []
        self.fields: set[str] = set()
        self.warnings: list[Issue] = []

    def warn(self, field: str, *, zh: str, en: str) -> None:
        self.warnings.append(Issue(line=self.line, field=field, message_zh=zh, message_en=en))

    def add(self, issues: Iterable[Issue]) -> None:
        for issue in issues:
            if issue.field in self.fields:
                continue
            self.fields.add(issue.field)
            self.issues.append(issue if issue.line is not None else replace(issue, line=self.line))

    def check(self, compute: Callable[[], T]) -> T | None:
        """``compute()``, or None once its problems are recorded (or it was blocked)."""
        try:
            return compute()
        except CalcError as error:
            self.add(error.issues)
        except Blocked:
            pass
        return None


def line_issue(line: CalcLine, field: str, *, zh: str, en: str) -> Issue:
    return Issue(line=line.line, field=field, message_zh=zh, message_en=en)


def reject_unused(line: CalcLine, *, used: Iterable[str], method_zh: str, method_en: str) -> None:
    allowed = set(used)
    unused = [name for name in METHOD_FIELDS if name not in allowed and getattr(line, name) is not None]
    if unused:
        raise CalcError(
            line_issue(
                line,
                name,
                zh=f"字段 {name} 不适用于{method_zh}，请删除或改用对应方法",
                en=f"field {name} is not used by {method_en}; remove it or use the method it belongs to",
            )
            for name in unused
        )


def only_co2(line: CalcLine, *, method_en: str, method_zh: str) -> None:
    if line.gas is not None and canonical_gas(line.gas) != CO2:
        raise CalcError.single(
            field="gas",
            zh=f"{method_zh}只计算 CO2；其他气体请用 factor（每单位该气体的吨数）",
            en=f"{method_en} gives CO2 only; for another gas give factor (t of that gas per unit)",
        )


def require_dimension(
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


def quantity_text(value: Decimal, unit: Unit) -> str:
    """'10 t', '50 × 10^4 Nm3' (a bare '50 10^4 Nm3' would read as one number)."""
    separator = " × " if unit.symbol[0].isdigit() else " "
    return f"{plain(value)}{separator}{unit}"


def co2_from_carbon(carbon: Decimal) -> Decimal:
    return carbon * 44 / 12  # multiply first so the only inexact step is the final division


def co2_only(co2: Decimal) -> Mapping[str, GasAmount]:
    return {CO2: GasAmount(mass_t=co2, tco2e=co2)}


def carbon_outcome(
    *,
    mass: Decimal,
    carbon: Decimal,
    activity: str,
    reason_zh: str,
    reason_en: str,
    symbol: str = "E",
    taken_out: bool = False,
    note: str = "",
) -> Outcome:
    """M × C × 44/12 with C (tC/t) given on the line; ``taken_out`` for a carbon balance's output, whose
    line is negative (a subtracted category shows its sign by ``symbol`` and ``note`` instead)."""
    co2 = co2_from_carbon(mass * carbon)
    minus = "−" if taken_out else ""
    return Outcome(
        gases=co2_only(co2),
        activity=activity,
        factors=(FactorUsed(name="C", value=carbon, unit="tC/t", source=None, note="given on the line"),),
        choice=FactorChoice(tier=FactorTier.MEASURED, reason_zh=reason_zh, reason_en=reason_en),
        formula=f"{symbol} = {minus}M × C × 44/12 = {minus}{plain(mass)} t × {plain(carbon)} tC/t × 44/12 = "
        f"{minus}{shown(co2)} tCO2{note}",
        subtracted=taken_out,
    )


# ---------------------------------------------------------------- direct factor (any category)


def direct_factor(
    line: CalcLine, settings: LineSettings, found: Found, *, reason_zh: str, reason_en: str
) -> Outcome:
    assert line.factor is not None
    gas_name = found.check(lambda: canonical_gas(line.gas or CO2))
    found_gas = found.check(lambda: gwp(gwp_set=need(settings.gwp_set), gas=need(gas_name)))
    unit = found.check(lambda: parse_unit(line.unit))
    given_per = line.factor_unit
    if given_per is None:  # per the line's unit, whose problems are reported under "unit" only
        per = None if unit is None else PerUnit(numerator_label="t", numerator_in_base=Decimal(1), per=unit)
    else:
        per = found.check(lambda: parse_mass_per_unit(given_per, gas=need(gas_name), field="factor_unit"))
    quantity = convert(line.quantity, source=need(unit), target=need(per).per, field="unit")
    per, gas = need(per), need(found_gas)
    mass = quantity * line.factor * per.numerator_in_base
    tco2e = mass * gas.value
    factor_unit = f"{per.numerator_label}/{per.per}"
    activity = quantity_text(quantity, per.per) + (
        "" if unit is per.per else f" (= {quantity_text(line.quantity, need(unit))})"
    )
    factors = [
        FactorUsed(name="EF", value=line.factor, unit=factor_unit, source=None, note="given on the line")
    ]
    formula = f"E = Q × EF = {quantity_text(quantity, per.per)} × {plain(line.factor)} {factor_unit}"
    if per.numerator_in_base != 1:
        formula += f" × {plain(per.numerator_in_base)} t per {per.numerator_label}"
    if gas.gas != CO2:
        factors.append(FactorUsed(name=f"GWP {gas.gas}", value=gas.value, unit="tCO2e/t", source=gas.source))
        formula += f" × GWP {plain(gas.value)} ({gas.gwp_set})"
    formula += f" = {shown(tco2e)} tCO2e"
    return Outcome(
        gases={gas.gas: GasAmount(mass_t=mass, tco2e=tco2e)},
        activity=activity,
        factors=tuple(factors),
        choice=FactorChoice(tier=FactorTier.MEASURED, reason_zh=reason_zh, reason_en=reason_en),
        formula=formula,
    )


def line_factor(line: CalcLine, settings: LineSettings, found: Found) -> Outcome:
    found.check(
        lambda: reject_unused(
            line,
            used=("factor", "factor_unit"),
            method_zh="直接排放因子法",
            method_en="the direct-factor method",
        )
    )
    return direct_factor(
        line,
        settings,
        found,
        reason_zh="采用本行给出的排放因子（实测或供应商值）",
        reason_en="factor given on the line (measured or supplier value)",
    )


def required_name(line: CalcLine, *, field: str) -> str:
    name = line.source_name
    if not name:
        raise missing_field(field)
    return name


def missing_field(field: str) -> CalcError:
    return CalcError.single(field=field, zh=f"缺少必填字段 {field}", en=f"required field {field} is missing")


def warn_zero(line: CalcLine, found: Found, field: str, *, what_zh: str, what_en: str, example: str) -> None:
    """A fraction of 0 is accepted (limestone used as filler is not calcined) but zeroes the line: say so."""
    if getattr(line, field) == 0:
        found.warn(
            field,
            zh=f"{field} 为 0，本行排放为 0；请核对（{field} 为{what_zh}，如 {example}）",
            en=f"{field} is 0, so this line emits nothing; check it ({field} is {what_en}, e.g. {example})",
        )
