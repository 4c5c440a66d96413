"""The annual GHG report (docx) in the GB/T 32150 reporting structure, from the year's figures
(engine.carbon_data.reporting): the inventory's JSON and the intensity of each product."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.carbon_data.provenance import Measurement
from engine.carbon_data.reporting import AnnualFigures, classified
from engine.dqcp.report import SubstitutionLine
from engine.emissions.classification import RowKind
from engine.emissions.labels import tier_label
from engine.emissions.rounding import plain
from engine.forms.spec import Text
from engine.records.display import china_time
from engine.report_templates.registry import Placeholder, register_report_type, rows, text
from engine.reports.docx_layout import (
    Approver,
    approval_block,
    approver_row,
    docx_bytes,
    heading,
    new_document,
    paragraph,
    table,
)
from engine.reports.periods import ReportingPeriod

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
    measurements: Sequence[Measurement] = (),
) -> bytes:
    inventory, year = figures.inventory, figures.year
    title = _title(organization, year)
    document = new_document(
        organization=organization, title=title, author=prepared_by, period=ReportingPeriod.of_year(year)
    )
    heading(document, title, level=0)
    paragraph(document, f"Greenhouse gas emissions report {year} — GB/T 32150-{figures.gbt32150_edition}")
    paragraph(document, f"{year}-01-01 至 {year}-12-31", bold_label="报告期 Reporting period：")
    paragraph(document, organization, bold_label="报告主体 Reporting entity：")
    paragraph(document, f"{china_time(datetime.now(UTC))[:10]}", bold_label="编制日期 Prepared on：")
    paragraph(document, _basis(figures), bold_label="数据依据 Basis：")
    approval_block(document, APPROVERS, title="报告审批 Approval", as_heading=False)

    heading(document, "1 报告主体与核算边界 Reporting entity and boundary", level=1)
    paragraph(document, organization, bold_label="报告主体 Entity：")
    paragraph(document, industry or "—", bold_label="行业 Industry：")
    paragraph(document, "；".join(units), bold_label="核算边界（组织单元）Boundary (units)：")

    heading(document, "2 排放源识别 Emission sources", level=1)
    table(
        document,
        ["代码 Code", "名称 Name", "类别 Category", "燃料/物料 Fuel or material", "计量 Meter"],
        [list(row.values()) for row in _source_rows(sources)],
    )

    heading(document, "3 活动数据与排放因子 Activity data and emission factors", level=1)
    table(
        document,
        ["排放源 Source", "活动数据 Activity data", "排放因子 Factors (source)", "排放量 tCO2e"],
        [list(row.values()) for row in _activity_rows(inventory)],
    )
    for use in _grid_rows(grid_factors_used(inventory), year=year):
        paragraph(
            document,
            f"{use['region']} {use['year']} 年 {use['value']} {use['unit']}（{use['tier']}）；"
            f"来源 Source：{use['source']}",
            bold_label="电网排放因子 Grid emission factor：",
        )
        if use["fallback"]:
            paragraph(document, use["fallback"], bold_label="替代因子 Fallback：")

    heading(document, "4 排放量 Results", level=1)
    paragraph(document, f"{_number(inventory['total_tco2e'])} tCO2e", bold_label="温室气体排放总量 Total：")
    for header, key in (
        ("类别 Category", "by_category"),
        ("气体 Gas", "by_gas"),
        ("组织单元 Unit", "by_org_unit"),
    ):
        table(document, [header, "tCO2e"], [list(row.values()) for row in _breakdown(inventory, key)])
        paragraph(document)
    paragraph(
        document,
        f"{_number(inventory['biomass_co2_t'])} t",
        bold_label="生物质 CO2（单独报告）Biomass CO2 reported separately：",
    )
    _classifications(document, inventory)

    heading(document, "5 排放强度 Intensity", level=1)
    _intensities(document, figures)

    heading(document, "6 数据质量 Data quality", level=1)
    table(
        document,
        ["活动数据层级 Activity-data tier", "占比 Share"],
        [list(row.values()) for row in _tier_rows(inventory, "activity_tiers")],
    )
    paragraph(document)
    table(
        document,
        ["排放因子层级 Factor tier", "占比 Share"],
        [list(row.values()) for row in _tier_rows(inventory, "factor_tiers")],
    )

    paragraph(document)
    paragraph(document, "缺失数据替代 Values substituted under the missing-data rules")
    if substitutions:
        table(
            document,
            ["参数 Parameter", "月份 Month", "处理规则 Rule", "替代值 Value", "原因 Reason"],
            [list(row.values()) for row in _substitution_rows(substitutions)],
        )
    else:
        paragraph(document, "本年度无缺失数据替代。No value of the year was substituted.")
    _provenance(document, measurements)
    _warnings(document, inventory)

    heading(document, "7 不确定性 Uncertainty", level=1)
    paragraph(document, _uncertainty(inventory))
    paragraph(
        document,
        f"核算标准 Standard：GB/T 32150-{figures.gbt32150_edition}；"
        f"因子集 Factor set：{inventory['factor_set']['id']}；GWP：{inventory['gwp_set']}",
    )
    paragraph(document, f"舍入规则 Rounding：{inventory['rounding']}")
    return docx_bytes(document)


def classification_rows(inventory: dict[str, Any]) -> list[dict[str, str]]:
    """Each view's rows and its totals, labels Chinese first; a category not quantified reads "—"."""
    found = []
    for view in classified(inventory):
        name = f"{view.zh} {view.en}"
        for row in view.rows:
            unit = " t" if row.kind == RowKind.MEMO else ""
            value = "— 未核算 not quantified" if row.tco2e is None else f"{_number(row.tco2e)}{unit}"
            found.append({"view": name, "name": f"{row.zh} {row.en}", "tco2e": value})
        found.append(
            {"view": name, "name": "排放量（扣减前）Gross emissions", "tco2e": _number(view.gross_tco2e)}
        )
        found.append(
            {
                "view": name,
                "name": "合计（与 GB/T 32150 总量一致）Total, equal to the GB/T 32150 total",
                "tco2e": _number(view.total_tco2e),
            }
        )
    return found


