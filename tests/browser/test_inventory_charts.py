"""The inventory's charts draw after every way onto the page — a full load, the tab bar, the year form, the
language switch — under the unchanged Content-Security-Policy (the `contexts` fixture fails a test on any
CSP violation)."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import htmx_settled, sign_in

pytestmark = pytest.mark.browser

CHARTS = ("#chart-months", "#chart-categories", "#chart-facilities")


def expect_charts_drawn(page) -> None:
    for chart in CHARTS:
        expect(page.locator(f"{chart} svg").first).to_be_attached()
    # ECharts sizes its SVG from the container: a blank chart is an SVG of height 0.
    height = page.locator("#chart-months svg").first.evaluate("svg => svg.getBoundingClientRect().height")
    assert height > 100


def test_the_charts_draw_after_every_way_in(contexts):
    page = contexts.new().new_page()
    sign_in(page, "carbon@xiangfeng.example")
    page.goto("/emissions?year=2025")
    expect_charts_drawn(page)

    page.click(".tabs a[href='/emissions/data']")
    htmx_settled(page)
    page.click(".tabs a[href='/emissions']")  # the tab bar, boosted
    htmx_settled(page)
    expect_charts_drawn(page)

    page.fill("#inventory-year", "2025")
    page.click("#inventory-year ~ * button, form[action='/emissions'] button[type=submit]")
    htmx_settled(page)
    expect_charts_drawn(page)

    page.click("#locale-en")
    htmx_settled(page)
    expect_charts_drawn(page)
    page.click("#locale-zh_CN")
    htmx_settled(page)
    expect_charts_drawn(page)
