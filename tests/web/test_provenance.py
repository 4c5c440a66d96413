"""Issue 14 item 4: a measured value names where it comes from — its lab report, the laboratory with its
CMA/CNAS accreditation, the report number and the sample date — on the measured-parameters page, in the
trust chain and on the inventory; a row that does not is flagged; bad provenance is refused by field with
nothing saved."""

import io
import re

from docx import Document
from sqlalchemy import text

from tests.web.conftest import csrf_of
from tests.web.test_evidence import PDF

YEAR = "2026"


def scalar(web, sql: str):
    with web.db.engine.connect() as connection:
        return connection.execute(text(sql)).scalar()


def post(client, page: str, **fields):
    source_id = re.search(r'<option value="(\d+)"[^>]*>[^<]*\(烟煤\)', page).group(1)
    data = {"csrf_token": csrf_of(page), "source_id": source_id, "ncv": "23.05", "ncv_unit": "GJ/t", **fields}
    return client.post("/emissions/measured", data=data, files={"evidence": ("化验单.pdf", PDF)})


def test_a_measured_row_names_its_laboratory_report_and_sample(web):
    client = web.as_role("carbon_manager")
    page = client.get(f"/emissions/measured?year={YEAR}").text
    saved = post(
        client, page, period=f"{YEAR}-02", laboratory="湖南省煤质检测中心", accreditation="CMA 181812340123",
        report_no="MT202602-017", sampled_on=f"{YEAR}-02-10",
    )  # fmt: skip
    assert saved.status_code == 303
    shown = client.get(f"/emissions/measured?year={YEAR}").text
    row = re.search(rf'<tr data-measured="\d+-{YEAR}-02">.*?</tr>', shown, re.S).group(0)
    assert "湖南省煤质检测中心 · CMA 181812340123 · 报告 MT202602-017 · 采样日期 2026-02-10" in row
    assert "data-unsourced" not in row
    # Without laboratory and report number (the file alone is not enough): flagged, on the page and the
    # inventory.
    assert post(client, page, period=f"{YEAR}-03").status_code == 303
    shown = client.get(f"/emissions/measured?year={YEAR}").text
    row = re.search(rf'<tr data-measured="\d+-{YEAR}-03">.*?</tr>', shown, re.S).group(0)
    assert "缺少来源: 检测机构、报告编号" in row
    assert 'id="unsourced"' in shown


def test_bad_provenance_is_refused_by_field_and_nothing_is_saved(web):
    client = web.as_role("carbon_manager")
    page = client.get(f"/emissions/measured?year={YEAR}").text
    refused = post(
        client, page, period=f"{YEAR}-04", laboratory="实验室\t甲", report_no="R" * 81,
        accreditation="x" * 81, sampled_on=f"{YEAR}-02-30",
    )  # fmt: skip
    assert refused.status_code == 422
    fields = set(re.findall(r'data-issue-field="([^"]+)"', refused.text))
    assert fields == {"report_no", "accreditation", "sampled_on"}
    assert "采样日期不是有效日期" in refused.text and "不能超过 80 个字符" in refused.text
    # A bidirectional override is refused app-wide before the form is read.
    assert post(client, page, period=f"{YEAR}-04", laboratory="实验室\u202e").status_code == 422
    future = post(client, page, period=f"{YEAR}-04", sampled_on="2999-01-01")
    assert future.status_code == 422 and "采样日期不能晚于今天" in future.text
    assert scalar(web, f"SELECT count(*) FROM measured_parameter WHERE period = '{YEAR}-04'") == 0


def test_an_implausible_value_is_flagged_on_the_measured_page_and_the_inventory_but_used(web):
    client = web.as_role("carbon_manager")
    page = client.get("/emissions/measured?year=2025").text
    before = client.get("/emissions?year=2025").text
    assert 'id="calc-warnings"' not in before
    saved = post(client, page, period="2025-05", ncv="35", reason="复测结果更正")
    assert saved.status_code == 303
    shown = client.get("/emissions/measured?year=2025").text
    row = re.search(r'<tr data-measured="\d+-2025-05">.*?</tr>', shown, re.S).group(0)
    assert "低位发热量超出常见范围 17–30" in row
    inventory = client.get("/emissions?year=2025").text
    warnings = re.search(r'<div [^>]*id="calc-warnings".*?</div>', inventory, re.S).group(0)
    assert "2025-05" in warnings and "烟煤低位发热量 35 GJ/t 超出常见范围 17–30 GJ/t" in warnings
    # The GHG report lists the same warning, and each measured row with its provenance and flags.
    report = client.get("/emissions/report.docx?year=2025")
    assert report.status_code == 200
    text_of_report = "\n".join(
        cell.text
        for table in Document(io.BytesIO(report.content)).tables
        for row in table.rows
        for cell in row.cells
    )
    assert "烟煤低位发热量 35 GJ/t 超出常见范围 17–30 GJ/t" in text_of_report
    assert "缺少来源：检测机构、报告编号；低位发热量超出常见范围 17–30" in text_of_report  # 2025-05 as saved
    assert "CMA 181812340123" in text_of_report  # the demo's other months name their laboratory
