"""Context of the organization (4.1–4.3) and compliance obligations (6.2.2) in Chromium, in Chinese, as the
people who run them: the carbon manager records an issue and adopts an interested party's requirement as a
compliance obligation (linked both ways); then drafts scope statement A/2, the quality manager reviews it
and the general manager approves it with his e-signature, which supersedes A/1. Screenshots go to
docs/screenshots/context-*.png and obligations-*.png."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import htmx_settled
from tests.browser.test_nonconformity import expect_state, open_transition, signed_in, submit_and_expect_state

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CARBON, QUALITY, GM = "carbon@xiangfeng.example", "quality@xiangfeng.example", "gm@xiangfeng.example"


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}-zh.png"), full_page=True)


def open_by_title(page, workflow: str, title: str) -> str:
    page.goto(f"/records/{workflow}?q={title}")
    page.locator("#record-rows tr[data-record] a").first.click()
    expect(page.locator("#record-number")).to_be_visible()
    htmx_settled(page)
    return page.url.rsplit("/", 1)[1]


def test_record_an_issue_and_adopt_a_requirement_as_an_obligation(contexts):
    carbon = signed_in(contexts, CARBON)
    carbon.goto("/records/context_issue")
    expect(carbon.locator("h1")).to_contain_text("内外部议题")
    expect(carbon.locator("#record-rows")).to_contain_text("国际绿色贸易规则（如欧盟CBAM）")
    shot(carbon, "context-issues")

    carbon.click("#new-record")
    carbon.fill("#f-title", "湖南省绿电交易扩大到水泥企业")
    carbon.select_option("#f-category", "energy_structure")
    carbon.select_option("#f-direction", "external")
    carbon.fill("#f-description", "湖南电力交易中心扩大绿电交易，水泥企业可按年度签订绿电合同。")
    carbon.fill("#f-effect", "外购电力间接排放可下降；绿电溢价增加能源成本。")
    carbon.select_option("#f-effect_kind", "opportunity")
    carbon.select_option("#f-owner", label="李娜")
    carbon.fill("#f-review_date", "2027-06-30")
    carbon.keyboard.press("Escape")
    carbon.click("#create-record")
    expect(carbon.locator("#record-number")).to_have_text(re.compile(r"^YT-\d{3}$"))
    expect(carbon.locator("main")).to_contain_text("能源结构与能源价格")
    shot(carbon, "context-issue-detail")

    # A requirement of the union becomes a voluntary compliance obligation.
    open_by_title(carbon, "party_requirement", "开展碳管理培训并纳入绩效")
    open_transition(carbon, "adopt")
    carbon.fill("#f-adoption_reason", "公司承诺将节能降碳纳入班组绩效，按年度评价。")
    carbon.select_option("#f-obligation_source", "voluntary")
    carbon.select_option("#f-obligation_frequency", "yearly")
    record_id = carbon.url.rsplit("/", 1)[1]
    submit_and_expect_state(carbon, record_id, "adopted")
    expect(carbon.locator("[data-value=adoption]")).to_have_text("已采纳")
    link = carbon.locator("main a", has_text=re.compile(r"HG-\d{3}"))
    expect(link.first).to_be_visible()
    shot(carbon, "context-requirement-adopted")
    carbon.goto("/records/party_requirement")
    shot(carbon, "context-parties")

    link_text = None
    carbon.goto(f"/r/{record_id}")
    link_text = carbon.locator("main a", has_text=re.compile(r"HG-\d{3}")).first.inner_text()
    number = re.search(r"HG-\d{3}", link_text).group(0)
    carbon.goto(f"/records/compliance_obligation?q={number}")
    carbon.locator("#record-rows tr[data-record] a").first.click()
    expect(carbon.locator("#record-number")).to_have_text(number)
    expect(carbon.locator("main")).to_contain_text("公司工会")
    expect(carbon.locator("main")).to_contain_text("自愿承诺")

    carbon.goto("/records/compliance_obligation")
    expect(carbon.locator("#record-rows")).to_contain_text("GB 16780-2021")
    shot(carbon, "obligations-list")
    open_by_title(carbon, "compliance_obligation", "欧盟碳边境调节机制条例（CBAM）")
    expect(carbon.locator("main")).to_contain_text("换版待评价")
    expect(carbon.locator("main")).to_contain_text("已通知负责人")
    shot(carbon, "obligations-new-version")


def test_the_scope_is_drafted_reviewed_and_approved_with_a_signature(contexts):
    carbon = signed_in(contexts, CARBON)
    carbon.goto("/records/scope_statement/new")
    carbon.fill("#f-title", "碳管理体系范围声明（A/2）")
    carbon.fill("#f-edition", "A/2")
    carbon.fill("#f-effective_from", "2027-01-01")
    carbon.keyboard.press("Escape")
    carbon.fill("#f-statement", "适用于熟料及水泥生产和余热发电的碳排放管理。")
    carbon.fill("#f-physical_boundary", "涟源市湘峰水泥厂区及自有石灰石矿山。")
    carbon.fill("#f-organizational_boundary", "湖南湘峰水泥有限公司，按运营控制权确定。")
    carbon.fill("#f-activity_boundary", "石灰石开采至水泥发运，含余热发电和厂内运输。")
    for value in ("context_issues", "obligations", "control_influence"):
        carbon.check(f"input[name=considerations][value={value}]")
    carbon.select_option("[name=covered_units-0-unit]", label="5000 t/d 熟料生产线（1# 回转窑）")
    carbon.fill("[name=covered_units-0-activities]", "熟料煅烧")
    carbon.fill("[name=exclusions-0-item]", "外包经营的职工食堂")
    carbon.fill("[name=exclusions-0-justification]", "由餐饮公司运营，不在运营控制范围内。")
    carbon.click("#create-record")
    expect(carbon.locator("#record-number")).to_have_text(re.compile(r"^FW-\d{4}-\d{2}$"))
    record_id = carbon.url.rsplit("/", 1)[1]
    htmx_settled(carbon)
    open_transition(carbon, "submit_for_review")
    submit_and_expect_state(carbon, record_id, "in_review")

    quality = signed_in(contexts, QUALITY)
    quality.goto(f"/r/{record_id}")
    htmx_settled(quality)
    open_transition(quality, "pass_review")
    submit_and_expect_state(quality, record_id, "awaiting_approval")

    gm = signed_in(contexts, GM)
    gm.goto(f"/r/{record_id}")
    htmx_settled(gm)
    open_transition(gm, "approve_scope")
    gm.fill("#signature_password", "Xiangfeng#2026")
    submit_and_expect_state(gm, record_id, "in_force")
    signature = gm.locator("#signatures [data-signature-status]")
    expect(signature).to_have_attribute("data-signature-status", "valid")
    expect(signature).to_contain_text("刘建国")
    shot(gm, "context-scope-approved")
    gm.goto("/records/scope_statement")
    rows = gm.locator("#record-rows")
    expect(rows).to_contain_text("A/2")
    expect(rows.locator("tr", has_text="A/1")).to_contain_text("已被替代")
    shot(gm, "context-scope-versions")
    gm.goto("/records/carbon_policy")
    expect(gm.locator("#record-rows")).to_contain_text("现行有效")
    gm.locator("#record-rows tr[data-record] a").first.click()
    expect_state(gm, "in_force")
    shot(gm, "context-carbon-policy")
