"""Operation (8.1–8.5, 8.7) in Chromium, in Chinese, as the people who use it: the kiln's process owner
records a kiln coal figure above its operating criterion's limit and finds the nonconformity it opened,
linked both ways; the carbon manager reads the reduction projects, the supplier grades and the 2025
compliance-year balance with its surrender deadline. Screenshots: docs/screenshots/operation-*-zh.png and
carbon-assets-zh.png."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import htmx_settled, sign_in

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
KILN = "kiln@xiangfeng.example"
CARBON = "carbon@xiangfeng.example"


def test_a_deviation_out_of_range_opens_a_nonconformity(page):
    sign_in(page, KILN)
    page.goto("/records/operating_criterion")
    expect(page.locator("h1")).to_contain_text("运行控制准则")
    expect(page.locator("main")).to_contain_text("超出上限")  # the demo's November coal consumption
    page.screenshot(path=str(SCREENSHOTS / "operation-criteria-zh.png"), full_page=True)
    page.locator("tr", has_text="吨熟料实物煤耗（烟煤）").locator("a").first.click()
    expect(page.locator("#record-number")).to_have_text(re.compile(r"^YX-\d{3}$"))
    htmx_settled(page)
    page.click("#actions button[data-trigger=record_deviation]")
    expect(page.locator("form#transition-form")).to_be_visible()
    htmx_settled(page)
    page.fill("#f-measured_on", "2026-12-06")
    page.keyboard.press("Escape")
    page.fill("#f-measured_value", "158.4")
    page.fill("#f-measurement_note", "入窑煤热值偏低（5,120 kcal/kg），加煤量增加")
    page.click("#submit-transition")
    expect(page.locator("[data-value=last_result]")).to_have_text("超出上限")
    expect(page.locator("[data-value=last_value]")).to_contain_text("158.4")
    linked = page.locator("a[href^='/r/']", has_text=re.compile(r"^NC-\d{4}-\d{4}$")).last
    expect(linked).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "operation-deviation-zh.png"), full_page=True)
    linked.click()
    expect(page.locator("h1")).to_contain_text("超出上限")
    expect(page.locator("main")).to_contain_text("已报告")
    expect(page.locator("main")).to_contain_text("吨熟料实物煤耗（烟煤）")


def test_the_carbon_manager_reads_projects_suppliers_and_the_compliance_balance(page):
    sign_in(page, CARBON)
    page.goto("/records/reduction_project")
    expect(page.locator("main")).to_contain_text("余热电站提效改造")
    expect(page.locator("main")).to_contain_text("减排量已核证")
    page.screenshot(path=str(SCREENSHOTS / "operation-projects-zh.png"), full_page=True)
    page.goto("/records/supplier_evaluation")
    expect(page.locator("main")).to_contain_text("GYS-TR-01")
    expect(page.locator("main")).to_contain_text("D（不合格 < 60）")
    page.screenshot(path=str(SCREENSHOTS / "operation-suppliers-zh.png"), full_page=True)
    page.goto("/records/design_review")
    page.locator("tr", has_text="水泥磨辊压机联合粉磨系统施工图设计").locator("a").first.click()
    expect(page.locator("main")).to_contain_text("能源计量（GB 17167）")
    page.screenshot(path=str(SCREENSHOTS / "operation-design-review-zh.png"), full_page=True)

    page.goto("/records/carbon_asset_transaction")
    page.screenshot(path=str(SCREENSHOTS / "operation-ledger-zh.png"), full_page=True)
    page.goto("/")
    page.hover("text=运行")
    page.click("#nav-carbon-assets")
    expect(page.locator("h1")).to_contain_text("碳资产")
    balance = page.locator("#balance")
    expect(balance).to_contain_text("2025 履约年度")
    expect(balance).to_contain_text("1,318,460")
    expect(page.locator("#row-balance")).to_contain_text("盈余 16,000")
    expect(page.locator("#row-deadline")).to_contain_text("2026-12-31")
    expect(page.locator("#chart-assets svg")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "carbon-assets-zh.png"), full_page=True)
    page.click("a[data-year='2024']")
    expect(page.locator("#balance")).to_contain_text("已履约")
    expect(page.locator("#row-to-surrender")).to_contain_text("0")
    page.click("#locale-en")
    page.wait_for_load_state()
    page.goto("/carbon-assets")
    expect(page.locator("h1")).to_contain_text("Carbon assets")
    expect(page.locator("#row-balance")).to_contain_text("surplus 16,000")
    page.screenshot(path=str(SCREENSHOTS / "carbon-assets-en.png"), full_page=True)
    page.click("#locale-zh_CN")  # the account's language back to Chinese for the other tests
    page.wait_for_load_state()
