"""The annual GHG report (docx) in the GB/T 32150 reporting structure, from an inventory's JSON."""

from collections import defaultdict
from decimal import Decimal
from io import BytesIO
from typing import Any

from docx import Document

from engine.reports.docx_fonts import apply_chinese_styles

CATEGORY_NAMES = {
    "combustion": "化石燃料燃烧排放 Fossil fuel combustion",
    "process": "工业生产过程排放 Process",
    "purchased_electricity": "净购入电力 Purchased electricity",
    "purchased_heat": "净购入热力 Purchased heat",
    "exported_electricity": "输出电力 Exported electricity",
    "exported_heat": "输出热力 Exported heat",
    "recovered": "回收利用 Recovered CO2",
    "biomass": "生物质 CO2（不计入总量）Biomass CO2 (not in the total)",
}


def _number(value: Any, places: int = 2) -> str:
    return f"{Decimal(str(value)):,.{places}f}" if value is not None else "—"


def _table(document: Any, header: list[str], rows: list[list[str]]) -> None:
    table = document.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        cell.text = text
    for row in rows:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = text


def ghg_report_docx(
    *,
    inventory: dict[str, Any],
    year: int,
    organization: str,
    industry: str,
    units: list[str],
    sources: list[dict[str, str]],
) -> bytes:
    document = Document()
    apply_chinese_styles(document)
    document.add_heading(f"{organization} {year} 年度温室气体排放报告", level=0)
    document.add_paragraph(f"Greenhouse gas emissions report {year} — GB/T 32150-2015")

    document.add_heading("1 报告主体与核算边界 Reporting entity and boundary", level=1)
    document.add_paragraph(f"报告主体 Entity：{organization}")
    document.add_paragraph(f"行业 Industry：{industry or '—'}")
    document.add_paragraph("核算边界（组织单元）Boundary (units)：" + "；".join(units))

    document.add_heading("2 排放源识别 Emission sources", level=1)
    _table(
        document,
        ["代码 Code", "名称 Name", "类别 Category", "燃料/物料 Fuel or material", "计量 Meter"],
        [
            [s["code"], s["name"], CATEGORY_NAMES.get(s["category"], s["category"]), s["fuel"], s["meter"]]
            for s in sources
        ],
    )

    document.add_heading("3 活动数据与排放因子 Activity data and emission factors", level=1)
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
    _table(
        document,
        ["排放源 Source", "活动数据 Activity data", "排放因子 Factors (source)", "排放量 tCO2e"],
        [
            [name, f"{_number(e['quantity'])} {e['unit']}", e["factors"], _number(e["tco2e"])]
            for name, e in by_source.items()
        ],
    )

    document.add_heading("4 排放量 Results", level=1)
    document.add_paragraph(f"温室气体排放总量 Total：{_number(inventory['total_tco2e'])} tCO2e")
    _table(
        document,
        ["类别 Category", "tCO2e"],
        [[CATEGORY_NAMES.get(k, k), _number(v)] for k, v in inventory["by_category"].items()],
    )
    document.add_paragraph("")
    _table(document, ["气体 Gas", "tCO2e"], [[gas, _number(v)] for gas, v in inventory["by_gas"].items()])
    document.add_paragraph("")
    _table(
        document, ["组织单元 Unit", "tCO2e"], [[k, _number(v)] for k, v in inventory["by_org_unit"].items()]
    )
    document.add_paragraph(
        f"生物质 CO2（单独报告）Biomass CO2 reported separately：{_number(inventory['biomass_co2_t'])} t"
    )

    document.add_heading("5 排放强度 Intensity", level=1)
    intensity = inventory.get("intensity")
    if intensity:
        for key, value in intensity.items():
            document.add_paragraph(f"{key}：{value}")
    else:
        document.add_paragraph(
            "本年度未计算强度（缺少产量数据）。Intensity not calculated (no production data given)."
        )

    document.add_heading("6 数据质量 Data quality", level=1)
    quality = inventory["data_quality"]
    _table(
        document,
        ["活动数据层级 Activity-data tier", "占比 Share"],
        [[k, f"{Decimal(str(v)) * 100:.1f} %"] for k, v in quality["activity_tiers"].items()],
    )
    document.add_paragraph("")
    _table(
        document,
        ["排放因子层级 Factor tier", "占比 Share"],
        [[k, f"{Decimal(str(v)) * 100:.1f} %"] for k, v in quality["factor_tiers"].items()],
    )

    document.add_heading("7 不确定性 Uncertainty", level=1)
    uncertainty = inventory.get("uncertainty")
    document.add_paragraph(
        f"{uncertainty}"
        if uncertainty
        else "未提供活动数据和排放因子的不确定性。No uncertainties were given."
    )
    document.add_paragraph(f"因子集 Factor set：{inventory['factor_set']['id']}；GWP：{inventory['gwp_set']}")
    document.add_paragraph(f"舍入规则 Rounding：{inventory['rounding']}")
    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()
