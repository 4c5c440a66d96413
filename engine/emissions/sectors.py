"""Sector process methods named by the sector guidelines: N2O from nitric and adipic acid with abatement,
wastewater CH4 from its parameters, and lime by the output method (see docs/emissions.md)."""

from __future__ import annotations

from decimal import Decimal

from engine.emissions.chemistry import co2_per_oxide
from engine.emissions.errors import CalcError
from engine.emissions.factors import FactorChoice, FactorTier, canonical_gas, defaults, gwp
from engine.emissions.lines import (
    STOICHIOMETRY,
    TONNE,
    Blocked,
    Found,
    LineSettings,
    Outcome,
    co2_from_carbon,
    co2_only,
    line_factor,
    line_issue,
    missing_field,
    need,
    only_co2,
    reject_unused,
    require_dimension,
    required_name,
    warn_zero,
)
from engine.emissions.model import CalcLine, FactorUsed, GasAmount
from engine.emissions.rounding import plain, shown
from engine.emissions.units import Dimension, convert

N2O_PRODUCT_NAMES = ("硝酸", "nitric acid", "hno3", "己二酸", "adipic acid")
WASTEWATER_NAMES = ("废水", "工业废水", "污水", "wastewater")
LIME_NAMES = ("石灰", "生石灰", "白灰", "lime", "quicklime")


def _gas_of_method(line: CalcLine, gas: str, *, method_zh: str, method_en: str) -> None:
    """The method gives one gas; a ``gas`` key naming another is an error, naming the same one is fine."""
    if line.gas is not None and canonical_gas(line.gas) != gas:
        raise CalcError.single(
            field="gas",
            zh=f"{method_zh}固定计算 {gas}；gas 应留空或填 {gas}",
            en=f"{method_en} always gives {gas}; leave gas empty or give {gas}",
        )


def _given(value: Decimal | None, default_note: str) -> str:
    return "given on the line" if value is not None else default_note


# ---------------------------------------------------------------- N2O from nitric and adipic acid


def nitrous_oxide(line: CalcLine, settings: LineSettings, found: Found, *, name: str) -> Outcome:
    """E = P × EF × (1 − η × μ) / 1000 × GWP_N2O (EF in kg N2O per t of product)."""
    method_zh, method_en = "硝酸/己二酸 N2O 计算", "the nitric/adipic acid N2O method"
    found.check(
        lambda: reject_unused(
            line,
            used=("n2o_generation_factor", "abatement_efficiency", "abatement_use_rate"),
            method_zh=method_zh,
            method_en=method_en,
        )
    )
    found.check(lambda: _gas_of_method(line, "N2O", method_zh=method_zh, method_en=method_en))
    if line.n2o_generation_factor is None:
        found.add(
            CalcError.single(
                field="n2o_generation_factor",
                zh=f"“{name}”缺少 n2o_generation_factor：每吨产品的 N2O 生成因子（kgN2O/t），"
                "取实测值或所属行业指南按生产工艺给出的值",
                en=f"'{name}' needs n2o_generation_factor: kg of N2O generated per t of product, measured "
                "or from the sector guideline's table for the production process",
            ).issues
        )
    for given, other in (
        ("abatement_efficiency", "abatement_use_rate"),
        ("abatement_use_rate", "abatement_efficiency"),
    ):
        if getattr(line, given) is not None and getattr(line, other) is None:
            found.add(
                [
                    line_issue(
                        line,
                        other,
                        zh=f"给出了 {given} 却没有 {other}：尾气处理装置的去除效率和使用率须同时给出",
                        en=f"{given} is given without {other}: the abatement unit's efficiency and its use "
                        "rate go together",
                    )
                ]
            )
    unit = found.check(
        lambda: require_dimension(line, Dimension.MASS, what_zh="产品产量", what_en="product output")
    )
    potential = found.check(lambda: gwp(gwp_set=need(settings.gwp_set), gas="N2O"))
    warn_zero(
        line,
        found,
        "n2o_generation_factor",
        what_zh="N2O 生成因子",
        what_en="the N2O generation factor",
        example="9.72",
    )
    product = convert(line.quantity, source=need(unit), target=TONNE)
    rate, potential = need(line.n2o_generation_factor), need(potential)
    efficiency = line.abatement_efficiency if line.abatement_efficiency is not None else Decimal(0)
    use_rate = line.abatement_use_rate if line.abatement_use_rate is not None else Decimal(0)
    n2o = product * rate * (1 - efficiency * use_rate) / 1000
    tco2e = n2o * potential.value
    no_abatement = "not given: no abatement (0)"
    return Outcome(
        gases={"N2O": GasAmount(mass_t=n2o, tco2e=tco2e)},
        activity=f"{plain(product)} t {name}",
        factors=(
            FactorUsed(name="EF_N2O", value=rate, unit="kg N2O/t", source=None, note="given on the line"),
            FactorUsed(
                name="η",
                value=efficiency,
                unit="fraction",
                source=None,
                note=_given(line.abatement_efficiency, no_abatement),
            ),
            FactorUsed(
                name="μ",
                value=use_rate,
                unit="fraction",
                source=None,
                note=_given(line.abatement_use_rate, no_abatement),
            ),
            FactorUsed(name="GWP N2O", value=potential.value, unit="tCO2e/t", source=potential.source),
        ),
        choice=FactorChoice(
            tier=FactorTier.MEASURED,
            reason_zh=f"{name}：N2O 生成因子及尾气处理效率、使用率为本行给出的值",
            reason_en=f"{name}: N2O generation factor, abatement efficiency and use rate given on the line",
        ),
        formula=(
            f"E = P × EF × (1 − η × μ) / 1000 × GWP = {plain(product)} t × {plain(rate)} kg/t × "
            f"(1 − {plain(efficiency)} × {plain(use_rate)}) / 1000 × {plain(potential.value)} "
            f"({potential.gwp_set}) = {shown(n2o)} t N2O = {shown(tco2e)} tCO2e"
        ),
    )


