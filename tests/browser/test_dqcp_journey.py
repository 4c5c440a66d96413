"""The data-quality control plan → the monthly filing → the 8.6 batch, in Chinese: a month with gaps cannot
be verified, and the refusal says what is missing; the carbon manager fills each missing value under the
row's conservative rule (with a reason) and files each proof; having entered data, the carbon manager may
not verify the month, and the quality manager does."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD, htmx_settled
from tests.browser.test_nonconformity import expect_state, open_transition, signed_in, submit_and_expect_state

pytestmark = pytest.mark.browser

PERIOD = "2026-11"  # the plan in force took effect on 2026-11-01; the demo has no data for the month
PDF = b"%PDF-1.4\n% proof\n%%EOF\n"


def _month(page, selector: str, value: str) -> None:
    page.fill(selector, value)
    page.keyboard.press("Enter")
    expect(page.locator(selector)).to_have_value(value)


def _fill_verification(page, record_id: str) -> None:
    """The batch's verify form, filled as passed and signed; not yet submitted."""
    page.goto(f"/r/{record_id}")
    htmx_settled(page)
    open_transition(page, "verify")
    page.check("input[name=checks][value=completeness]")
    page.select_option("#f-result", "passed")
    page.fill("#signature_password", DEMO_PASSWORD)


def test_a_month_is_verified_once_every_plan_row_has_its_value_and_proof(contexts):
    carbon = signed_in(contexts, "carbon@xiangfeng.example")
    carbon.goto("/dqcp")
    expect(carbon.locator("#plan-in-force")).to_contain_text("现行有效")
    expect(carbon.locator("#revision-log tr[data-version]")).to_have_count(2)
    codes = [code for code in carbon.locator("#plan-rows tr[data-row]").evaluate_all(
        "rows => rows.map(row => row.dataset.row)")]  # fmt: skip
    carbon.goto("/dqcp/filing?year=2026")
    monthly = carbon.locator("#filing-board tr[data-row]").evaluate_all(
        "rows => rows.map(r => r.dataset.row)"
    )
    assert set(monthly) < set(codes) and len(monthly) >= 5  # a row set by a default value files nothing
    expect(carbon.locator(f"#filing-board td[data-period='{PERIOD}'][data-state='open']")).to_have_count(
        len(monthly)
    )

    # Staff collects the month's batch; verifying it is refused with what the plan still lacks.
    staff = signed_in(contexts, "staff@xiangfeng.example")
    staff.goto("/records/carbon_data_batch/new")
    htmx_settled(staff)
    staff.fill("#f-title", f"{PERIOD} 能源与物料消耗数据 {uuid.uuid4().hex[:6]}")
    staff.fill("#f-period", PERIOD)
    with staff.expect_navigation(url=re.compile(r"/r/\d+$")):
        staff.click("#create-record")
    record_id = re.search(r"/r/(\d+)$", staff.url).group(1)
    _fill_verification(carbon, record_id)
    carbon.click("#submit-transition")
    refusal = carbon.locator("#transition-refusal")
    expect(refusal).to_contain_text("按数据质量控制计划，本月尚缺")
    expect(refusal).to_contain_text("缺数值、存证")
    expect_state(carbon, "collected")

    # The carbon manager fills every gap: the value under the row's rule, with a reason, and the proof.
    for code in monthly:
        carbon.goto("/dqcp/filing?year=2026")
        carbon.select_option("#sub-row", code)
        _month(carbon, "#sub-period", PERIOD)
        carbon.fill("#sub-reason", "11 月台账延迟归档，按计划保守取值")
        with carbon.expect_navigation(url=re.compile(r"/dqcp/filing\?year=2026$")):
            carbon.click("#substitute-button")
        carbon.select_option("#proof-row", code)
        _month(carbon, "#proof-period", PERIOD)
        carbon.set_input_files("#proof-file", files=[{"name": f"{code}-{PERIOD}.pdf", "mimeType":
                                                      "application/pdf", "buffer": PDF}])  # fmt: skip
        with carbon.expect_navigation(url=re.compile(r"/dqcp/filing\?year=2026$")):
            carbon.click("#file-proof-button")
        cell = carbon.locator(f"#filing-board tr[data-row='{code}'] td[data-period='{PERIOD}']")
        expect(cell).to_have_attribute("data-state", "substituted")
        expect(cell).to_contain_text("已替代")

    # Having entered the month's values, the carbon manager may no longer verify it (8.6: different people);
    # the quality manager does, under an electronic signature.
    carbon.goto(f"/r/{record_id}")
    htmx_settled(carbon)
    expect(carbon.locator("#actions [data-trigger=verify]")).to_have_attribute("data-disabled", "true")
    quality = signed_in(contexts, "quality@xiangfeng.example")
    _fill_verification(quality, record_id)
    submit_and_expect_state(quality, record_id, "verified")
    carbon.goto("/emissions?year=2026")
    expect(carbon.locator("#substitutions tr[data-substituted]")).to_have_count(len(monthly))
