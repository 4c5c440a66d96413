"""Freezing the demo's 2025 inventory in a browser: the confirmation step asks for a reason (2025 uses the
2023 grid factor); the demo froze 2025 already (its 2025 disclosure is drawn from that snapshot), so the
same inputs are not frozen twice and the page links the snapshot there is, which shows its reason, who
froze it and its re-checked hash — in Chinese, as the carbon manager, with a screenshot in
docs/screenshots/."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from demo.support import FALLBACK_REASON
from tests.browser.conftest import htmx_settled, sign_in

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_freeze_with_a_reason_then_open_the_snapshot(contexts):
    page = contexts.new().new_page()
    sign_in(page, "carbon@xiangfeng.example")
    page.goto("/emissions?year=2025")
    expect(page.locator("#grid-year-fallback")).to_be_visible()
    page.click("#freeze-snapshot")
    htmx_settled(page)
    expect(page).to_have_url(re.compile(r"/emissions/snapshots/new\?year=2025$"))
    expect(page.locator("h1")).to_have_text("冻结 2025 年排放清单")
    expect(page.locator("#grid-year-fallback")).to_contain_text("2023")
    expect(page.locator("label[for=freeze_reason]")).to_have_text("冻结原因")

    # The browser refuses an empty reason before anything is sent; a blank one is refused by the server.
    page.click("#confirm-freeze")
    assert page.locator("#freeze_reason").evaluate("field => field.validity.valueMissing")
    page.fill("#freeze_reason", "   ")
    page.click("#confirm-freeze")
    htmx_settled(page)
    expect(page.locator("#freeze-issues")).to_contain_text("冻结原因")
    expect(page.locator("#freeze_reason")).to_have_attribute("aria-invalid", "true")

    reason = "集团要求 3 月 10 日前上报年度排放量，2025 年电网排放因子尚未发布"
    page.fill("#freeze_reason", reason)
    page.click("#confirm-freeze")
    frozen = page.locator("#snapshot-frozen")
    expect(frozen).to_be_visible()
    expect(frozen).to_contain_text(re.compile(r"输入数据与快照 #\d+ 相同：未重复冻结"))
    expect(page.locator("#chart-months svg").first).to_be_attached()  # the inventory page, charts drawn

    frozen.locator("a").click()
    htmx_settled(page)
    expect(page).to_have_url(re.compile(r"/emissions/snapshots/\d+$"))
    expect(page.locator("#freeze-reason")).to_have_text(FALLBACK_REASON)  # the demo's, not frozen twice
    expect(page.locator("#frozen-by")).to_have_text("李娜")
    expect(page.locator("#frozen-at")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"))
    expect(page.locator("#hash-verified")).to_be_visible()
    expect(page.locator("#inputs-sha256")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(page.locator("#snapshot-lines tr[data-line]")).to_have_count(48)
    # The page fits a 1366-pixel screen: nothing scrolls off to the right.
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOTS / "snapshot-zh.png"), full_page=True)
