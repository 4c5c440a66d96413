"""Management review (9.4) in Chromium, as the people who run it: the carbon manager starts the review (its
inputs compiled from the live records), refreshes them, records the meeting and the outputs; the general
manager signs the approval from their tasks, which freezes the input pack; the pack page and the record
read the same in English. Screenshots: docs/screenshots/management-review-*-{zh,en}.png."""

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD, htmx_settled, sign_in

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TITLE = "2026 年度管理评审（浏览器）"


def _fire(page, trigger: str) -> None:
    page.click(f"#actions button[data-trigger={trigger}]")
    expect(page.locator("form#transition-form")).to_be_visible()
    htmx_settled(page)


def test_the_carbon_manager_compiles_and_top_management_signs(contexts):
    carbon = contexts.new().new_page()
    sign_in(carbon, "carbon@xiangfeng.example")
    carbon.goto("/management-review")
    expect(carbon.locator("#reviews")).to_contain_text("2025 年度管理评审")  # the demo's, signed
    carbon.screenshot(path=str(SCREENSHOTS / "management-review-list-zh.png"), full_page=True)
    carbon.click("#new-review")
    carbon.fill("#f-title", TITLE)
    carbon.fill("#f-review_year", "2026")
    carbon.select_option("#f-chair", label="刘建国")
    carbon.click("#create-record")
    expect(carbon.locator("#record-number")).to_have_text(re.compile(r"^MR-\d{4}-\d{2}$"))
    expect(carbon.locator("#record-state")).to_contain_text("评审准备")
    expect(carbon.locator("table[data-table=input_summaries]")).to_contain_text("不符合与纠正措施")
    number, record_url = carbon.locator("#record-number").inner_text(), carbon.url
    htmx_settled(carbon)
    _fire(carbon, "refresh_review_inputs")
    carbon.click("#submit-transition")
    expect(carbon.locator("#timeline")).to_contain_text("刷新评审输入")
    htmx_settled(carbon)
    _fire(carbon, "record_review_meeting")
    carbon.fill("#f-meeting_date", (date.today() + timedelta(days=5)).isoformat())
    carbon.fill("#f-location", "公司办公楼三楼会议室")
    carbon.select_option("[name=attendees-0-attendee]", label="刘建国")
    carbon.fill("[name=attendees-0-capacity]", "总经理（主持）")
    carbon.select_option("[name=attendees-1-attendee]", label="李娜")
    carbon.fill("#f-minutes", "逐项听取评审输入；讨论了煤耗和逾期不符合。")
    carbon.click("#submit-transition")
    expect(carbon.locator("#transition-panel")).to_contain_text("会议日期不能晚于今天")  # a guard, in Chinese
    carbon.fill("#f-meeting_date", date.today().isoformat())
    carbon.click("#submit-transition")
    expect(carbon.locator("#record-state")).to_contain_text("评审输出")
    htmx_settled(carbon)
    _fire(carbon, "submit_review_outputs")
    carbon.select_option("#f-conclusion", "needs_improvement")
    carbon.fill("#f-decisions", "体系基本有效；2026 年补齐一级计量器具。")
    carbon.fill("[name=actions-0-action]", "补齐窑尾喂煤秤")
    carbon.select_option("[name=actions-0-owner]", label="周强")
    carbon.fill("[name=actions-0-due]", (date.today() + timedelta(days=90)).isoformat())
    carbon.select_option("#f-policy_change", "unchanged")
    carbon.select_option("#f-objectives_change", "unchanged")
    carbon.click("#submit-transition")
    expect(carbon.locator("#record-state")).to_contain_text("待最高管理者批准")
    carbon.goto(record_url.replace("/r/", "/management-review/"))
    expect(carbon.locator("#pack-status")).to_have_attribute("data-frozen", "no")
    carbon.screenshot(path=str(SCREENSHOTS / "management-review-pack-zh.png"), full_page=True)

    gm = contexts.new().new_page()
    sign_in(gm, "gm@xiangfeng.example")
    gm.locator("[data-task]", has_text=number).locator("a").first.click()
    htmx_settled(gm)
    expect(gm.locator("#actions button[data-trigger=approve_management_review]")).to_be_visible()
    _fire(gm, "approve_management_review")
    gm.fill("#signature_password", DEMO_PASSWORD)
    gm.click("#submit-transition")
    expect(gm.locator("#record-state")).to_contain_text("已批准关闭")
    expect(gm.locator("#signatures")).to_contain_text("批准管理评审输出")
    expect(gm.locator("[data-signature-status=valid]")).to_have_count(1)
    expect(gm.locator("body")).to_contain_text("补齐窑尾喂煤秤")  # the improvement record, linked
    gm.locator(
        "#signatures"
    ).scroll_into_view_if_needed()  # the page holds the whole pack: show the signature
    gm.screenshot(path=str(SCREENSHOTS / "management-review-signed-zh.png"))

    english = contexts.new(browser_locale="en").new_page()
    sign_in(english, "carbon@xiangfeng.example")
    english.click("#locale-en")  # a saved choice (an earlier journey's) beats the browser's language
    english.goto(record_url.replace("/r/", "/management-review/"))
    expect(english.locator("#pack-status")).to_have_attribute("data-frozen", "yes")
    expect(english.locator("#pack-status")).to_contain_text("Frozen at approval")
    expect(english.locator("body")).to_contain_text("Nonconformities and corrective actions")
    english.screenshot(path=str(SCREENSHOTS / "management-review-pack-en.png"), full_page=True)
    english.goto(record_url)
    expect(english.locator("#record-state")).to_contain_text("Approved and closed")
    english.locator("#signatures").scroll_into_view_if_needed()
    english.screenshot(path=str(SCREENSHOTS / "management-review-signed-en.png"))
    english.goto("/management-review")
    english.screenshot(path=str(SCREENSHOTS / "management-review-list-en.png"), full_page=True)
    with english.expect_download() as download:
        english.goto(record_url.replace("/r/", "/management-review/"))
        english.click("#review-docx")
    assert download.value.suggested_filename.endswith(".docx")
    english.click("#locale-zh_CN")  # leave the demo user in Chinese