def _classifications(document: Any, inventory: dict[str, Any]) -> None:
    """The same inventory by GB/T 32150 category, ISO 14064-1:2018 category and GHG Protocol scope."""
    paragraph(document)
    paragraph(document, "按标准分类 Classification by standard")
    rows_by_view: dict[str, list[list[str]]] = defaultdict(list)
    for row in classification_rows(inventory):
        rows_by_view[row["view"]].append([row["name"], row["tco2e"]])
    for view, rows_of_view in rows_by_view.items():
        table(document, [view, "tCO2e"], rows_of_view)
        paragraph(document)
    paragraph(
        document,
        "燃烧与过程排放归入 ISO 14064-1 类别1 与 GHG Protocol 范围1，"
        "购入电力与热力归入类别2 与范围2（基于位置）；"
        "回收利用、产品固碳与输出电力/热力为 GB/T 32150 扣减项，单独列示；生物质 CO2 不计入任何合计。"
        "Combustion and process emissions are ISO 14064-1 category 1 and GHG Protocol scope 1, purchased "
        "electricity and heat category 2 and scope 2 (location-based); recovered CO2, carbon fixed in "
        "products and exported energy are GB/T 32150 deductions listed apart; biomass CO2 is in no total.",
    )


def _provenance(document: Any, measurements: Sequence[Measurement]) -> None:
    """Where each measured value comes from; a row without its lab report, laboratory or report number is
    marked (issue 14 item 4)."""
    paragraph(document)
    paragraph(document, "实测参数来源 Provenance of measured values")
    if not measurements:
        paragraph(document, "本年度无实测参数。No measured parameters in the year.")
        return
    rows = []
    for item in measurements:
        row = item.row
        values = "；".join(
            f"{label} {plain(value)}"
            for label, value in (("NCV", row.ncv), ("CC", row.carbon_content), ("OF", row.oxidation_rate))
            if value is not None
        )
        lab = " ".join(part for part in (row.laboratory, row.accreditation) if part) or "—"
        missing = "、".join(label.zh for label in item.missing)
        checks = "；".join(label.zh for label in item.implausible)
        remark = (
            "；".join(part for part in (f"缺少来源：{missing}" if missing else "", checks) if part) or "—"
        )
        rows.append([f"{item.source_code} {row.period}", values, lab, row.report_no or "—",
                     row.sampled_on.isoformat() if row.sampled_on else "—", remark])  # fmt: skip
    table(
        document,
        ["排放源 月份 Source, month", "实测值 Values", "检测机构 Laboratory", "报告编号 Report",
         "采样日期 Sampled", "标记 Flags"],
        rows,
    )  # fmt: skip


