"""Input and result records of the calculator (frozen dataclasses, ``Decimal`` numbers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from engine.emissions.errors import Issue
from engine.emissions.factors import (
    DEFAULT_FACTOR_SET,
    DEFAULT_GRID_CALIBER,
    DEFAULT_GWP_SET,
    FactorChoice,
    GridFactor,
    Source,
)


class Category(StrEnum):
    COMBUSTION = "combustion"
    PROCESS = "process"
    PURCHASED_ELECTRICITY = "purchased_electricity"
    PURCHASED_HEAT = "purchased_heat"
    EXPORTED_ELECTRICITY = "exported_electricity"
    EXPORTED_HEAT = "exported_heat"
    RECOVERED = "recovered"
    FIXED_IN_PRODUCTS = "fixed_in_products"  # carbon leaving in products (steel: crude steel, pig iron)
    BIOMASS = "biomass"


# Key for lines without an org_unit or period in the breakdowns.
UNASSIGNED = "(unassigned)"

# Categories whose emissions are subtracted from the total.
SUBTRACTED = frozenset(
    {Category.EXPORTED_ELECTRICITY, Category.EXPORTED_HEAT, Category.RECOVERED, Category.FIXED_IN_PRODUCTS}
)

CATEGORY_ZH = {
    Category.COMBUSTION: "化石燃料燃烧",
    Category.PROCESS: "工业过程",
    Category.PURCHASED_ELECTRICITY: "购入电力",
    Category.PURCHASED_HEAT: "购入热力",
    Category.EXPORTED_ELECTRICITY: "输出电力",
    Category.EXPORTED_HEAT: "输出热力",
    Category.RECOVERED: "回收利用",
    Category.FIXED_IN_PRODUCTS: "产品固碳（扣减）",
    Category.BIOMASS: "生物质燃烧（不计入总量）",
}


class ActivityTier(StrEnum):
    """Activity-data quality, best first (standard 6.3: measured > statistical report > estimate)."""

    MEASURED = "measured"
    STATISTICAL = "statistical"
    ESTIMATED = "estimated"
    UNSPECIFIED = "unspecified"


@dataclass(frozen=True, slots=True, kw_only=True)
class CalcLine:
    """One source line. ``line`` is its 1-based position (JSON) or sheet row number (CSV/xlsx)."""

    line: int
    category: Category
    quantity: Decimal
    unit: str
    name: str | None = None
    fuel: str | None = None
    material: str | None = None
    region: str | None = None
    year: int | None = None
    ncv: Decimal | None = None
    ncv_unit: str | None = None
    carbon_content: Decimal | None = None  # tC/GJ
    oxidation_rate: Decimal | None = None  # fraction
    factor: Decimal | None = None  # t of ``gas`` per ``factor_unit`` (default: per ``unit``)
    factor_unit: str | None = None
    gas: str | None = None
    tier: ActivityTier = ActivityTier.UNSPECIFIED
    uncertainty: Decimal | None = None  # activity data, % half-width of the 95 % interval
    factor_uncertainty: Decimal | None = None  # emission factor, same convention
    org_unit: str | None = None
    period: str | None = None
    purity: Decimal | None = None  # carbonate mass fraction of the material
    calcination_fraction: Decimal | None = None
    carbon_fraction: Decimal | None = None  # tC per t of a carbon-bearing process material
    cao_content: Decimal | None = None  # clinker CaO mass fraction
    mgo_content: Decimal | None = None
    cao_noncarbonate: Decimal | None = None  # CaO from non-carbonate sources, mass fraction of clinker
    mgo_noncarbonate: Decimal | None = None
    kiln_dust: Decimal | None = None  # kiln-head dust, in the line's unit
    bypass_dust: Decimal | None = None
    anode_effect_minutes: Decimal | None = None  # AEM, minutes per cell-day
    kiln_dust_calcination: Decimal | None = None  # calcined share of the kiln-head dust (default 1)
    bypass_dust_calcination: Decimal | None = None
    n2o_generation_factor: Decimal | None = None  # kg N2O per t of product (nitric, adipic acid)
    abatement_efficiency: Decimal | None = None  # N2O removed by the abatement unit, fraction
    abatement_use_rate: Decimal | None = None  # share of production run through the abatement unit
    mcf: Decimal | None = None  # wastewater methane correction factor, fraction
    b0: Decimal | None = None  # maximum CH4 producing capacity, kg CH4 per kg COD
    sludge_cod: Decimal | None = None  # S: COD removed as sludge, in the line's unit
    ch4_recovered: Decimal | None = None  # R: CH4 recovered or flared, in the line's unit
    fossil_fraction: Decimal | None = None  # fossil share of a mixed or alternative fuel's carbon
    enthalpy: Decimal | None = None  # kJ/kg of the steam or hot water given in t
    reference_enthalpy: Decimal | None = None  # kJ/kg of the feed (return) water
    mass_balance: str | None = None  # carbon balance group whose lines are summed (chemicals, coking)
    flow: str | None = None  # input (default) or output of the carbon balance

    @property
    def source_name(self) -> str | None:
        return self.fuel or self.material


@dataclass(frozen=True, slots=True, kw_only=True)
class Production:
    """Output for intensity: product quantity in ``unit`` and/or output value in 10^4 CNY (万元)."""

    product: str | None = None
    quantity: Decimal | None = None
    unit: str | None = None
    output_value_10k_cny: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CalcInput:
    lines: tuple[CalcLine, ...]
    factor_set: str = DEFAULT_FACTOR_SET
    gwp_set: str = DEFAULT_GWP_SET
    grid_caliber: str = DEFAULT_GRID_CALIBER
    region: str | None = None  # default for lines without one
    year: int | None = None  # default data year for lines without one
    production: Production | None = None
    origin: str = "<memory>"
    # Grid factors published after this release (the organization's factor library, or the file's own
    # ``grid_factors``): used ahead of the shipped factor of the same region, data year and caliber.
    grid_factors: tuple[GridFactor, ...] = ()
    # A sector factor set (engine.emissions.sector_sets): lends a process material its factor.
    sector_set: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FactorUsed:
    name: str
    value: Decimal
    unit: str
    source: Source | None  # None for values given on the line
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GasAmount:
    mass_t: Decimal
    tco2e: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Trace:
    inputs: Mapping[str, str]  # the fields as given on the line
    activity: str  # activity data after unit conversion, e.g. '426.52 GJ'
    factors: tuple[FactorUsed, ...]
    choice: FactorChoice
    formula: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LineResult:
    line: int
    name: str | None
    category: Category
    source_name: str | None
    quantity: Decimal
    unit: str
    tco2e: Decimal  # signed effect on the total (exports and recovery negative; biomass not counted)
    counted_in_total: bool
    gases: Mapping[str, GasAmount]  # signed like ``tco2e``
    tier: ActivityTier
    uncertainty: Decimal | None
    factor_uncertainty: Decimal | None
    org_unit: str | None
    period: str | None
    trace: Trace
    # The biomass part of a mixed fuel (fossil_fraction < 1): reported apart, never in ``tco2e``.
    biomass_co2_t: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Inventory:
    factor_set: str
    gwp_set: str
    grid_caliber: str
    lines: tuple[LineResult, ...]
    total_tco2e: Decimal
    by_category: Mapping[str, Decimal]
    by_gas: Mapping[str, Decimal]  # tCO2e
    gas_mass_t: Mapping[str, Decimal]
    by_org_unit: Mapping[str, Decimal]
    by_period: Mapping[str, Decimal]
    biomass_co2_t: Decimal
    production: Production | None = None
    origin: str = "<memory>"
    # Accepted but worth a second look (a zero purity, a negative net total …); same shape as errors.
    warnings: tuple[Issue, ...] = ()
    sector_set: str | None = None
