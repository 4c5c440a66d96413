"""Industrial processes: carbonates, cement clinker, aluminium anode effects, carbon-bearing materials, or
a direct factor."""

from __future__ import annotations

from decimal import Decimal

from engine.emissions.balance import carbon_balance
from engine.emissions.chemistry import Carbonate, carbonate_names, find_carbonate
from engine.emissions.errors import CalcError, suggestion_text
from engine.emissions.factors import (
    FactorChoice,
    FactorTier,
    defaults,
    gwp,
)
from engine.emissions.lines import (
    STOICHIOMETRY,
    TONNE,
    Blocked,
    Found,
    LineSettings,
    Outcome,
    carbon_outcome,
    co2_only,
    line_factor,
    missing_field,
    need,
    only_co2,
    reject_unused,
    require_dimension,
    required_name,
    warn_zero,
)
from engine.emissions.model import (
    CalcLine,
    FactorUsed,
    GasAmount,
)
from engine.emissions.rounding import plain, shown
from engine.emissions.sector_sets import SectorFactor
from engine.emissions.sectors import (
    LIME_NAMES,
    N2O_PRODUCT_NAMES,
    WASTEWATER_NAMES,
    lime,
    nitrous_oxide,
    oxide_contents,
    wastewater,
)
from engine.emissions.units import (
    Dimension,
    convert,
)

CLINKER_NAMES = ("熟料", "水泥熟料", "clinker")
ALUMINIUM_NAMES = ("电解铝", "原铝", "铝液", "aluminium", "aluminum", "primary aluminium")


# ---------------------------------------------------------------- process


def process(line: CalcLine, settings: LineSettings, found: Found) -> Outcome:
    if line.factor is not None:
        return line_factor(line, settings, found)
    name = required_name(line, field="material")  # the material chooses the method
    folded = name.strip().lower()
    # A method's own key chooses it for any material name (caprolactam N2O, a named wastewater stream).
    if line.mass_balance is not None or line.flow is not None:
        return carbon_balance(line, found, name=name)
    if line.n2o_generation_factor is not None or folded in N2O_PRODUCT_NAMES:
        return nitrous_oxide(line, settings, found, name=name)
    if line.mcf is not None or folded in WASTEWATER_NAMES:
        return wastewater(line, settings, found, name=name)
    if line.carbon_fraction is not None:
        return _carbon_material(line, found, name=name)
    carbonate = find_carbonate(name)
    if carbonate is not None:
        return _carbonate(line, found, name=name, carbonate=carbonate)
    if folded in CLINKER_NAMES:
        return _clinker(line, found)
    if folded in ALUMINIUM_NAMES:
        return _aluminium_pfc(line, settings, found)
    if folded in LIME_NAMES:
        return lime(line, found, name=name)
    sector = settings.sector_set
    lent = sector.materials.get(name.strip().replace(" ", "").lower()) if sector is not None else None
    if sector is not None and lent is not None:
        return _sector_material(line, found, name=name, factor=lent, set_id=sector.id)
    known = (
        *carbonate_names(),
        *CLINKER_NAMES,
        *ALUMINIUM_NAMES,
        *LIME_NAMES,
        *N2O_PRODUCT_NAMES,
        *WASTEWATER_NAMES,
    )
    hint_zh, hint_en = suggestion_text(name, known)
    raise CalcError.single(
        field="material",
        zh=f"未知过程物料“{name}”{hint_zh}；请给出 factor（每单位该气体的吨数）、carbon_fraction（含碳率，"
        "碳平衡另加 mass_balance）、n2o_generation_factor（N2O 生成因子）或 mcf（废水甲烷修正因子）",
        en=f"unknown process material '{name}'{hint_en}; give factor (t of the gas per unit), "
        "carbon_fraction (with mass_balance for a carbon balance), n2o_generation_factor (N2O) "
        "or mcf (wastewater CH4)",
    )


def _sector_material(
    line: CalcLine, found: Found, *, name: str, factor: SectorFactor, set_id: str
) -> Outcome:
    """A process material whose per-tonne factor the chosen sector set gives (steel: electrodes)."""
    found.check(
        lambda: reject_unused(line, used=(), method_zh="行业因子集", method_en="the sector factor set")
    )
    found.check(lambda: only_co2(line, method_zh="行业因子集", method_en="the sector factor set"))
    unit = found.check(lambda: require_dimension(line, Dimension.MASS, what_zh=name, what_en=name))
    mass = convert(line.quantity, source=need(unit), target=TONNE)
    co2 = mass * factor.value
    return Outcome(
        gases=co2_only(co2),
        activity=f"{plain(mass)} t {name}",
        factors=(
            FactorUsed(
                name="EF",
                value=factor.value,
                unit=factor.unit,
                source=factor.source,
                note=f"{set_id}: {factor.name_en}",
            ),
        ),
        choice=FactorChoice(
            tier=FactorTier.NATIONAL,
            reason_zh=f"无实测值 → 采用行业因子集 {set_id}（{factor.source.confidence}）中{factor.name_zh}",
            reason_en=f"no measured value → {factor.name_en} from sector set {set_id} "
            f"({factor.source.confidence})",
        ),
        formula=f"E = M × EF = {plain(mass)} t × {plain(factor.value)} {factor.unit} = {shown(co2)} tCO2",
    )


