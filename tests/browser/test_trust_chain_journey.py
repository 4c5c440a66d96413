"""Issue 13 item 5 in the browser, in Chinese, as the carbon manager: from the inventory's total, through a
source's year and one month (its signed batch), the plan's row and its proof, down to the instrument and
its calibration certificates — and from the management review's frozen figure to its parameter. Each page
is photographed for docs/screenshots."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from engine.workflow.computed import china_today
from tests.browser.test_nonconformity import signed_in

pytestmark = pytest.mark.browser

CARBON = "carbon@xiangfeng.example"
YEAR = china_today().year - 1
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"trust-chain-{name}-zh.png"), full_page=True)


def no_failed_check(page) -> None:
    expect(page.locator('[data-check="failed"]')).to_have_count(0)


def test_the_carbon_manager_walks_from_the_total_to_the_certificate(contexts):
    page = signed_in(contexts, CARBON)
    page.goto(f"/emissions?year={YEAR}")
    page.click("#trace-inventory")
    expect(page.locator("h1")).to_contain_text("年度排放总量的来源")
    expect(page.locator('#hash-checks [data-check="ok"]')).to_have_count(2)
    shot(page, "inventory")

    page.click('#sources tr[data-source="KILN1-COAL"] a')
    expect(page.locator("#months tbody tr")).to_have_count(12)
    expect(page.locator('#months [data-signed="stale"]')).to_have_count(0)
    shot(page, "source-year")

    page.click(f'#months tr[data-period="{YEAR}-03"] a')
    expect(page.locator('#batch [data-signature-status="valid"]')).to_have_count(2)
    no_failed_check(page)
    shot(page, "month")

    page.click('#rows tr[data-row="COAL-FC"] a')
    expect(page.locator("h1")).to_contain_text(f"{YEAR}-03")
    expect(page.locator('#proof [data-check="ok"]')).to_have_count(1)
    shot(page, "plan-row")

    page.click("#instrument-link")
    expect(page.locator("#calibrations tbody tr").first).to_be_visible()
    no_failed_check(page)
    shot(page, "instrument")

    page.locator('#calibrations [data-check="ok"] a').first.click()
    expect(page.locator('#hash-checks [data-check="ok"]')).to_have_count(1)
    shot(page, "certificate")


def test_a_review_figure_leads_to_its_parameter(contexts):
    page = signed_in(contexts, CARBON)
    page.goto("/management-review")
    page.locator("table a[href^='/management-review/']").first.click()
    page.click("#trace-review")
    expect(page.locator('#hash-checks [data-check="ok"]')).to_have_count(1)
    shot(page, "review")
    page.locator(f'#figures a[href*="year={YEAR}&"]').first.click()
    expect(page.locator('#hash-checks [data-check="ok"]')).to_have_count(1)
    shot(page, "parameter")
