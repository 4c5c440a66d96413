"""The annual GHG report agrees with the app (intensity from the year's production, as the targets show it),
says which grid factor it used and that it is a fallback, shows labels instead of tier keys, and is an A4
document with header, page numbers, reporting period, approval block and true metadata."""

import re

from sqlalchemy import text

from tests.web.documents import all_text, assert_a4_with_header_footer_and_metadata, open_docx

ORGANIZATION = "湖南湘峰水泥有限公司"
TIER_KEYS = re.compile(
    r"(?<![\w ])(measured|partly_measured|provincial|regional|national|statistical|estimated)\b"
)


def _report(web, year: int = 2025):
    response = web.as_role("top_management").get(f"/emissions/report.docx?year={year}")
    assert response.status_code == 200
    return open_docx(response.content)


def _section(document, number: str) -> str:
    """The text of one numbered section: its paragraphs and the tables between its heading and the next."""
    body = document.element.body
    texts, inside = [], False
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            style = child.xpath("./w:pPr/w:pStyle/@w:val")
            text = "".join(child.xpath(".//w:t/text()"))
            if style and style[0].startswith("Heading"):
                inside = text.split()[0] == number
                continue
        else:
            text = "\n".join("".join(p.xpath(".//w:t/text()")) for p in child.xpath(".//w:p"))
        if inside:
            texts.append(text)
    return "\n".join(texts)


def test_the_report_has_the_intensity_the_inventory_page_shows(web):
    page = web.as_role("top_management").get("/emissions?year=2025").text
    assert "本年 0.8229" in page  # the clinker intensity target's figure for the year
    intensity = _section(_report(web), "5")
    assert "未计算" not in intensity and "not calculated" not in intensity
    assert "熟料" in intensity and "0.8229" in intensity, intensity


def test_the_report_names_its_grid_factor_and_says_it_is_a_fallback(web):
    factors = _section(_report(web), "3")
    assert "0.4976" in factors and "湖南" in factors
    assert "2025 年的电网排放因子尚未发布" in factors and "2023 年" in factors, factors
    assert "fallback" in factors


def test_the_report_shows_tier_labels_not_keys(web):
    shown = all_text(_report(web))
    quality = _section(_report(web), "6")
    assert "实测" in quality and "省级因子" in quality and "全国缺省值" in quality
    assert not TIER_KEYS.search(shown), TIER_KEYS.search(shown)


def test_the_report_is_a4_with_header_footer_period_approval_block_and_metadata(web):
    document = _report(web)
    title = f"{ORGANIZATION} 2025 年度温室气体排放报告"
    assert_a4_with_header_footer_and_metadata(
        document, header_has=[ORGANIZATION, title], author="刘建国", title=title
    )
    shown = all_text(document)
    assert "2025-01-01 至 2025-12-31" in shown
    approval = next(t for t in document.tables if t.rows[0].cells[0].text == "职责 Role")
    assert [row.cells[0].text for row in approval.rows[1:]] == [
        "编制 Prepared",
        "审核 Reviewed",
        "批准 Approved",
    ]


def test_the_pages_show_the_same_tier_labels(web):
    client = web.as_role("carbon_manager")
    inventory = client.get("/emissions?year=2025").text
    assert '<td data-tier="provincial">省级因子</td>' in inventory
    assert '<td data-tier="partly_measured">部分实测（其余取缺省值）</td>' in inventory
    sources = client.get("/emissions/sources").text
    assert "<td>实测</td>" in sources and "<td>measured</td>" not in sources
    assert ">统计</option>" in sources


def test_stored_control_characters_never_break_the_report(web):
    nul = "" if web.db.url.startswith("postgresql") else "\x00"
    with web.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE emission_source SET name = :n WHERE code = 'PLANT-ELEC'"),
            {"n": f"外购{nul}\x01电力"},
        )
    shown = all_text(_report(web))
    assert "外购\ufffd" in shown and "\x01" not in shown


def test_the_report_shows_the_three_classifications_with_the_gbt32150_total(web):
    document = _report(web)
    results = _section(document, "4")
    total = re.search(r"温室气体排放总量 Total：([\d,.]+) tCO2e", results).group(1)
    tables = {t.rows[0].cells[0].text: t for t in document.tables if t.rows[0].cells[-1].text == "tCO2e"}
    for view in (
        "GB/T 32150 排放类别 GB/T 32150 categories",
        "ISO 14064-1:2018 类别 ISO 14064-1:2018 categories",
        "温室气体核算体系（GHG Protocol）范围 GHG Protocol scopes",
    ):
        rows = {row.cells[0].text: row.cells[1].text for row in tables[view].rows[1:]}
        assert rows["合计（与 GB/T 32150 总量一致）Total, equal to the GB/T 32150 total"] == total, view
    iso = {
        row.cells[0].text: row.cells[1].text
        for row in tables["ISO 14064-1:2018 类别 ISO 14064-1:2018 categories"].rows
    }
    assert iso["类别3：运输产生的间接排放 Category 3: indirect emissions from transportation"].startswith(
        "— 未核算"
    )
    assert "GB/T 32150-2015" in all_text(document)
