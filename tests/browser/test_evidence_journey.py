"""The evidence life cycle in Chromium, in Chinese: the carbon manager attaches a lab report to a month of
production with its validity, finds it expired in the evidence register, and uploads a new version, which
supersedes the old one (both kept). Screenshots: docs/screenshots/evidence-*.png."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _date(page, selector: str, value: str) -> None:
    page.fill(selector, value)
    page.keyboard.press("Enter")
    expect(page.locator(selector)).to_have_value(value)


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_the_carbon_manager_replaces_an_expired_lab_report(page):
    sign_in(page, "carbon@xiangfeng.example")
    page.goto("/emissions/production?year=2026")
    _date(page, "#pr-period", "2026-03")
    page.fill("#pr-quantity", "128500")
    page.set_input_files("#pr-evidence", files=[{"name": "3月熟料化验报告.pdf", "mimeType": "application/pdf",
                                                 "buffer": PDF + b"march"}])  # fmt: skip
    _date(page, "#evidence_valid_from", "2026-03-01")
    _date(page, "#evidence_valid_until", "2026-03-31")
    with page.expect_navigation(url=re.compile(r"/emissions/production")):
        page.click("#save-production")
    page.goto("/evidence")
    expect(page.locator("h1")).to_contain_text("证据登记表")
    row = page.locator("#evidence-register tbody tr", has_text="3月熟料化验报告.pdf")
    expect(row.locator("[data-freshness]")).to_have_text("已过期")
    expect(row).to_contain_text("李娜")
    page.select_option("#ev-state", "expired")
    with page.expect_navigation(url=re.compile(r"/evidence\?state=expired")):
        page.click("#evidence-filters button[type=submit]")
    expect(page.locator("#evidence-register tbody tr")).to_have_count(1)
    shot(page, "evidence-register-zh")
    page.locator("#evidence-register tbody tr a").first.click()
    expect(page.locator("#evidence-links")).to_contain_text("产量 · 2026-03")
    retested = {"name": "3月熟料化验报告-复检.pdf", "mimeType": "application/pdf", "buffer": PDF + b"again"}
    page.set_input_files("#nv-file", files=[retested])
    _date(page, "#valid_from", "2026-04-01")
    _date(page, "#valid_until", "2027-03-31")
    with page.expect_navigation(url=re.compile(r"/evidence-items/\d+$")):
        page.click("#new-version button[type=submit]")
    expect(page.locator('tr[data-version="1"]')).to_contain_text("已被新版本取代")
    expect(page.locator('tr[data-version="2"]')).to_contain_text("有效")
    shot(page, "evidence-item-zh")