# ---------------------------------------------------------------- wastewater CH4


def wastewater(line: CalcLine, settings: LineSettings, found: Found, *, name: str) -> Outcome:
    """E_CH4 = (TOW − S) × B0 × MCF − R, with TOW, S and R in the line's mass unit (t of COD, t of CH4)."""
    method_zh, method_en = "废水处理 CH4 计算", "the wastewater CH4 method"
    found.check(
        lambda: reject_unused(
            line,
            used=("mcf", "b0", "sludge_cod", "ch4_recovered"),
            method_zh=method_zh,
            method_en=method_en,
        )
    )
    found.check(lambda: _gas_of_method(line, "CH4", method_zh=method_zh, method_en=method_en))
    if line.mcf is None:
        found.add(
            CalcError.single(
                field="mcf",
                zh="缺少 mcf：甲烷修正因子（0–1），按废水处理方式取值，"
                "如厌氧反应器 0.8、管理完善的好氧处理 0",
                en="mcf is missing: the methane correction factor (0–1) of the treatment, e.g. 0.8 for an "
                "anaerobic reactor, 0 for a well-managed aerobic plant",
            ).issues
        )
    if line.b0 == 0:
        found.add(
            [
                line_issue(
                    line, "b0", zh="b0 必须大于 0（如 0.25）", en="b0 must be greater than 0 (e.g. 0.25)"
                )
            ]
        )
    unit = found.check(
        lambda: require_dimension(
            line,
            Dimension.MASS,
            what_zh="废水中的有机物总量 TOW",
            what_en="the organics in wastewater (TOW)",
            hint_zh="（COD 质量，如 t 或 kg）",
            hint_en=" (COD mass, e.g. t or kg)",
        )
    )
    potential = found.check(lambda: gwp(gwp_set=need(settings.gwp_set), gas="CH4"))
    unit = need(unit)
    organics = convert(line.quantity, source=unit, target=TONNE)
    sludge = convert(line.sludge_cod or Decimal(0), source=unit, target=TONNE)
    recovered = convert(line.ch4_recovered or Decimal(0), source=unit, target=TONNE)
    if sludge > organics:
        found.add(
            [
                line_issue(
                    line,
                    "sludge_cod",
                    zh=f"以污泥形式去除的 COD（{plain(need(line.sludge_cod))}）不能大于 TOW（quantity "
                    f"{plain(line.quantity)}）",
                    en=f"sludge_cod ({plain(need(line.sludge_cod))}) must not exceed the organics in the "
                    f"wastewater (quantity {plain(line.quantity)})",
                )
            ]
        )
        raise Blocked
    default_b0 = defaults()["wastewater_b0"]
    capacity = line.b0 if line.b0 is not None else default_b0.value
    correction, potential = need(line.mcf), need(potential)
    generated = (organics - sludge) * capacity * correction
    if recovered > generated:
        found.add(
            [
                line_issue(
                    line,
                    "ch4_recovered",
                    zh=f"回收的 CH4（{shown(recovered)} t）大于产生量 "
                    f"(TOW − S) × B0 × MCF = {shown(generated)} t；请核对回收量和 mcf",
                    en=f"the CH4 recovered ({shown(recovered)} t) exceeds what is generated, "
                    f"(TOW − S) × B0 × MCF = {shown(generated)} t; check the recovery and mcf",
                )
            ]
        )
        raise Blocked
    warn_zero(
        line, found, "mcf", what_zh="甲烷修正因子", what_en="the methane correction factor", example="0.8"
    )
    ch4 = generated - recovered
    tco2e = ch4 * potential.value
    return Outcome(
        gases={"CH4": GasAmount(mass_t=ch4, tco2e=tco2e)},
        activity=f"{plain(organics)} t COD {name} (sludge {plain(sludge)} t COD, CH4 recovered "
        f"{plain(recovered)} t)",
        factors=(
            FactorUsed(
                name="B0",
                value=capacity,
                unit=default_b0.unit,
                source=None if line.b0 is not None else default_b0.source,
                note="given on the line" if line.b0 is not None else "default",
            ),
            FactorUsed(name="MCF", value=correction, unit="fraction", source=None, note="given on the line"),
            FactorUsed(name="GWP CH4", value=potential.value, unit="tCO2e/t", source=potential.source),
        ),
        choice=FactorChoice(
            tier=FactorTier.MEASURED if line.b0 is not None else FactorTier.PARTLY_MEASURED,
            reason_zh="废水：MCF 与 B0 为本行给出的值"
            if line.b0 is not None
            else "废水：MCF 为本行给出的值，B0 取缺省值 0.25 kgCH4/kgCOD（IPCC 2006，S1）",
            reason_en="wastewater: MCF and B0 given on the line"
            if line.b0 is not None
            else "wastewater: MCF given on the line, B0 default 0.25 kg CH4/kg COD (IPCC 2006, S1)",
        ),
        formula=(
            f"E = [(TOW − S) × B0 × MCF − R] × GWP = [({plain(organics)} − {plain(sludge)}) t × "
            f"{plain(capacity)} × {plain(correction)} − {plain(recovered)} t] × {plain(potential.value)} "
            f"({potential.gwp_set}) = {shown(ch4)} t CH4 = {shown(tco2e)} tCO2e"
        ),
    )


