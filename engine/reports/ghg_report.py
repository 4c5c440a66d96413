"""The annual GHG report (docx) in the GB/T 32150 reporting structure, from the year's figures
(engine.carbon_data.reporting): the inventory's JSON and the intensity of each product."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.carbon_data.reporting import AnnualFigures
from engine.dqcp.report import SubstitutionLine
from engine.emissions.labels import tier_label
from engine.records.display import china_time
from engine.reports.docx_layout import (
    Approver,
    approval_block,
    docx_bytes,
    heading,
    new_document,
    paragraph,
    table,
)

CATEGORY_NAMES = {
    "combustion": "化石燃料燃烧排放 Fossil fuel combustion",
    "process": "工业生产过程排放 Process",
    "purchased_electricity": "净购入电力 Purchased electricity",
    "purchased_heat": "净购入热力 Purchased heat",
    "exported_electricity": "输出电力 Exported electricity",
    "exported_heat": "输出热力 Exported heat",
    "recovered": "回收利用 Recovered CO2",
    "fixed_in_products": "产品固碳（扣减）Carbon fixed in products",
    "biomass": "生物质 CO2（不计入总量）Biomass CO2 (not in the total)",
}
ELECTRICITY = ("purchased_electricity", "exported_electricity")


def _number(value: Any, places: int = 2) -> str:
    return f"{Decimal(str(value)):,.{places}f}" if value is not None else "—"


def _tier(key: str) -> str:
    return f"{tier_label(key)} {tier_label(key, 'en')}"


@dataclass(frozen=True)
class GridFactorUse:
    """A grid emission factor the inventory's electricity lines used."""

    region: str
    data_year: int | None
    value: str
    unit: str
    tier: str
    document: str


def grid_factors_used(inventory: dict[str, Any]) -> list[GridFactorUse]:
    """The distinct grid factors of the electricity lines (a factor given on the line itself is not one)."""
    found: dict[GridFactorUse, None] = {}
    for line in inventory["lines"]:
        trace = line["trace"]
        region = trace["inputs"].get("region")
        if line["category"] not in ELECTRICITY or not region:
            continue
        for factor in trace["factors"]:
            source = factor.get("source") or {}
            if source.get("year") is None:
                continue
            use = GridFactorUse(
                region=region,
                data_year=int(source["year"]),
                value=factor["value"],
                unit=factor["unit"],
                tier=trace["factor_choice"]["tier"],
                document=source.get("document", ""),
            )
            found.setdefault(use)
    return list(found)


def ghg_report_docx(
    *,
    figures: AnnualFigures,
    organization: str,
    industry: str,
    units: list[str],
    sources: list[dict[str, str]],
    prepared_by: str,
    substitutions: Sequence[SubstitutionLine] = (),
) -> bytes:
    inventory, year = figures.inventory, figures.year
    title = f"{organization} {year} 年度温室气体排放报告"
    document = new_document(organization=organization, title=title, author=prepared_by)
    heading(document, title, level=0)
    paragraph(document, f"Greenhouse gas emissions report {year} — GB/T 32150-2015")
    paragraph(document, f"{year}-01-01 至 {year}-12-31", bold_label="报告期 Reporting period：")
    paragraph(document, organization, bold_label="报告主体 Reporting entity：")
    paragraph(document, f"{china_time(datetime.now(UTC))[:10]}", bold_label="编制日期 Prepared on：")
    paragraph(
        document,
        f"{year} 年冻结快照 #{figures.snapshot_id} Frozen snapshot"
        if figures.snapshot_id is not None
        else "按当前数据计算（本年度尚未冻结快照）Calculated from current data (no frozen snapshot yet)",
        bold_label="数据依据 Basis：",
    )
    approval_block(
        document,
        [Approver(role="编制 Prepared"), Approver(role="审核 Reviewed"), Approver(role="批准 Approved")],
        title="报告审批 Approval",
        as_heading=False,
    )

    heading(document, "1 报告主体与核算边界 Reporting entity and boundary", level=1)
    paragraph(document, organization, bold_label="报告主体 Entity：")
    paragraph(document, industry or "—", bold_label="行业 Industry：")
    paragraph(document, "；".join(units), bold_label="核算边界（组织单元）Boundary (units)：")

    heading(document, "2 排放源识别 Emission sources", level=1)
    table(
        document,
        ["代码 Code", "名称 Name", "类别 Category", "燃料/物料 Fuel or material", "计量 Meter"],
        [
            [s["code"], s["name"], CATEGORY_NAMES.get(s["category"], s["category"]), s["fuel"], s["meter"]]
            for s in sources
        ],
    )

    heading(document, "3 活动数据与排放因子 Activity data and emission factors", level=1)
    _activity_and_factors(document, inventory)
    _grid_factors(document, grid_factors_used(inventory), year=year)

    heading(document, "4 排放量 Results", level=1)
    paragraph(document, f"{_number(inventory['total_tco2e'])} tCO2e", bold_label="温室气体排放总量 Total：")
    table(
        document,
        ["类别 Category", "tCO2e"],
        [[CATEGORY_NAMES.get(k, k), _number(v)] for k, v in inventory["by_category"].items()],
    )
    paragraph(document)
    table(document, ["气体 Gas", "tCO2e"], [[gas, _number(v)] for gas, v in inventory["by_gas"].items()])
    paragraph(document)
    table(
        document, ["组织单元 Unit", "tCO2e"], [[k, _number(v)] for k, v in inventory["by_org_unit"].items()]
    )
    paragraph(
        document,
        f"{_number(inventory['biomass_co2_t'])} t",
        bold_label="生物质 CO2（单独报告）Biomass CO2 reported separately：",
    )

    heading(document, "5 排放强度 Intensity", level=1)
    _intensities(document, figures)

    heading(document, "6 数据质量 Data quality", level=1)
    quality = inventory["data_quality"]
    table(
        document,
        ["活动数据层级 Activity-data tier", "占比 Share"],
        [[_tier(k), f"{Decimal(str(v)) * 100:.1f} %"] for k, v in quality["activity_tiers"].items()],
    )
    paragraph(document)
    table(
        document,
        ["排放因子层级 Factor tier", "占比 Share"],
        [[_tier(k), f"{Decimal(str(v)) * 100:.1f} %"] for k, v in quality["factor_tiers"].items()],
    )

    paragraph(document)
    paragraph(document, "缺失数据替代 Values substituted under the missing-data rules")
    if substitutions:
        table(
            document,
            ["参数 Parameter", "月份 Month", "处理规则 Rule", "替代值 Value", "原因 Reason"],
            [
                [s.parameter, s.period, f"{s.rule.zh} {s.rule.en}", f"{s.value} {s.unit}", s.reason]
                for s in substitutions
            ],
        )
    else:
        paragraph(document, "本年度无缺失数据替代。No value of the year was substituted.")

    heading(document, "7 不确定性 Uncertainty", level=1)
    uncertainty = inventory.get("uncertainty")
    paragraph(
        document,
        f"{uncertainty}"
        if uncertainty
        else "未提供活动数据和排放因子的不确定性。No uncertainties were given.",
    )
    paragraph(document, f"因子集 Factor set：{inventory['factor_set']['id']}；GWP：{inventory['gwp_set']}")
    paragraph(document, f"舍入规则 Rounding：{inventory['rounding']}")
    return docx_bytes(document)


