"""Allocation units in Chromium, in Chinese, as the carbon manager: from the inventory to the legal entity's
page, where the clinker line, the grinding line and the unallocated remainder add up to the entity's total;
the clinker line's own page with its intensity; a sub-meter key with a negative value is refused naming the
row and the field, and nothing changes. Screenshot: docs/screenshots/inventory-by-line-zh.png."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_the_carbon_manager_reads_the_inventory_by_line(page):
    sign_in(page, "carbon@xiangfeng.example")
    page.goto("/emissions?year=2025")
    page.click("#inventory-by-line")
    expect(page.locator("h1")).to_contain_text("按生产线和工序的排放清单 2025")
    page.click("#units-table a:has-text('湖南湘峰水泥有限公司')")
    expect(page.locator("h1")).to_contain_text("湖南湘峰水泥有限公司")
    breakdown = page.locator("#line-breakdown")
    expect(breakdown.locator("tr[data-line=KILN1]")).to_contain_text("5000 t/d 熟料生产线")
    expect(breakdown.locator("tr[data-line=CEMMILL]")).to_contain_text("25,526.88")
    expect(breakdown.locator("tr[data-line=remainder]")).to_contain_text("未分配余量")
    expect(page.locator("#lines-check")).to_have_text("= 本单元合计，完全一致")
    expect(page.locator("[data-method=submeter]")).to_have_text("按分表计量")
    page.screenshot(path=str(SCREENSHOTS / "inventory-by-line-zh.png"), full_page=True)

    form = page.locator("form[id^=allocation-form-]")
    page.locator("details:has(form[id^=allocation-form-]) summary").click()
    form.locator("input[name=share-1-quantity]").fill("-5")
    form.locator("button[type=submit]").click()
    issue = page.locator("#data-issues tr[data-issue-field=metered_quantity]")
    expect(issue).to_contain_text("分表计量值")
    expect(issue.locator("td").first).to_have_text("1")
    page.goto("/emissions/units?year=2025")
    expect(page.locator("tr[data-unit=KILN1]")).to_contain_text("45,978.24")  # nothing changed

    page.click("#units-table a:has-text('5000 t/d 熟料生产线')")
    expect(page.locator("#intensity tr[data-intensity=CLK]")).to_contain_text("tCO₂e/t")
    expect(page.locator("#unit-parameters")).to_contain_text("1# 窑吨熟料排放强度")
