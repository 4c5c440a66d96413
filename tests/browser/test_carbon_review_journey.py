"""The carbon review (6.2.3) in Chromium, in Chinese and in English: the carbon manager starts a review of
2025 triggered by a change of fuels, reads the sources ranked by share with the significance rule and the
metering of each significant source, adds two opportunities and the conclusions; the general manager
approves it under an electronic signature; the adopted opportunity opens a reduction project, shown on the
review. Screenshots: docs/screenshots/carbon-review-*-{zh,en}.png."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD, htmx_settled
from tests.browser.test_nonconformity import expect_state, open_transition, signed_in, submit_and_expect_state

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CARBON = "carbon@xiangfeng.example"  # 李娜, 碳管理专员
GM = "gm@xiangfeng.example"  # 刘建国, 总经理
TITLE = "触发碳评审：入窑煤改用高挥发分烟煤"


def _opportunity(page, row: int, values: dict[str, str]) -> None:
    for column, value in values.items():
        selector = f"#f-opportunities-{row}-{column}"
        if column in ("priority", "adopt_as_project"):
            page.select_option(selector, value)
        elif column == "owner":
            page.select_option(selector, label=value)
        else:
            page.fill(selector, value)


def test_the_carbon_manager_prepares_and_top_management_approves(contexts):
    # 1. The carbon manager starts a triggered review from the Planning menu.
    carbon = signed_in(contexts, CARBON)
    carbon.hover("text=策划")
    carbon.click("a.navbar-item[href='/records/carbon_review']")
    expect(carbon.locator("h1")).to_contain_text("碳评审")
    expect(carbon.locator("main")).to_contain_text("2025 年度碳评审")  # the demo's approved review
    carbon.click("#new-record")
    htmx_settled(carbon)
    carbon.fill("#f-title", TITLE)
    carbon.fill("#f-review_year", "2025")
    carbon.select_option("#f-review_kind", "triggered")
    carbon.fill(
        "#f-trigger_reason", "2026 年起入窑煤改用高挥发分烟煤，燃料结构变化，需重新评审排放源重要性。"
    )
    carbon.fill("#f-trend_threshold_pct", "5")
    with carbon.expect_navigation(url=re.compile(r"/r/\d+$")):
        carbon.click("#create-record")
    expect_state(carbon, "cr_drafting")
    record_id = re.search(r"/r/(\d+)$", carbon.url).group(1)

    # 2. The review page: the sources by share, the rule, the metering of the significant ones.
    carbon.click("#review-page-link")
    expect(carbon.locator("#significance-rule")).to_contain_text("累计占比达到 80% 之前的排放源")
    expect(carbon.locator("table[data-table=sources] tr[data-significant]")).to_have_count(3)
    expect(carbon.locator("table[data-table=sources]")).to_contain_text("熟料生产过程排放（碳酸盐分解）")
    expect(carbon.locator("table[data-table=metering]")).to_contain_text("JL-W-011")
    expect(carbon.locator("table[data-table=metering]")).to_contain_text("充分")
    expect(carbon.locator("#review-cpp")).to_contain_text("CPP-FAC-KILN1")
    carbon.screenshot(path=str(SCREENSHOTS / "carbon-review-sources-zh.png"), full_page=True)

    # 3. Opportunities and conclusions, submitted for approval.
    carbon.click("#record-link")
    expect_state(carbon, "cr_drafting")
    htmx_settled(carbon)
    open_transition(carbon, "submit_carbon_review")
    _opportunity(carbon, 0, {
        "description": "窑头燃烧器改造，适应高挥发分煤并降低煤耗 2 kgce/t", "source_code": "KILN1-COAL",
        "estimated_reduction": "7800", "cost": "520", "priority": "high", "owner": "周强",
        "adopt_as_project": "yes",
    })  # fmt: skip
    _opportunity(carbon, 1, {
        "description": "外购电力参与绿电交易（待电力交易中心年度方案）", "source_code": "PLANT-ELEC",
        "estimated_reduction": "9000", "cost": "0", "priority": "medium", "adopt_as_project": "no",
    })  # fmt: skip
    carbon.fill("#f-metering_conclusion", "入窑煤皮带秤、关口电能表准确度满足 GB 17167 表3，检定有效。")
    carbon.fill("#f-conclusions", "燃料结构变化后，熟料过程排放与入窑煤燃烧仍为重要排放源；燃烧器改造立项。")
    submit_and_expect_state(carbon, record_id, "cr_awaiting_approval")
    carbon.screenshot(path=str(SCREENSHOTS / "carbon-review-submitted-zh.png"), full_page=True)

    # 4. The general manager approves it under an electronic signature.
    gm = signed_in(contexts, GM)
    gm.goto(f"/r/{record_id}")
    expect_state(gm, "cr_awaiting_approval")
    htmx_settled(gm)
    open_transition(gm, "approve_carbon_review")
    gm.fill("#signature_password", DEMO_PASSWORD)
    submit_and_expect_state(gm, record_id, "cr_approved")
    expect(gm.locator("#signatures [data-signature-status=valid]")).to_contain_text("批准碳评审结果")

    # 5. The adopted opportunity opened a reduction project, linked both ways; the signature holds.
    gm.click("#review-page-link")
    project = gm.locator("#review-outputs [data-project]")
    expect(project).to_have_count(1)
    expect(project).to_contain_text("窑头燃烧器改造")
    expect(gm.locator("#review-signatures [data-signature-status=valid]")).to_have_count(1)
    gm.screenshot(path=str(SCREENSHOTS / "carbon-review-approved-zh.png"), full_page=True)
    with gm.expect_download() as download:
        gm.click("#report-docx")
    assert download.value.suggested_filename.endswith("碳评审报告.docx")
    project.locator("a").click()
    expect(gm.locator("h1")).to_contain_text("窑头燃烧器改造")
    expect(gm.locator("main")).to_contain_text(TITLE)  # the link back to the review

    # 6. The same pages in English.
    gm.goto(f"/carbon-reviews/{record_id}")
    gm.click("#locale-en")
    gm.wait_for_load_state()
    gm.goto(f"/carbon-reviews/{record_id}")
    expect(gm.locator("#significance-rule")).to_contain_text("cumulative share of 80%")
    expect(gm.locator("#review-outputs")).to_contain_text("Reduction projects opened by this review")
    gm.screenshot(path=str(SCREENSHOTS / "carbon-review-approved-en.png"), full_page=True)
    gm.goto(f"/r/{record_id}")
    expect(gm.locator("#record-state")).to_contain_text("Approved")
    gm.screenshot(path=str(SCREENSHOTS / "carbon-review-record-en.png"), full_page=True)
    gm.click("#locale-zh_CN")  # the account's language back to Chinese for the other tests
    gm.wait_for_load_state()
