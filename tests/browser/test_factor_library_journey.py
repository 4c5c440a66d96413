"""The factor library in Chromium, in Chinese: the carbon manager opens 因子库 under 碳排放, reads the default
fuel table under its honest name and the sector parts (未转录 where no table was transcribed), tries to add
a newly published grid factor without its notice (refused, the field named, what was typed kept), then
adds it with the notice and sees it as version 1 in force. 湖北 is used so the demo's own inventory (湖南) is
unchanged for the other browser tests. Screenshot: docs/screenshots/factor-library-zh.png."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.test_report_templates_journey import shot

pytestmark = pytest.mark.browser


def test_the_carbon_manager_adds_a_newly_published_grid_factor(page):
    sign_in(page, "carbon@xiangfeng.example")
    page.goto("/")
    page.locator(".navbar-link", has_text="碳排放").hover()
    page.click("#nav-factors")
    expect(page.locator("h1")).to_have_text("因子库")
    expect(page.locator("#fuel-sets")).to_contain_text("GB/T 32151 系列（2024 年版各部分）附录C 表C.1")
    expect(page.locator('[data-sector-set="GB/T 32151.8-2023"]')).to_contain_text("未转录")

    page.fill("#gf-region", "湖北省")
    page.fill("#gf-year", "2024")
    page.fill("#gf-value", "0.4102")
    page.fill("#gf-document", "生态环境部 国家统计局公告2026年第9号（示例）")
    page.click("#add-grid-factor-submit")
    expect(page.locator("#factor-problems")).to_contain_text("请上传发布公告")
    expect(page.locator("#gf-value")).to_have_value("0.4102")

    page.set_input_files(
        "#gf-notice",
        files=[
            {
                "name": "2024年电力二氧化碳排放因子公告.pdf",
                "mimeType": "application/pdf",
                "buffer": b"%PDF-1.4\n%%EOF\n",
            }
        ],
    )
    with page.expect_navigation(url=re.compile(r"added=\d+")):
        page.click("#add-grid-factor-submit")
    expect(page.locator("#factor-added")).to_be_visible()
    row = page.locator('[data-published="湖北-2024-v1"]')
    expect(row).to_contain_text("0.4102")
    expect(row).to_contain_text("现行")
    expect(row).to_contain_text("2024年电力二氧化碳排放因子公告.pdf")
    shot(page, "factor-library-zh")
