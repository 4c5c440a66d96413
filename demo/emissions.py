"""Demo emissions data of a Hunan cement plant, entered through the public services."""

from decimal import Decimal
from typing import Any, cast

from sqlalchemy.orm import Mapped
from sqlmodel import Session, select

from engine.audit import Actor
from engine.carbon_data.allocation import ShareInput, set_allocation, set_product_unit
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.ingest import ingest_readings
from engine.carbon_data.inputs import set_measured_parameter, set_production
from engine.carbon_data.models import (
    AllocationMethod,
    DataTier,
    EmissionSource,
    FactorChoiceKind,
    SourceCategory,
)
from engine.carbon_data.parsing import month_start
from engine.carbon_data.sources import add_source
from engine.emissions import (
    TargetKind,
)
from engine.identity.models import OrgUnit, Product
from engine.models.base import utc_iso
from engine.planning.baselines import add_baseline, add_target

# ---------------------------------------------------------------- demo data

# Month shares of a 5,000 t/d line in Hunan: staggered winter production (错峰生产) in January and
# February, Spring Festival in February, rainy July; about 1.47 Mt of clinker a year.
_DEMO_MONTH_FACTORS = (
    "0.80",
    "0.55",
    "1.05",
    "1.10",
    "1.10",
    "1.00",
    "0.95",
    "1.00",
    "1.08",
    "1.12",
    "1.08",
    "0.95",
)
_DEMO_CLINKER_PER_MONTH = Decimal(125_000)  # t
_DEMO_YEARS = {
    # year: (clinker scale, coal t/t clinker, electricity MWh/t clinker, diesel t/month)
    2024: (Decimal("1.00"), Decimal("0.118"), Decimal("0.102"), Decimal("62")),
    2025: (Decimal("1.02"), Decimal("0.115"), Decimal("0.099"), Decimal("58")),
}
_DEMO_NCV = (
    "23.12",
    "22.96",
    "23.31",
    "23.05",
    "22.88",
    "23.40",
    "23.18",
    "22.91",
    "23.26",
    "23.09",
    "23.35",
    "23.02",
)


def _lab_report(period: str) -> dict[str, str | None]:
    """Who measured the month's coal, under which accreditation and report; November 2025's report number
    was never entered, so the demo shows a value flagged as without a source."""
    year, month = int(period[:4]), int(period[5:7])
    return {
        "laboratory": "湖南省煤炭质量检测检验中心（示例）",
        "accreditation": "CMA 181812340123",
        "report_no": None if period == "2025-11" else f"MT{year}{month:02d}-017",
        "sampled_on": f"{year}-{month:02d}-10",
    }


