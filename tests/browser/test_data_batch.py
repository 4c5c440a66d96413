"""Carbon data quality control (clause 8.6) in the browser, through the generic record pages: staff collects
a monthly data batch, the carbon manager verifies it under an electronic signature, and top management reports
it; the carbon manager, having verified, may not report too. Then changing a reported month in the monthly
data grid needs a reason and sends the batch back to collected; both signatures then read 已失效."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD, htmx_settled
from tests.browser.test_nonconformity import expect_state, open_transition, signed_in, submit_and_expect_state

pytestmark = pytest.mark.browser

WORKFLOW = "/records/carbon_data_batch"
STAFF = "staff@xiangfeng.example"
CARBON = "carbon@xiangfeng.example"  # 李娜, 碳管理专员
CARBON_NAME = "李娜"
GM = "gm@xiangfeng.example"  # 刘建国, 总经理
GM_NAME = "刘建国"
PERIOD = "2026-10"
NUMBER = re.compile(r"^CD-\d{4}-\d{4}$")


def open_batch(page, record_id: str) -> None:
    page.goto(f"/r/{record_id}")
    expect(page.locator("#record-number")).to_have_text(NUMBER)
    htmx_settled(page)


def test_a_data_batch_is_collected_verified_and_reported_by_three_people(contexts):
    title = f"{PERIOD} 能源与物料消耗数据 {uuid.uuid4().hex[:6]}"

    # 1. Staff collects the batch.
    staff = signed_in(contexts, STAFF)
    staff.goto(WORKFLOW)
    htmx_settled(staff)
    staff.click("#new-record")
    expect(staff).to_have_url(re.compile(rf"{WORKFLOW}/new$"))
    htmx_settled(staff)
    staff.fill("#f-title", title)
    staff.fill("#f-period", PERIOD)
    staff.fill("#f-collection_note", "按 DCS 与电表月末读数采集，原始凭证已归档。")
    with staff.expect_navigation(url=re.compile(r"/r/\d+$")):
        staff.click("#create-record")
    expect_state(staff, "collected")
    expect(staff.locator("#record-number")).to_have_text(NUMBER)
    expect(staff.locator("[data-value=period]")).to_have_text(PERIOD)
    record_id = re.search(r"/r/(\d+)$", staff.url).group(1)

    # 2. The carbon manager verifies it under an electronic signature (meaning: reviewed).
    carbon = signed_in(contexts, CARBON)
    open_batch(carbon, record_id)
    expect_state(carbon, "collected")
    open_transition(carbon, "verify")
    carbon.check("input[name=checks][value=completeness]")
    carbon.check("input[name=checks][value=meter_calibration]")
    carbon.select_option("#f-result", "passed")
    carbon.fill("#signature_password", DEMO_PASSWORD)
    submit_and_expect_state(carbon, record_id, "verified")
    signatures = carbon.locator("#signatures [data-signature-status]")
    expect(signatures).to_have_count(1)
    expect(signatures.first).to_have_attribute("data-signature-status", "valid")
    expect(signatures.first).to_contain_text(CARBON_NAME)
    expect(signatures.first).to_contain_text("审核")

    # 3. Having verified, the carbon manager may not report as well: separation of duties.
    report = carbon.locator("#actions [data-trigger=report]")
    expect(report).to_have_attribute("data-disabled", "true")
    expect(report).to_have_attribute("title", re.compile("报送人"))
    expect(report).to_contain_text("报送人")
    expect(carbon.locator("#actions button[data-trigger=report]")).to_have_count(0)

    # 4. Top management reports under a second signature (meaning: approved).
    gm = signed_in(contexts, GM)
    open_batch(gm, record_id)
    expect_state(gm, "verified")
    open_transition(gm, "report")
    gm.fill("#signature_password", DEMO_PASSWORD)
    submit_and_expect_state(gm, record_id, "reported")
    signatures = gm.locator("#signatures [data-signature-status]")
    expect(signatures).to_have_count(2)
    expect(gm.locator("#signatures [data-signature-status=valid]")).to_have_count(2)
    expect(gm.locator("#signatures")).to_contain_text(GM_NAME)
    expect(gm.locator("#signatures")).to_contain_text("批准")

    # 5. Changing the reported month in the monthly data grid needs a reason, and reopens the batch.
    carbon.goto("/emissions/data?year=2026")
    cell = carbon.locator("#data-grid tbody tr").first.locator(f"input[name^='q-'][name$='-{PERIOD}']")
    old = cell.input_value()
    new = str(int(float(old or "0")) + 100)
    cell.fill(new)
    with carbon.expect_navigation():
        carbon.click("#save-grid")
    expect(carbon.locator("[data-issue-field=reason]")).to_be_visible()
    expect(carbon.locator("#data-saved")).to_have_count(0)
    cell = carbon.locator("#data-grid tbody tr").first.locator(f"input[name^='q-'][name$='-{PERIOD}']")
    expect(cell).to_have_value(new)  # a refused grid keeps what was typed, as tests/web checks
    carbon.fill("#reason", "10 月电表读数抄录错误，按原始记录更正")
    with carbon.expect_navigation():
        carbon.click("#save-grid")
    expect(carbon.locator("#data-saved")).to_be_visible()
    expect(carbon.locator("[data-issue-field]")).to_have_count(0)
    open_batch(carbon, record_id)
    expect_state(carbon, "collected")

    # 6. Both signatures covered the month's data, which changed: they no longer hold.
    expect(carbon.locator("#signatures [data-signature-status=stale]")).to_have_count(2)
    expect(carbon.locator("#signatures [data-signature-status=stale]").first).to_contain_text(
        "已失效 — 需重新签署"
    )
    content_hash = carbon.locator("#signatures [data-content-hash]").first
    expect(content_hash).to_have_attribute("title", re.compile(r"^[0-9a-f]{64}$"))
    assert content_hash.inner_text() == content_hash.get_attribute("title")[:12]
    expect(carbon.locator("#signatures")).to_contain_text(re.compile(r"\d{4}/\d{1,2}/\d{1,2} \d{2}:\d{2}"))