# ---------------------------------------------------------------- lime, output method


def oxide_contents(line: CalcLine) -> tuple[FactorUsed, ...]:
    """The trace of the CaO and MgO contents of a clinker or lime line (both required by its method)."""
    return tuple(
        FactorUsed(
            name=symbol,
            value=value if value is not None else Decimal(0),
            unit="fraction",
            source=None,
            note="given on the line" if value is not None else "not given: 0",
        )
        for symbol, value in (
            ("CaO", line.cao_content),
            ("CaO_nc", line.cao_noncarbonate),
            ("MgO", line.mgo_content),
            ("MgO_nc", line.mgo_noncarbonate),
        )
    )


def lime(line: CalcLine, found: Found, *, name: str) -> Outcome:
    """E = Q_lime × [(CaO − CaO_nc) × EF_CaO + (MgO − MgO_nc) × EF_MgO], EF from atomic masses."""
    method_zh, method_en = "石灰产量法", "the lime output method"
    found.check(
        lambda: reject_unused(
            line,
            used=("cao_content", "mgo_content", "cao_noncarbonate", "mgo_noncarbonate"),
            method_zh=method_zh,
            method_en=method_en,
        )
    )
    found.check(lambda: only_co2(line, method_zh=method_zh, method_en=method_en))
    found.add(
        missing_field(field).issues[0]
        for field in ("cao_content", "mgo_content")
        if getattr(line, field) is None
    )
    unit = found.check(
        lambda: require_dimension(line, Dimension.MASS, what_zh="石灰产量", what_en="lime output")
    )
    output = convert(line.quantity, source=need(unit), target=TONNE)
    cao, mgo = need(line.cao_content), need(line.mgo_content)
    cao_nc = line.cao_noncarbonate or Decimal(0)
    mgo_nc = line.mgo_noncarbonate or Decimal(0)
    per_cao, per_mgo = co2_per_oxide("CaO"), co2_per_oxide("MgO")
    co2 = output * ((cao - cao_nc) * per_cao + (mgo - mgo_nc) * per_mgo)
    return Outcome(
        gases=co2_only(co2),
        activity=f"{plain(output)} t {name}",
        factors=(
            *oxide_contents(line),
            FactorUsed(
                name="EF CaO", value=per_cao, unit="tCO2/t CaO", source=STOICHIOMETRY, note="M(CO2)/M(CaO)"
            ),
            FactorUsed(
                name="EF MgO", value=per_mgo, unit="tCO2/t MgO", source=STOICHIOMETRY, note="M(CO2)/M(MgO)"
            ),
        ),
        choice=FactorChoice(
            tier=FactorTier.MEASURED,
            reason_zh="石灰产量法：CaO、MgO 含量为本行给出的实测值，CO2/CaO、CO2/MgO 按原子量计算",
            reason_en="lime output method: measured CaO and MgO on the line, CO2/CaO and CO2/MgO from atomic "
            "masses",
        ),
        formula=(
            f"E = Q × [(CaO − CaO_nc) × {shown(per_cao)} + (MgO − MgO_nc) × {shown(per_mgo)}] = "
            f"{plain(output)} t × [({plain(cao)} − {plain(cao_nc)}) × {shown(per_cao)} + "
            f"({plain(mgo)} − {plain(mgo_nc)}) × {shown(per_mgo)}] = {shown(co2)} tCO2"
        ),
    )