def seed_demo_emissions(session: Session, *, org_id: int, actor: Actor) -> bool:
    """Emission sources and two years (2024, 2025) of monthly data for the demo cement plant, its
    production, a 2024 baseline and a clinker-intensity target (−5 % by 2030). Skipped (returns
    False) when the organization already has emission sources."""
    if session.exec(select(EmissionSource.id).where(EmissionSource.org_id == org_id)).first() is not None:
        return False
    # cast: primary keys are never NULL in a result (SQLModel types them optional)
    units = dict(
        session.exec(
            select(OrgUnit.code, cast("Mapped[int]", OrgUnit.id)).where(OrgUnit.org_id == org_id)
        ).all()
    )
    products = dict(
        session.exec(
            select(Product.code, cast("Mapped[int]", Product.id)).where(Product.org_id == org_id)
        ).all()
    )
    missing = sorted({"KILN1", "QUARRY"} - set(units)) + sorted({"CLK", "PO425", "PC325R"} - set(products))
    if missing:
        raise EmissionsDataError.single(
            "org_id",
            zh=f"演示企业缺少组织单元或产品：{'、'.join(missing)}",
            en=f"the demo organization lacks org units or products: {', '.join(missing)}",
        )
    coal = add_source(
        session,
        org_id=org_id,
        actor=actor,
        org_unit_id=units["KILN1"],
        code="KILN1-COAL",
        name="1# 窑入窑煤粉（烟煤）",
        category=SourceCategory.combustion,
        fuel_or_material="烟煤",
        unit="t",
        method="转子秤计量入窑煤粉，月末盘库校核；低位发热量按化验室月均值",
        factor_choice=FactorChoiceKind.measured,
        meter="转子秤 WF-KILN-01",
        tier=DataTier.measured,
    )
    assert coal.id is not None
    diesel = add_source(
        session,
        org_id=org_id,
        actor=actor,
        org_unit_id=units["QUARRY"],
        code="QUARRY-DIESEL",
        name="矿山移动设备柴油",
        category=SourceCategory.combustion,
        fuel_or_material="柴油",
        unit="t",
        method="加油台账月度汇总",
        tier=DataTier.statistical,
    )
    electricity = add_source(
        session,
        org_id=org_id,
        actor=actor,
        org_unit_id=units.get("HQ", units["KILN1"]),
        code="PLANT-ELEC",
        name="全厂外购电力（110 kV 总降）",
        category=SourceCategory.purchased_electricity,
        unit="MWh",
        region="湖南",
        method="关口电能表月度抄表，与供电公司结算单核对",
        meter="关口表 E-HQ-01",
        tier=DataTier.measured,
    )
    clinker = add_source(
        session,
        org_id=org_id,
        actor=actor,
        org_unit_id=units["KILN1"],
        code="KILN1-CLINKER",
        name="熟料生产过程排放（碳酸盐分解）",
        category=SourceCategory.process,
        fuel_or_material="熟料",
        unit="t",
        method="熟料产量 × 熟料 CaO、MgO 含量（化验室年均值）",
        parameters={"cao_content": "0.652", "mgo_content": "0.021"},
        tier=DataTier.measured,
    )
    readings: list[dict[str, Any]] = []
    for year, (scale, coal_rate, power_rate, diesel_month) in _DEMO_YEARS.items():
        for month, share in enumerate(_DEMO_MONTH_FACTORS, start=1):
            period = f"{year}-{month:02d}"
            start = utc_iso(month_start(year, month))
            made = (_DEMO_CLINKER_PER_MONTH * Decimal(share) * scale).quantize(Decimal(1))
            busy = Decimal(share) if Decimal(share) > Decimal("0.7") else Decimal("0.7")
            for source, quantity in (
                (clinker, made),
                (coal, (made * coal_rate).quantize(Decimal("0.1"))),
                (electricity, (made * power_rate).quantize(Decimal("0.001"))),
                (diesel, (diesel_month * busy).quantize(Decimal("0.01"))),
            ):
                readings.append({"source_id": source.id, "period_start": start, "quantity": str(quantity)})
            set_measured_parameter(
                session,
                org_id=org_id,
                actor=actor,
                source_id=coal.id,
                period=period,
                ncv=_DEMO_NCV[month - 1],
                ncv_unit="GJ/t",
                provenance=_lab_report(period),
            )
            for code, ratio, price in (
                ("CLK", Decimal(1), None),
                ("PO425", Decimal("0.90"), Decimal("0.0380")),  # 万元/t: 380 CNY/t
                ("PC325R", Decimal("0.45"), Decimal("0.0330")),
            ):
                output = (made * ratio).quantize(Decimal(1))
                set_production(
                    session,
                    org_id=org_id,
                    actor=actor,
                    product_id=products[code],
                    period=period,
                    quantity=output,
                    output_value_10k_cny=None
                    if price is None
                    else (output * price).quantize(Decimal("0.01")),
                )
    ingest_readings(
        session, org_id=org_id, readings=readings, idempotency_key="demo-seed-2024-2025", actor=actor
    )
    _seed_allocation(
        session, org_id=org_id, actor=actor, units=units, products=products, source_id=electricity.id
    )
    add_baseline(
        session, org_id=org_id, actor=actor, name="2024 基准年", periods=[{"year": 2024, "weight": 1}]
    )
    add_target(
        session,
        org_id=org_id,
        actor=actor,
        kind=TargetKind.INTENSITY.value,
        base_year=2024,
        target_year=2030,
        reduction_pct=Decimal(5),
        product_id=products["CLK"],
        note="单位熟料碳排放强度 2030 年较 2024 年下降 5%",
    )
    return True


# The plant's purchased electricity, metered at the 110 kV substation, shared by the clinker line and the
# cement grinding line: each has its sub-meter (MWh of the year); offices and lighting are not sub-metered.
_DEMO_SUBMETERS = {2024: {"KILN1": "93300", "CEMMILL": "51900"}, 2025: {"KILN1": "92400", "CEMMILL": "51300"}}


def _seed_allocation(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    units: dict[str, int],
    products: dict[str, int],
    source_id: int | None,
) -> None:
    """Which line makes which product, and the sub-meter key of the shared electricity (issue 14 item 7)."""
    if source_id is None or not {"KILN1", "CEMMILL"} <= set(units):
        return
    for code, unit in (("CLK", "KILN1"), ("PO425", "CEMMILL"), ("PC325R", "CEMMILL")):
        set_product_unit(
            session, org_id=org_id, actor=actor, product_id=products[code], org_unit_id=units[unit]
        )
    for year, meters in _DEMO_SUBMETERS.items():
        set_allocation(
            session,
            org_id=org_id,
            actor=actor,
            source_id=source_id,
            year=year,
            method=AllocationMethod.submeter,
            basis=f"分表 E-KILN1-01（熟料线）、E-CEM-01（粉磨站）{year} 年能源台账年度抄表",
            shares=[ShareInput(units[code], metered_quantity=value) for code, value in meters.items()],
        )
