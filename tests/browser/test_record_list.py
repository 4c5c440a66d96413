"""The generic record list in Chromium: the filter form and the Excel link as a person uses them."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import htmx_settled, sign_in

pytestmark = pytest.mark.browser


def test_the_filter_button_and_the_excel_link_work_with_blank_fields(page):
    sign_in(page, "quality@xiangfeng.example")
    page.goto("/records/nonconformity")
    rows = page.locator("#record-rows tr[data-record]")
    expect(rows.first).to_be_visible()
    count = rows.count()

    page.click("form.box button[type=submit]")  # 筛选 with every field left blank
    htmx_settled(page)
    expect(page.locator("#record-rows tr[data-record]")).to_have_count(count)
    assert "state=&" in page.url  # the form sent its blank fields

    page.select_option("#state", label="已关闭")
    page.click("form.box button[type=submit]")
    htmx_settled(page)
    expect(page.locator("#record-rows tr[data-record] [data-state]").first).to_have_text("已关闭")

    with page.expect_download() as download:
        page.click("#export-xlsx")
    assert download.value.suggested_filename.endswith(".xlsx")
    assert download.value.failure() is None