def _activity_and_factors(document: Any, inventory: dict[str, Any]) -> None:
    by_source: dict[str, dict[str, Any]] = defaultdict(lambda: {"quantity": Decimal(0), "tco2e": Decimal(0)})
    for line in inventory["lines"]:
        entry = by_source[line["name"] or line["source"] or str(line["line"])]
        entry["quantity"] += Decimal(line["quantity"])
        entry["tco2e"] += Decimal(str(line["tco2e"]))
        entry["unit"] = line["unit"]
        entry["factors"] = "；".join(
            f"{f['name']} = {f['value'][:12]} {f['unit']}"
            + (f"（{f['source']['document']}）" if f.get("source") else "")
            for f in line["trace"]["factors"]
        )
    table(
        document,
        ["排放源 Source", "活动数据 Activity data", "排放因子 Factors (source)", "排放量 tCO2e"],
        [
            [name, f"{_number(e['quantity'])} {e['unit']}", e["factors"], _number(e["tco2e"])]
            for name, e in by_source.items()
        ],
    )


def _grid_factors(document: Any, uses: Sequence[GridFactorUse], *, year: int) -> None:
    """Which grid factor the purchased electricity used, and whether it is a fallback: a year's factor is
    published a year or two late, and until then the latest published one stands in."""
    for use in uses:
        paragraph(
            document,
            f"{use.region} {use.data_year} 年 {use.value} {use.unit}（{_tier(use.tier)}）；"
            f"来源 Source：{use.document}",
            bold_label="电网排放因子 Grid emission factor：",
        )
        if use.data_year is not None and use.data_year != year:
            paragraph(
                document,
                f"报告年度 {year} 年的电网排放因子尚未发布，本报告采用已发布的最近年份（{use.data_year} 年）"
                f"的因子替代；{year} 年因子发布后应重新核算。"
                f"No grid emission factor is published for {year} yet: the latest published one, for "
                f"{use.data_year}, is used as a fallback; recalculate once the {year} factor is published.",
                bold_label="替代因子 Fallback：",
            )


def _intensities(document: Any, figures: AnnualFigures) -> None:
    if not figures.intensities:
        paragraph(
            document,
            f"{figures.year} 年没有任何产品的产量数据，未计算排放强度。"
            f"No product output is recorded for {figures.year}, so no intensity is calculated.",
        )
        return
    table(
        document,
        [
            "产品 Product",
            "产量 Output",
            "tCO2e / 单位产品 per unit",
            "产值 Output value (10⁴ CNY)",
            "tCO2e / 万元",
        ],
        [
            [
                item.product or "—",
                f"{_number(item.product_quantity)} {item.product_unit or ''}",
                _number(item.per_product, 4),
                _number(item.output_value_10k_cny),
                _number(item.per_output_value, 4),
            ]
            for item in figures.intensities.values()
        ],
    )
    paragraph(
        document,
        f"排放总量 {_number(figures.total_tco2e)} tCO2e 除以各产品 {figures.year} 年产量。"
        f"Total emissions divided by each product's output for {figures.year}.",
    )