def _warnings(document: Any, inventory: dict[str, Any]) -> None:
    """What was calculated but is usually a mistake (a value outside its plausible range, …)."""
    warnings = inventory.get("warnings") or []
    paragraph(document)
    paragraph(document, "核算提示 Calculation warnings")
    if not warnings:
        paragraph(document, "无。None.")
        return
    lines = {line["line"]: line for line in inventory.get("lines") or []}
    rows = []
    for warning in warnings:
        line = lines.get(warning.get("line"))
        where = " ".join(str(p) for p in (line.get("name"), line.get("period")) if p) if line else "—"
        rows.append([where, f"{warning['message_zh']} {warning['message_en']}"])
    table(document, ["排放源 月份 Source, month", "提示 Warning"], rows)


APPROVERS = [Approver(role="编制 Prepared"), Approver(role="审核 Reviewed"), Approver(role="批准 Approved")]


def _title(organization: str, year: int) -> str:
    return f"{organization} {year} 年度温室气体排放报告"


def _basis(figures: AnnualFigures) -> str:
    if figures.snapshot_id is not None:
        return f"{figures.year} 年冻结快照 #{figures.snapshot_id} Frozen snapshot"
    return "按当前数据计算（本年度尚未冻结快照）Calculated from current data (no frozen snapshot yet)"


def _uncertainty(inventory: dict[str, Any]) -> str:
    given = inventory.get("uncertainty")
    return f"{given}" if given else "未提供活动数据和排放因子的不确定性。No uncertainties were given."


def _source_rows(sources: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        {
            "code": s["code"],
            "name": s["name"],
            "category": CATEGORY_NAMES.get(s["category"], s["category"]),
            "fuel": s["fuel"],
            "meter": s["meter"],
        }
        for s in sources
    ]


def _breakdown(inventory: dict[str, Any], key: str) -> list[dict[str, str]]:
    return [
        {"name": CATEGORY_NAMES.get(name, name) if key == "by_category" else name, "tco2e": _number(value)}
        for name, value in inventory[key].items()
    ]


def _tier_rows(inventory: dict[str, Any], key: str) -> list[dict[str, str]]:
    return [
        {"tier": _tier(tier), "share": f"{Decimal(str(share)) * 100:.1f} %"}
        for tier, share in inventory["data_quality"][key].items()
    ]


def _substitution_rows(substitutions: Sequence[SubstitutionLine]) -> list[dict[str, str]]:
    return [
        {
            "parameter": s.parameter,
            "month": s.period,
            "rule": f"{s.rule.zh} {s.rule.en}",
            "value": f"{s.value} {s.unit}",
            "reason": s.reason,
        }
        for s in substitutions
    ]


def _activity_rows(inventory: dict[str, Any]) -> list[dict[str, str]]:
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
    return [
        {
            "source": name,
            "activity": f"{_number(e['quantity'])} {e['unit']}",
            "factors": e["factors"],
            "tco2e": _number(e["tco2e"]),
        }
        for name, e in by_source.items()
    ]


def _grid_rows(uses: Sequence[GridFactorUse], *, year: int) -> list[dict[str, str]]:
    """Which grid factor the purchased electricity used, and whether it is a fallback: a year's factor is
    published a year or two late, and until then the latest published one stands in."""
    return [
        {
            "region": use.region,
            "year": str(use.data_year),
            "value": use.value,
            "unit": use.unit,
            "tier": _tier(use.tier),
            "source": use.document,
            "fallback": (
                f"报告年度 {year} 年的电网排放因子尚未发布，本报告采用已发布的最近年份（{use.data_year} 年）"
                f"的因子替代；{year} 年因子发布后应重新核算。"
                f"No grid emission factor is published for {year} yet: the latest published one, for "
                f"{use.data_year}, is used as a fallback; recalculate once the {year} factor is published."
            )
            if use.data_year is not None and use.data_year != year
            else "",
        }
        for use in uses
    ]


