"""7.5 controlled documents in Chromium, in Chinese, as the people who use them: the carbon manager drafts a
procedure from the register; the quality manager approves it with the e-signature (effective today, so in
force at once); staff finds it in their inbox, reads it and acknowledges it; the owner sees who has read it.
Screenshots: docs/screenshots/documents-register-zh.png and documents-page-zh.png."""

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD, htmx_settled, sign_in

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TITLE = "碳排放监测计划编制作业指导书"


def _fire(page, trigger: str) -> None:
    page.click(f"#actions button[data-trigger={trigger}]")
    expect(page.locator("form#transition-form")).to_be_visible()
    htmx_settled(page)


def test_author_drafts_approver_signs_staff_acknowledges(contexts):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    carbon = contexts.new().new_page()
    sign_in(carbon, "carbon@xiangfeng.example")
    carbon.goto("/documents")
    expect(carbon.locator("#documents")).to_contain_text("GB/T 32150-2015")  # the demo's external standard
    expect(carbon.locator('[data-document="CX-001"]')).to_contain_text("现行有效")
    expect(carbon.locator("#new-document")).to_have_attribute("href", "/records/controlled_document/new")
    carbon.goto("/records/controlled_document/new")
    carbon.select_option("#f-doc_type", "work_instruction")
    carbon.fill("#f-title", TITLE)
    owner = carbon.locator("#f-owner option", has_text="李娜").first.get_attribute("value")
    carbon.select_option("#f-owner", owner)
    carbon.fill("#f-clause", "9.1")
    carbon.fill("#f-content", "# 目的\n规定监测计划的编制步骤。\n\n1. 识别排放源\n2. 确定监测方法")
    carbon.fill("#f-change_reason", "首次发布")
    carbon.fill("#f-effective_date", today)
    carbon.check('input[name="distribute_to"][value="staff"]')
    carbon.click("#create-record")
    expect(carbon.locator("#record-number")).to_have_text(re.compile(r"^WJ-\d{4}-\d{4}$"))
    record_url = carbon.url
    htmx_settled(carbon)
    _fire(carbon, "submit_for_approval")
    carbon.click("#submit-transition")
    expect(carbon.locator("#record-state")).to_contain_text("待审批")

    quality = contexts.new().new_page()
    sign_in(quality, "quality@xiangfeng.example")
    quality.goto(record_url)
    htmx_settled(quality)
    _fire(quality, "approve_document")
    quality.fill("#signature_password", DEMO_PASSWORD)
    quality.click("#submit-transition")
    expect(quality.locator("#record-state")).to_contain_text("现行有效")
    expect(quality.locator("#signatures")).to_contain_text("批准")

    staff = contexts.new().new_page()
    sign_in(staff, "staff@xiangfeng.example")
    item = staff.locator("[data-to-read]", has_text=TITLE)
    expect(item).to_be_visible()
    item.locator("a").first.click()
    expect(staff.locator("#document-title")).to_contain_text(TITLE)
    expect(staff.locator("#document-text")).to_contain_text("识别排放源")
    htmx_settled(staff)
    with staff.expect_response(lambda response: response.url.endswith("/acknowledge")) as posted:
        staff.click("#acknowledge")
    assert posted.value.status in (200, 303), posted.value.status
    htmx_settled(staff)
    expect(staff.locator("#acknowledgements [data-acknowledged]")).to_contain_text("赵敏")
    expect(staff.locator("#acknowledge")).to_have_count(0)
    staff.goto("/")
    expect(staff.locator("[data-to-read]", has_text=TITLE)).to_have_count(0)

    carbon.goto("/documents?doc_type=work_instruction")
    expect(carbon.locator("#documents")).to_contain_text(TITLE)
    expect(carbon.locator("#documents")).not_to_contain_text("碳管理手册")  # filtered by type
    carbon.goto("/documents")
    expect(carbon.locator("#documents")).to_contain_text(TITLE)
    carbon.screenshot(path=str(SCREENSHOTS / "documents-register-zh.png"), full_page=True)
    carbon.locator("#documents a", has_text=re.compile(r"^ZY-\d{3}$")).last.click()
    # Distributed to the staff role: 赵敏, and whoever another journey invited as staff (test_app: 吴新).
    expect(carbon.locator("#acknowledgements h2")).to_contain_text(re.compile(r"1 / \d+"))
    expect(carbon.locator("#acknowledgements [data-acknowledged]")).to_contain_text("赵敏")
    carbon.screenshot(path=str(SCREENSHOTS / "documents-page-zh.png"), full_page=True)
