"""Issue 11's generic parts in Chromium, in Chinese: the carbon manager adds a production line to the
organization tree and filters the nonconformities by a site; imports a register from the template they
downloaded (a wrong row first: nothing written, the row named); top management exports the responsibility
matrix as a controlled Word document."""

import re
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

CARBON = "carbon@xiangfeng.example"


def test_the_tree_grows_and_scopes_the_registers(page):
    sign_in(page, CARBON)
    page.goto("/organization")
    expect(page.locator("h1")).to_contain_text("组织架构树")
    page.select_option("#new-kind", "production_line")
    page.fill("#new-code", "CM2")
    page.fill("#new-name", "2# 水泥磨")
    page.select_option("#new-parent", label="\u3000\u3000PLANT 湘潭生产厂区")
    page.click("#add-unit-submit")
    row = page.locator("#org-tree tbody tr", has=page.locator("td:first-child strong", has_text="2# 水泥磨"))
    expect(row).to_contain_text("生产线")
    expect(row).to_have_attribute("data-depth", "3")
    page.goto("/records/nonconformity")
    page.select_option("#unit", label="\u3000\u3000QUARRY 石灰石矿山")
    page.click("button[type=submit]:has-text('筛选')")
    expect(page).to_have_url(re.compile(r"unit=\d+"))
    expect(page.locator("#unit option:checked")).to_contain_text("石灰石矿山")


def test_a_register_comes_in_from_its_template(page, tmp_path: Path):
    sign_in(page, CARBON)
    page.goto("/records/metering_instrument")
    page.click("#import-link")
    expect(page.locator("h1")).to_contain_text("从 Excel 导入计量器具台账")
    with page.expect_download() as download:
        page.click("#import-template")
    workbook = load_workbook(BytesIO(Path(download.value.path()).read_bytes()))
    sheet = workbook.active
    header = [str(cell.value).rstrip(" *") for cell in next(sheet.iter_rows())]
    values = {
        "器具编号": "JL-X-101",
        "器具名称": "2# 水泥磨主电机电能表",
        "器具类别": "电能表",
        "所属设施": "CEMMILL",
        "测量参数": "水泥磨用电量",
        "计量级别（GB 17167）": "主要用能设备",
        "准确度等级": "0.5S",
        "检定/校准周期（月）": 24,
        "责任人": "周强",
    }
    row = [next((v for k, v in values.items() if h.startswith(k)), None) for h in header]
    wrong = [
        cell if h.split(" ")[0] != "所属设施" else "不存在的车间" for cell, h in zip(row, header, strict=True)
    ]
    sheet.append(row)
    sheet.append([*wrong[:1], "JL-X-102", *wrong[2:]] if header[0].startswith("器具编号") else wrong)
    upload = tmp_path / "计量器具.xlsx"
    workbook.save(upload)
    page.set_input_files("#import-file", str(upload))
    page.click("#import-submit")
    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("未导入任何数据")
    expect(problems).to_contain_text("本组织没有此部门/设施：不存在的车间")
    expect(problems.locator("td").first).to_have_text("3")
    workbook = load_workbook(upload)
    workbook.active.delete_rows(3)
    workbook.save(upload)
    page.set_input_files("#import-file", str(upload))
    page.click("#import-submit")
    expect(page.locator("#import-result")).to_contain_text("已导入 1 条记录")
    page.locator("#import-result a").first.click()
    expect(page.locator("h1")).to_contain_text("2# 水泥磨主电机电能表")
    expect(page.locator("body")).to_contain_text("周强")


def test_top_management_exports_the_responsibility_matrix(page):
    sign_in(page, "gm@xiangfeng.example")
    page.goto("/responsibilities")
    expect(page.locator("#responsibility-matrix")).to_contain_text("计量器具台账")
    with page.expect_download() as download:
        page.click("#responsibilities-docx")
    assert Path(download.value.path()).read_bytes()[:2] == b"PK"
    assert download.value.suggested_filename.endswith(".docx")