def _carbonate(line: CalcLine, found: Found, *, name: str, carbonate: Carbonate) -> Outcome:
    found.check(
        lambda: reject_unused(
            line,
            used=("purity", "calcination_fraction"),
            method_zh="碳酸盐分解计算",
            method_en="the carbonate method",
        )
    )
    found.check(lambda: only_co2(line, method_zh="碳酸盐分解", method_en="carbonate calcination"))
    unit = found.check(
        lambda: require_dimension(line, Dimension.MASS, what_zh="碳酸盐", what_en="a carbonate")
    )
    mass = convert(line.quantity, source=need(unit), target=TONNE)
    warn_zero(
        line, found, "purity", what_zh="碳酸盐质量分数", what_en="the carbonate mass fraction", example="0.93"
    )
    warn_zero(
        line, found, "calcination_fraction", what_zh="煅烧比例", what_en="the calcined share", example="1"
    )
    purity = line.purity if line.purity is not None else Decimal(1)
    fraction = line.calcination_fraction if line.calcination_fraction is not None else Decimal(1)
    ratio = carbonate.co2_per_tonne
    co2 = mass * purity * ratio * fraction
    return Outcome(
        gases=co2_only(co2),
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


def _clinker(line: CalcLine, found: Found) -> Outcome:
    found.check(
        lambda: reject_unused(
            line,
            used=(
                "cao_content",
                "mgo_content",
                "cao_noncarbonate",
                "mgo_noncarbonate",
                "kiln_dust",
                "bypass_dust",
                "kiln_dust_calcination",
                "bypass_dust_calcination",
            ),
            method_zh="熟料法",
            method_en="the clinker method",
        )
    )
    found.check(lambda: only_co2(line, method_zh="熟料法", method_en="the clinker method"))
    found.add(
        missing_field(name).issues[0]
        for name in ("cao_content", "mgo_content")
        if getattr(line, name) is None
    )
    unit = need(
        found.check(lambda: require_dimension(line, Dimension.MASS, what_zh="熟料", what_en="clinker"))
    )
    if line.cao_content is None or line.mgo_content is None:
        raise Blocked
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
    # Dust counts at the clinker factor times its calcination degree (1, fully calcined, unless given).
    kiln_degree = _dust_degree(line.kiln_dust_calcination)
    bypass_degree = _dust_degree(line.bypass_dust_calcination)
    mass = clinker + kiln_dust * kiln_degree + bypass_dust * bypass_degree
    co2 = mass * emission_factor
    degrees = tuple(
        FactorUsed(name=symbol, value=given, unit="fraction", source=None, note="given on the line")
        for symbol, given in (
            ("F_kiln_dust", line.kiln_dust_calcination),
            ("F_bypass_dust", line.bypass_dust_calcination),
        )
        if given is not None
    )
    dust_terms = f"kiln dust {plain(kiln_dust)}" + (
        "" if line.kiln_dust_calcination is None else f" × {plain(kiln_degree)}"
    )
    dust_terms += f" + bypass dust {plain(bypass_dust)}" + (
        "" if line.bypass_dust_calcination is None else f" × {plain(bypass_degree)}"
    )
    symbols = "Q_clinker + Q_kiln_dust" + (" × F_kd" if line.kiln_dust_calcination is not None else "")
    symbols += " + Q_bypass_dust" + (" × F_bd" if line.bypass_dust_calcination is not None else "")
    return Outcome(
        gases=co2_only(co2),
        activity=f"{plain(mass)} t (clinker {plain(clinker)} + {dust_terms})",
        factors=(
            *degrees,
            *oxide_contents(line),
            FactorUsed(name="44/56", value=per_cao.value, unit=per_cao.unit, source=per_cao.source),
            FactorUsed(name="44/40", value=per_mgo.value, unit=per_mgo.unit, source=per_mgo.source),
        ),
        choice=FactorChoice(
            tier=FactorTier.MEASURED,
            reason_zh="熟料法：CaO、MgO 含量为本行给出的实测值，分子量比按指南取 44/56、44/40",
            reason_en="clinker method: measured CaO and MgO on the line, guideline ratios 44/56 and 44/40",
        ),
        formula=(
            f"E = ({symbols}) × "
            "[(CaO − CaO_nc) × 44/56 + (MgO − MgO_nc) × 44/40] = "
            f"{plain(mass)} t × [({plain(line.cao_content)} − {plain(cao_noncarbonate)}) × 44/56 + "
            f"({plain(line.mgo_content)} − {plain(mgo_noncarbonate)}) × 44/40] = {shown(co2)} tCO2"
        ),
    )


def _dust_degree(given: Decimal | None) -> Decimal:
    return given if given is not None else Decimal(1)


def _aluminium_pfc(line: CalcLine, settings: LineSettings, found: Found) -> Outcome:
    found.check(
        lambda: reject_unused(
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
        lambda: require_dimension(line, Dimension.MASS, what_zh="电解铝产量", what_en="aluminium output")
    )
    aluminium = convert(line.quantity, source=need(unit), target=TONNE)
    gwp_set = need(settings.gwp_set)
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
    return Outcome(
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


def _carbon_material(line: CalcLine, found: Found, *, name: str) -> Outcome:
    found.check(
        lambda: reject_unused(
            line,
            used=("carbon_fraction",),
            method_zh="含碳物料碳平衡计算",
            method_en="the carbon-content method",
        )
    )
    found.check(lambda: only_co2(line, method_zh="含碳物料计算", method_en="the carbon-content method"))
    assert line.carbon_fraction is not None
    unit = found.check(
        lambda: require_dimension(
            line, Dimension.MASS, what_zh="含碳物料", what_en="a carbon-bearing material"
        )
    )
    mass = convert(line.quantity, source=need(unit), target=TONNE)
    warn_zero(line, found, "carbon_fraction", what_zh="含碳率", what_en="the carbon content", example="0.85")
    return carbon_outcome(
        mass=mass,
        carbon=line.carbon_fraction,
        activity=f"{plain(mass)} t {name}",
        reason_zh=f"{name}：含碳率为本行给出的实测值",
        reason_en=f"{name}: carbon fraction given on the line",
    )
