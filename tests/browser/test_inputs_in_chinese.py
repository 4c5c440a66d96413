"""The Chinese UI in an English browser: dates and months are picked from a Chinese calendar and written
YYYY-MM-DD / YYYY-MM (a native date input follows the browser: mm/dd/yyyy); chart axes never overlap."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import htmx_settled, sign_in

pytestmark = pytest.mark.browser


def chinese_ui_in_an_english_browser(contexts, email: str):
    page = contexts.new(browser_locale="en-US").new_page()
    sign_in(page, email)
    page.click("#locale-zh_CN")
    htmx_settled(page)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    return page


def test_a_date_filter_is_picked_from_a_chinese_calendar(contexts):
    page = chinese_ui_in_an_english_browser(contexts, "quality@xiangfeng.example")
    page.goto("/records/nonconformity")
    field = page.locator("#created_from")
    expect(field).to_have_attribute("placeholder", "例如 2026-03-05")
    field.click()
    calendar = page.locator(".flatpickr-calendar.open")
    expect(calendar).to_be_visible()
    expect(calendar.locator(".flatpickr-weekday").first).to_contain_text("周")
    calendar.locator(
        ".flatpickr-day:not(.prevMonthDay):not(.nextMonthDay)", has_text=re.compile("^15$")
    ).click()
    assert re.fullmatch(r"\d{4}-\d{2}-15", field.input_value()), field.input_value()
    page.click("form[action='/records/nonconformity'] button[type=submit]")
    htmx_settled(page)
    assert re.search(r"created_from=\d{4}-\d{2}-15", page.url), page.url
    expect(page.locator("table")).to_be_visible()


def test_a_month_is_picked_as_yyyy_mm(contexts):
    page = chinese_ui_in_an_english_browser(contexts, "carbon@xiangfeng.example")
    page.goto("/emissions/production?year=2025")
    field = page.locator("#pr-period")
    field.click()
    page.locator(".flatpickr-calendar.open .flatpickr-monthSelect-month", has_text="三月").click()
    assert re.fullmatch(r"\d{4}-03", field.input_value()), field.input_value()


def test_the_facility_chart_axis_labels_do_not_overlap(contexts):
    page = chinese_ui_in_an_english_browser(contexts, "carbon@xiangfeng.example")
    page.goto("/emissions?year=2025")
    expect(page.locator("#chart-facilities svg text", has_text="万").first).to_be_attached()
    boxes = page.locator("#chart-facilities svg text").evaluate_all(
        """texts => texts.filter(t => /^[0-9.]+万?$/.test(t.textContent)).map(t => {
             const r = t.getBoundingClientRect(); return [r.left, r.right, r.top]; })"""
    )
    ticks = sorted(box for box in boxes if abs(box[2] - boxes[-1][2]) < 2)  # the value axis: one row
    assert len(ticks) >= 3, boxes
    for left, right in zip(ticks, ticks[1:], strict=False):
        assert left[1] <= right[0], f"axis labels overlap: {ticks}"
