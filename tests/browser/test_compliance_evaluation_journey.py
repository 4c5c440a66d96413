"""Compliance evaluation (9.2) in Chromium, as the people who run it: the carbon manager opens the
evaluation the scheduler started for the obligations due at their frequency, finds one non-compliant and
submits it — the nonconformity opens by itself and its number shows in the row —; the quality manager,
not an evaluator, approves the review and closes it; the obligation then shows its result and the
evaluation. In Chinese, then the record in English. Screenshots:
docs/screenshots/compliance-evaluation-*-zh.png and -en.png."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import htmx_settled, sign_in, sign_out

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CARBON = "carbon@xiangfeng.example"
QUALITY = "quality@xiangfeng.example"
MONTHLY = "企业温室气体排放核算与报告指南 水泥熟料生产"


def _open_transition(page, trigger: str) -> None:
    htmx_settled(page)
    page.click(f"#actions button[data-trigger={trigger}]")
    expect(page.locator("form#transition-form")).to_be_visible()
    htmx_settled(page)


def _submit(page, state: str) -> None:
    """A successful transition reloads the record page (HX-Redirect) in its new state."""
    with page.expect_navigation(url=re.compile(r"/r/\d+$")):
        page.click("#submit-transition")
    expect(page.locator("span#record-state")).to_have_attribute("data-state", state)
    htmx_settled(page)


def test_an_evaluation_from_the_scheduler_to_closed(page):
    sign_in(page, CARBON)
    page.goto("/records/compliance_evaluation")
    expect(page.locator("h1")).to_contain_text("合规性评价")
    expect(page.locator("main")).to_contain_text("已关闭")  # the demo's last quarter
    page.screenshot(path=str(SCREENSHOTS / "compliance-evaluation-list-zh.png"), full_page=True)
    page.locator("tr", has_text="按评价频次").locator("a").first.click()
    expect(page.locator("#record-number")).to_have_text(re.compile(r"^HP-\d{4}-\d{3}$"))
    expect(page.locator("[data-table=results]")).to_contain_text(MONTHLY)
    number = page.locator("#record-number").inner_text()
    _open_transition(page, "submit")
    page.fill("#f-evaluated_on", "2026-12-06")
    page.keyboard.press("Escape")
    page.select_option("#f-results-0-result", "non_compliant")
    page.fill("#f-results-0-evidence_reference", "月度存证台账（11月）")
    page.fill("#f-results-0-note", "11月熟料产量月报未在次月存证")
    page.screenshot(path=str(SCREENSHOTS / "compliance-evaluation-form-zh.png"), full_page=True)
    _submit(page, "under_review")
    opened = page.locator("[data-table=results] a", has_text=re.compile(r"^NC-\d{4}-\d{4}"))
    expect(opened).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "compliance-evaluation-submitted-zh.png"), full_page=True)
    # The evaluator cannot approve the review.
    expect(page.locator("#actions button[data-trigger=pass_review]")).to_have_count(0)
    sign_out(page)

    sign_in(page, QUALITY)
    page.goto("/records/compliance_evaluation")
    page.locator("tr", has_text=number).locator("a").first.click()
    _open_transition(page, "pass_review")
    page.fill("#f-review_conclusion", "证据充分；不合规项已自动开具不符合，由责任人整改。")
    _submit(page, "reviewed")
    _open_transition(page, "close")
    _submit(page, "closed")
    page.screenshot(path=str(SCREENSHOTS / "compliance-evaluation-closed-zh.png"), full_page=True)
    page.locator("[data-table=results] a", has_text=MONTHLY).first.click()
    expect(page.locator("[data-value=last_result]")).to_have_text("不合规")
    expect(page.locator("main")).to_contain_text(number)
    page.screenshot(path=str(SCREENSHOTS / "compliance-evaluation-obligation-zh.png"), full_page=True)

    page.click("#locale-en")
    page.wait_for_load_state()
    page.goto("/records/compliance_evaluation")
    expect(page.locator("h1")).to_contain_text("Compliance evaluation")
    page.screenshot(path=str(SCREENSHOTS / "compliance-evaluation-list-en.png"), full_page=True)
    page.locator("tr", has_text=number).locator("a").first.click()
    expect(page.locator("[data-table=results]")).to_contain_text("Non-compliant")
    page.screenshot(path=str(SCREENSHOTS / "compliance-evaluation-closed-en.png"), full_page=True)
    page.click("#locale-zh_CN")  # the account's language back to Chinese for the other tests
    page.wait_for_load_state()
