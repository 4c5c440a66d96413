"""Planning (6.2.1, 6.4) and improvement (10.2) in Chromium, in Chinese: the carbon manager adds a risk,
finds it on the heat map (before and after treatment) and submits the impact assessment of the RDF change;
the general manager approves that change under an electronic signature; then the objectives' progress and
the PDCA page. Screenshots: docs/screenshots/risks-*.png, changes-*.png, pdca-*.png."""

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
RISK = "省级用能权交易试点扩围，新增用能指标成本"


def test_a_risk_reaches_the_heat_map_and_a_change_is_approved_under_signature(contexts):
    # 1. The carbon manager adds a risk from the Planning menu.
    carbon = signed_in(contexts, CARBON)
    carbon.hover("text=策划")
    carbon.click("a.navbar-item[href='/records/risk_opportunity']")
    expect(carbon.locator("h1")).to_contain_text("风险和机遇登记册")
    carbon.screenshot(path=str(SCREENSHOTS / "risks-list-zh.png"), full_page=True)
    carbon.click("#new-record")
    htmx_settled(carbon)
    carbon.fill("#f-title", RISK)
    carbon.select_option("#f-nature", "risk")
    carbon.select_option("#f-kind", "policy")
    carbon.fill("#f-cause", "湖南省推进用能权有偿使用和交易，新增产能须购买用能指标。")
    carbon.fill("#f-consequence", "技改扩能项目增加用能指标费用约 200 万元。")
    carbon.fill("#f-likelihood", "5")
    carbon.fill("#f-impact", "5")
    carbon.select_option("#f-treatment", "reduce")
    carbon.fill("#f-residual_likelihood", "3")
    carbon.fill("#f-residual_impact", "4")
    carbon.select_option("#f-owner", label="李娜")
    carbon.fill("#f-review_date", "2027-06-30")
    carbon.keyboard.press("Escape")
    with carbon.expect_navigation(url=re.compile(r"/r/\d+$")):
        carbon.click("#create-record")
    expect(carbon.locator("#record-number")).to_have_text(re.compile(r"^RO-\d{4}$"))
    expect(carbon.locator("[data-value=score]")).to_have_text("25")
    expect(carbon.locator("[data-value=level]")).to_have_text("极高")
    expect(carbon.locator("[data-value=residual_level]")).to_have_text("高")
    carbon.screenshot(path=str(SCREENSHOTS / "risks-detail-zh.png"), full_page=True)

    # 2. It is on the heat map at likelihood 5 × impact 5, and at 3 × 4 once treated.
    carbon.hover("text=策划")
    carbon.click("#nav-risk-heatmap")
    expect(carbon.locator("h1")).to_contain_text("风险热力图")
    expect(carbon.locator("#chart-heatmap svg")).to_be_visible()
    cell = carbon.locator("td[data-cell='5-5'] a")
    expect(cell).to_have_text("1")
    carbon.screenshot(path=str(SCREENSHOTS / "risks-heatmap-zh.png"), full_page=True)
    cell.click()
    expect(carbon.locator("#entries")).to_contain_text(RISK)
    expect(carbon.locator("#entries tr[data-record]")).to_have_count(1)
    carbon.click("#mode-toggle a[data-mode=residual]")
    expect(carbon.locator("#mode-toggle a[data-mode=residual]")).to_have_class(re.compile("is-selected"))
    expect(carbon.locator("td[data-cell='5-5'] a")).to_have_count(0)
    carbon.click("td[data-cell='3-4'] a")
    expect(carbon.locator("#entries")).to_contain_text(RISK)
    carbon.screenshot(path=str(SCREENSHOTS / "risks-heatmap-residual-zh.png"), full_page=True)

    # 3. The RDF change: the impact assessment names the baseline adjustment the new fuel calls for.
    carbon.goto("/records/planned_change")
    htmx_settled(carbon)
    carbon.locator("#record-rows tr[data-record]", has_text="1# 窑以 RDF 替代约 10% 燃煤").locator(
        "a"
    ).first.click()
    carbon.wait_for_url(re.compile(r"/r/\d+$"))
    expect_state(carbon, "assessing")
    record_id = re.search(r"/r/(\d+)$", carbon.url).group(1)
    htmx_settled(carbon)
    open_transition(carbon, "submit_assessment")
    carbon.fill("#f-system_integrity", "新增 RDF 计量皮带秤，修订数据质量控制计划与排放源清单。")
    carbon.fill("#f-resources", "投资 680 万元；设备动力部 4 人。")
    carbon.fill("#f-responsibilities", "烧成车间负责投料，质量部负责 RDF 热值与生物质含量检测。")
    carbon.select_option("#f-cpp_effect", "improves")
    carbon.select_option("#f-static_factor_change", "yes")
    carbon.fill("#f-baseline_adjustment", "2024 基准年：燃料结构变化，按 GB/T 32151.8 重算燃烧排放")
    submit_and_expect_state(carbon, record_id, "awaiting_approval")
    carbon.screenshot(path=str(SCREENSHOTS / "changes-assessed-zh.png"), full_page=True)

    # 4. The general manager approves it under an electronic signature.
    gm = signed_in(contexts, GM)
    gm.goto(f"/r/{record_id}")
    expect_state(gm, "awaiting_approval")
    htmx_settled(gm)
    open_transition(gm, "approve_change")
    gm.fill("#f-approval_note", "同意实施，注意协同处置环保手续。")
    gm.fill("#signature_password", DEMO_PASSWORD)
    submit_and_expect_state(gm, record_id, "implementing")
    signatures = gm.locator("#signatures [data-signature-status]")
    expect(signatures).to_have_count(1)
    expect(signatures.first).to_contain_text("刘建国")
    expect(signatures.first).to_contain_text("批准变更")
    gm.screenshot(path=str(SCREENSHOTS / "changes-approved-zh.png"), full_page=True)

    # 5. The objectives' progress and the PDCA page, from the Improvement menu.
    carbon.goto("/objectives")
    expect(carbon.locator("#objectives tr[data-objective]")).to_have_count(4)
    expect(carbon.locator("#chart-trend svg")).to_be_visible()
    carbon.screenshot(path=str(SCREENSHOTS / "pdca-objectives-zh.png"), full_page=True)
    carbon.hover("text=改进")
    carbon.click("#nav-pdca")
    expect(carbon.locator("h1")).to_contain_text("持续改进（PDCA）")
    expect(carbon.locator("#pdca-act")).to_contain_text("管理评审输出")
    expect(carbon.locator("#chart-trend svg")).to_be_visible()
    carbon.screenshot(path=str(SCREENSHOTS / "pdca-zh.png"), full_page=True)
