"""The clause-coverage map and the statement of applicability in Chromium: the internal auditor reads the
map in Chinese and in English and drills into a clause; the carbon manager drafts a new version of the
statement from the one in force. Screenshots: docs/screenshots/coverage-*.png."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_the_auditor_reads_the_map_and_drills_into_a_clause(page):
    sign_in(page, "auditor@xiangfeng.example")
    page.goto("/evaluation/coverage")
    expect(page.locator("h1")).to_have_text("条款覆盖图")
    rows = page.locator("#coverage-map tbody tr")
    expect(rows).to_have_count(30)
    expect(page.locator('tr[data-clause="6.2.2"] td[data-status]').last).to_have_attribute(
        "data-status", "covered"
    )
    shot(page, "coverage-map-zh")
    page.locator('tr[data-clause="6.2.2"] td[data-status] a').last.click()
    expect(page.locator("h1")).to_contain_text("6.2.2 合规义务")
    expect(page.locator("#clause-status")).to_contain_text("已覆盖")
    expect(page.locator("#clause-records tbody tr").first).to_contain_text("HG-")
    shot(page, "coverage-clause-zh")
    page.click("#locale-en")
    expect(page.locator("h1")).to_contain_text("6.2.2 Compliance obligations")
    page.goto("/evaluation/coverage")
    expect(page.locator("h1")).to_have_text("Clause coverage")
    shot(page, "coverage-map-en")
    page.click("#locale-zh_CN")  # leave the demo user in Chinese
    expect(page.locator("h1")).to_have_text("条款覆盖图")


def test_the_carbon_manager_drafts_the_next_statement(page):
    sign_in(page, "carbon@xiangfeng.example")
    page.goto("/evaluation/applicability")
    expect(page.locator("#in-force")).to_contain_text("SOA-")
    expect(page.locator("#applicability tbody tr")).to_have_count(30)
    shot(page, "coverage-applicability-zh")
    page.fill("input[name=edition]", "B/0")
    page.click("#draft-statement")
    expect(page.locator("h1")).to_contain_text("适用性声明（B/0）")
    expect(page.locator("body")).to_contain_text("编制中")