def _intensity_rows(figures: AnnualFigures) -> list[dict[str, str]]:
    return [
        {
            "product": item.product or "—",
            "output": f"{_number(item.product_quantity)} {item.product_unit or ''}",
            "per_unit": _number(item.per_product, 4),
            "output_value": _number(item.output_value_10k_cny),
            "per_output_value": _number(item.per_output_value, 4),
        }
        for item in figures.intensities.values()
    ]


def _no_intensity(year: int) -> str:
    return (
        f"{year} 年没有任何产品的产量数据，未计算排放强度。"
        f"No product output is recorded for {year}, so no intensity is calculated."
    )


def _intensities(document: Any, figures: AnnualFigures) -> None:
    if not figures.intensities:
        paragraph(document, _no_intensity(figures.year))
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
        [list(row.values()) for row in _intensity_rows(figures)],
    )
    paragraph(
        document,
        f"排放总量 {_number(figures.total_tco2e)} tCO2e 除以各产品 {figures.year} 年产量。"
        f"Total emissions divided by each product's output for {figures.year}.",
    )


def ghg_report_context(
    *,
    figures: AnnualFigures,
    organization: str,
    industry: str,
    units: list[str],
    sources: list[dict[str, str]],
    prepared_by: str,
    substitutions: Sequence[SubstitutionLine] = (),
    measurements: Sequence[Measurement] = (),  # shown by the built-in layout; no placeholder yet
) -> dict[str, Any]:
    """What a template of the report may show (the placeholders registered below), as the built-in
    layout shows it."""
    inventory, year = figures.inventory, figures.year
    period = ReportingPeriod.of_year(year)
    now = china_time(datetime.now(UTC))
    return {
        "organization": organization,
        "title": _title(organization, year),
        "period": period.zh,
        "period_en": period.en,
        "exported_by": prepared_by,
        "exported_at": now,
        "approvals": [approver_row(a) for a in APPROVERS],
        "year": str(year),
        "industry": industry or "—",
        "boundary": "；".join(units),
        "prepared_on": now[:10],
        "basis": _basis(figures),
        "total_tco2e": _number(inventory["total_tco2e"]),
        "biomass_co2_t": _number(inventory["biomass_co2_t"]),
        "sources": _source_rows(sources),
        "activity": _activity_rows(inventory),
        "grid_factors": _grid_rows(grid_factors_used(inventory), year=year),
        "by_category": _breakdown(inventory, "by_category"),
        "by_gas": _breakdown(inventory, "by_gas"),
        "by_unit": _breakdown(inventory, "by_org_unit"),
        "intensities": _intensity_rows(figures),
        "intensity_note": "" if figures.intensities else _no_intensity(year),
        "activity_tiers": _tier_rows(inventory, "activity_tiers"),
        "factor_tiers": _tier_rows(inventory, "factor_tiers"),
        "substitutions": _substitution_rows(substitutions),
        "uncertainty": _uncertainty(inventory),
        "factor_set": str(inventory["factor_set"]["id"]),
        "gwp_set": str(inventory["gwp_set"]),
        "gbt32150_edition": f"GB/T 32150-{figures.gbt32150_edition}",
        "classifications": classification_rows(inventory),
        "rounding": str(inventory["rounding"]),
    }


def _share(name: str, zh: str, en: str) -> Placeholder:
    return rows(name, zh, en, text("tier", "层级", "Tier"), text("share", "占比", "Share"))


def _breakdown_rows(name: str, zh: str, en: str) -> Placeholder:
    return rows(name, zh, en, text("name", "名称", "Name"), text("tco2e", "排放量 tCO2e", "Emissions, tCO2e"))


