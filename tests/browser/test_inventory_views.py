"""The inventory page's switch between GB/T 32150 categories, ISO 14064-1 categories and GHG Protocol scopes
in a browser (htmx, under the page's CSP), each view's total equal to the page's total; and the reporting-year
settings page — in Chinese, as the carbon manager, with screenshots in docs/screenshots/."""

import base64
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import htmx_settled, sign_in

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWS = ("gbt32150", "iso14064", "ghg_protocol")


def png(image: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(image).decode()}"


def test_the_inventory_switches_views_and_each_total_is_the_page_total(contexts):
    context = contexts.new()
    page = context.new_page()
    sign_in(page, "carbon@xiangfeng.example")
    page.goto("/emissions?year=2025")
    total = page.locator("#total-tco2e").inner_text().replace("tCO₂e", "").strip()
    expect(page.locator("#year-edition")).to_have_text("GB/T 32150-2015")
    totals = page.locator("#total-tco2e").bounding_box()
    assert totals is not None
    header = page.screenshot(
        clip={"x": 0, "y": 0, "width": 1366, "height": totals["y"] + totals["height"] + 40}
    )
    boxes = []
    for key in VIEWS:
        page.click(f"#inventory-views a[data-view='{key}']")
        htmx_settled(page)
        table = page.locator(f"#view-{key}")
        expect(table).to_be_visible()
        expect(page.locator(f"#inventory-views li.is-active a[data-view='{key}']")).to_be_visible()
        assert table.locator("[data-total]").inner_text() == total, key
        boxes.append(page.locator("#inventory-views").screenshot())
    expect(page.locator("#view-ghg_protocol [data-row='S2']")).to_contain_text(
        "范围2：外购能源间接排放（基于位置）"
    )
    assert page.url.endswith("/emissions?year=2025")  # swapped in place, the page was not reloaded
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # One picture of the page's head with its three views one below the other, put together in the browser.
    images = "".join(f'<img src="{png(box)}" style="display:block;margin:0 0 8px 107px">' for box in boxes)
    sheet = context.new_page()
    sheet.set_viewport_size({"width": 1366, "height": 900})
    sheet.set_content(
        f'<body style="margin:0;background:#f5f6f8">'
        f'<img src="{png(header)}" style="display:block">{images}</body>'
    )
    sheet.screenshot(path=str(SCREENSHOTS / "inventory-views-zh.png"), full_page=True)

    page.click("#year-settings")
    page.wait_for_url("**/emissions/settings?year=2025")
    expect(page.locator("#current-edition")).to_contain_text("GB/T 32150-2015")
    expect(page.locator("#settings-frozen")).to_be_visible()  # 2025 is frozen: a change restates it
    expect(page.locator("#gwp_set option:checked")).to_have_text("IPCC 第六次评估报告（AR6，2021）")
    page.screenshot(path=str(SCREENSHOTS / "reporting-year-settings-zh.png"), full_page=True)
