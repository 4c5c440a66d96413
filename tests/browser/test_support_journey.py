"""Support (7.1–7.4) in Chromium, in Chinese, as the people who use it: staff acknowledges the carbon-policy
awareness campaign from their tasks; the carbon manager drafts a disclosure from the frozen 2025 snapshot;
the quality manager reviews it; the general manager signs its approval; the carbon manager marks it
published and the publication is in the communication log. Screenshots: docs/screenshots/support-*.png and
disclosure-*.png."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD, htmx_settled, sign_in

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TOPIC = "碳方针宣贯：湘峰水泥碳方针（2026 版）"


def _fire(page, trigger: str) -> None:
    page.click(f"#actions button[data-trigger={trigger}]")
    expect(page.locator("form#transition-form")).to_be_visible()
    htmx_settled(page)


def test_staff_acknowledges_the_carbon_policy_campaign(contexts):
    page = contexts.new().new_page()
    sign_in(page, "staff@xiangfeng.example")
    task = page.locator("[data-task]", has_text=TOPIC)
    expect(task).to_be_visible()
    task.locator("a").first.click()
    expect(page.locator("h1")).to_contain_text(TOPIC)
    htmx_settled(page)
    _fire(page, "acknowledge")
    page.click("#submit-transition")
    expect(page.locator("[data-value=acknowledged_count]")).to_have_text("4")
    table = page.locator("table[data-table=acknowledgements]")
    expect(table.locator("tr", has_text="赵敏")).to_contain_text("已确认")
    expect(table.locator("tr", has_text="陈静")).to_contain_text("待确认")  # the auditor has not yet
    page.screenshot(path=str(SCREENSHOTS / "support-awareness-zh.png"), full_page=True)
    page.goto("/")
    expect(page.locator("[data-task]", has_text=TOPIC)).to_have_count(0)


def test_a_disclosure_is_drafted_from_the_snapshot_reviewed_and_signed(contexts):
    carbon = contexts.new().new_page()
    sign_in(carbon, "carbon@xiangfeng.example")
    for path, name in (
        ("/records/resource", "support-resources-zh.png"),
        ("/records/competence_requirement", "support-competence-zh.png"),
        ("/records/training", "support-training-zh.png"),
        ("/records/communication", "support-communication-zh.png"),
    ):
        carbon.goto(path)
        expect(carbon.locator("h1")).to_be_visible()
        carbon.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    carbon.goto("/support/disclosures")
    expect(carbon.locator("#disclosures")).to_contain_text("湘峰水泥 2025 年度碳信息披露报告")
    carbon.click("#new-disclosure")
    carbon.fill("#f-title", "湘峰水泥 2025 年度碳排放数据补充披露")
    carbon.fill("#f-reporting_year", "2031")
    carbon.select_option("#f-channel", "website")
    carbon.click("#create-record")
    expect(carbon.locator('[data-error-for="reporting_year"]')).to_contain_text("2031 年度尚无冻结的盘查快照")
    carbon.fill("#f-reporting_year", "2025")
    carbon.fill("#f-url", "https://www.xiangfeng-cement.example/csr/carbon-2025-supplement")
    carbon.click("#create-record")
    expect(carbon.locator("#record-number")).to_have_text(re.compile(r"^PL-\d{4}-\d{2}$"))
    expect(carbon.locator("[data-value=snapshot_year]")).to_have_text("2025")
    expect(carbon.locator("[data-value=total_tco2e]")).not_to_be_empty()
    expect(carbon.locator("#timeline")).to_contain_text("取自盘查快照")
    number = carbon.locator("#record-number").inner_text()
    record_url = carbon.url
    carbon.screenshot(path=str(SCREENSHOTS / "disclosure-draft-zh.png"), full_page=True)
    htmx_settled(carbon)
    _fire(carbon, "submit_disclosure")
    carbon.click("#submit-transition")
    expect(carbon.locator("#record-state")).to_contain_text("审核中")

    quality = contexts.new().new_page()
    sign_in(quality, "quality@xiangfeng.example")
    quality.goto(record_url)
    htmx_settled(quality)
    _fire(quality, "review_disclosure")
    quality.fill("#f-review_notes", "排放总量、直接与间接排放、熟料强度与 2025 年度冻结快照一致。")
    quality.click("#submit-transition")
    expect(quality.locator("#record-state")).to_contain_text("待批准")

    gm = contexts.new().new_page()
    sign_in(gm, "gm@xiangfeng.example")
    gm.goto("/")
    gm.locator("[data-task]", has_text=number).locator("a").first.click()
    htmx_settled(gm)
    _fire(gm, "approve_disclosure")
    gm.fill("#signature_password", DEMO_PASSWORD)
    gm.click("#submit-transition")
    expect(gm.locator("#record-state")).to_contain_text("已批准待发布")
    expect(gm.locator("#signatures")).to_contain_text("批准对外披露")
    gm.screenshot(path=str(SCREENSHOTS / "disclosure-signed-zh.png"), full_page=True)

    carbon.goto(record_url)
    htmx_settled(carbon)
    _fire(carbon, "publish_disclosure")
    carbon.click("#submit-transition")
    expect(carbon.locator("#record-state")).to_contain_text("已发布")
    expect(carbon.locator("#signatures")).not_to_contain_text("已失效")
    expect(carbon.locator("body")).to_contain_text("对外发布碳信息披露")
    carbon.goto("/support/disclosures")
    expect(carbon.locator("#disclosures")).to_contain_text(number)
    carbon.screenshot(path=str(SCREENSHOTS / "disclosure-overview-zh.png"), full_page=True)