# ---------------------------------------------------------------- carbon fixed in products


def carbon_fixed(line: CalcLine, settings: LineSettings, found: Found) -> Outcome:
    """R = M × C × 44/12 of a product that carries carbon out (crude steel, pig iron), or M × factor; the
    category subtracts it. Its own term, not recovered CO2 (GB/T 32151.5 structure)."""
    found.check(lambda: only_co2(line, method_zh="产品固碳", method_en="carbon fixed in products"))
    if line.factor is not None:
        return line_factor(line, settings, found)
    found.check(
        lambda: reject_unused(
            line, used=("carbon_fraction",), method_zh="产品固碳计算", method_en="carbon fixed in products"
        )
    )
    name = found.check(lambda: required_name(line, field="material"))
    if line.carbon_fraction is None:
        found.add(
            CalcError.single(
                field="carbon_fraction",
                zh="产品固碳需要 carbon_fraction（产品含碳率，tC/t，如粗钢的实测含碳量）或 factor（tCO2/t）",
                en="carbon fixed in products needs carbon_fraction (the product's carbon content, tC/t, e.g. "
                "measured for crude steel) or factor (tCO2/t)",
            ).issues
        )
    unit = found.check(
        lambda: require_dimension(line, Dimension.MASS, what_zh="固碳产品产量", what_en="product output")
    )
    warn_zero(line, found, "carbon_fraction", what_zh="含碳率", what_en="the carbon content", example="0.004")
    mass = convert(line.quantity, source=need(unit), target=TONNE)
    carbon, name = need(line.carbon_fraction), need(name)
    co2 = co2_from_carbon(mass * carbon)
    return Outcome(
        gases=co2_only(co2),
        activity=f"{plain(mass)} t {name}",
        factors=(FactorUsed(name="C", value=carbon, unit="tC/t", source=None, note="given on the line"),),
        choice=FactorChoice(
            tier=FactorTier.MEASURED,
            reason_zh=f"{name}：产品含碳率为本行给出的实测值",
            reason_en=f"{name}: the product's carbon content given on the line",
        ),
        formula=(
            f"R = M × C × 44/12 = {plain(mass)} t × {plain(carbon)} tC/t × 44/12 = {shown(co2)} tCO2 "
            "(subtracted)"
        ),
    )