register_report_type(
    "ghg_report",
    title=Text(zh="年度温室气体排放报告（GB/T 32150）", en="Annual GHG emissions report (GB/T 32150)"),
    where=Text(zh="排放清单页“导出年度报告”", en="the inventory page, “annual report”"),
    order=10,
    placeholders=[
        text("year", "报告年度", "Reporting year", "2025"),
        text("industry", "行业", "Industry"),
        text("boundary", "核算边界（组织单元，以“；”分隔）", "Boundary: the units, separated by “；”"),
        text("prepared_on", "编制日期", "Prepared on"),
        text("basis", "数据依据（冻结快照或当前数据）", "Basis: the frozen snapshot or current data"),
        text("total_tco2e", "温室气体排放总量 tCO2e", "Total emissions, tCO2e", "12,345.67"),
        text("biomass_co2_t", "生物质 CO2（t，单独报告）", "Biomass CO2, t (reported separately)"),
        rows(
            "sources",
            "排放源",
            "Emission sources",
            text("code", "代码", "Code"),
            text("name", "名称", "Name"),
            text("category", "类别", "Category"),
            text("fuel", "燃料/物料", "Fuel or material"),
            text("meter", "计量", "Meter"),
        ),
        rows(
            "activity",
            "活动数据与排放因子（每个排放源一行）",
            "Activity data and factors, one row per source",
            text("source", "排放源", "Source"),
            text("activity", "活动数据（含单位）", "Activity data with unit"),
            text("factors", "排放因子及来源", "Factors and their sources"),
            text("tco2e", "排放量 tCO2e", "tCO2e"),
        ),
        rows(
            "grid_factors",
            "所用电网排放因子",
            "Grid emission factors used",
            text("region", "区域", "Region"),
            text("year", "因子年份", "Factor year"),
            text("value", "数值", "Value"),
            text("unit", "单位", "Unit"),
            text("tier", "层级", "Tier"),
            text("source", "来源文件", "Source"),
            text(
                "fallback",
                "替代说明（采用往年因子时）",
                "Fallback note (when an earlier year's factor is used)",
            ),
        ),
        _breakdown_rows("by_category", "按类别的排放量", "Emissions by category"),
        _breakdown_rows("by_gas", "按气体的排放量", "Emissions by gas"),
        _breakdown_rows("by_unit", "按组织单元的排放量", "Emissions by unit"),
        rows(
            "intensities",
            "排放强度（每个有产量的产品一行）",
            "Intensity, one row per product with output",
            text("product", "产品", "Product"),
            text("output", "产量（含单位）", "Output with unit"),
            text("per_unit", "tCO2e / 单位产品", "tCO2e per unit"),
            text("output_value", "产值（万元）", "Output value (10⁴ CNY)"),
            text("per_output_value", "tCO2e / 万元", "tCO2e per 10⁴ CNY"),
        ),
        text(
            "intensity_note", "无产量时的说明（有产量时为空）", "Note when no product has output (else blank)"
        ),
        _share("activity_tiers", "活动数据层级占比", "Activity-data tiers"),
        _share("factor_tiers", "排放因子层级占比", "Emission-factor tiers"),
        rows(
            "substitutions",
            "缺失数据替代",
            "Values substituted under the missing-data rules",
            text("parameter", "参数", "Parameter"),
            text("month", "月份", "Month"),
            text("rule", "处理规则", "Rule"),
            text("value", "替代值", "Value"),
            text("reason", "原因", "Reason"),
        ),
        text("uncertainty", "不确定性", "Uncertainty"),
        text("factor_set", "因子集", "Factor set"),
        text("gwp_set", "GWP 值来源", "GWP set"),
        text("gbt32150_edition", "GB/T 32150 版本", "GB/T 32150 edition", "GB/T 32150-2015"),
        rows(
            "classifications",
            "按 GB/T 32150 类别、ISO 14064-1 类别与 GHG Protocol 范围分类（每个分类每项一行）",
            "By GB/T 32150 category, ISO 14064-1 category and GHG Protocol scope, one row per item of each",
            text("view", "分类", "Classification"),
            text("name", "类别或范围", "Category or scope"),
            text("tco2e", "排放量 tCO2e（未核算为“—”）", "tCO2e (— where not quantified)"),
        ),
        text("rounding", "舍入规则", "Rounding rule"),
    ],
)
