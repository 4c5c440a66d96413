"""The metering instrument register (9.1, GB 17167) in Chromium, in Chinese, as the carbon manager:
register an instrument, record a calibration with its certificate file, then the list, the record page and
the GB 17167 coverage page — with the screenshots in docs/screenshots/instruments-*-zh.png."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import htmx_settled, sign_in

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CARBON = "carbon@xiangfeng.example"
WORKFLOW = "/records/metering_instrument"


def test_register_an_instrument_and_record_a_calibration(page, tmp_path):
    sign_in(page, CARBON)
    page.goto(WORKFLOW)
    expect(page.locator("h1")).to_contain_text("计量器具台账")
    page.screenshot(path=str(SCREENSHOTS / "instruments-list-zh.png"), full_page=True)
    page.click("#new-record")
    page.fill("#f-code", "JL-E-021")
    page.fill("#f-name", "煤磨主电机电能表")
    page.select_option("#f-instrument_type", "electricity_meter")
    page.select_option("#f-facility", label="煤磨")
    page.fill("#f-parameter", "煤磨用电量")
    page.select_option("#f-energy_flow_class", "device")
    page.select_option("#f-gb17167_item", "electricity_iii")
    page.fill("#f-accuracy_class", "1.0")
    page.fill("#f-calibration_interval_months", "24")
    page.click("#create-record")
    expect(page.locator("#record-number")).to_have_text(re.compile(r"^JL-\d{4}$"))
    expect(page.locator("[data-value=calibration_status]")).to_have_text("无检定/校准记录")
    htmx_settled(page)

    page.click("#actions button[data-trigger=calibrate]")
    expect(page.locator("form#transition-form")).to_be_visible()
    htmx_settled(page)
    page.fill("#f-calibration_date", "2026-11-28")
    page.keyboard.press("Escape")
    page.select_option("#f-calibration_result", "pass")
    page.fill("#f-certificate_no", "厂内校 2026-045")
    page.fill("#f-calibrating_body", "设备动力部电气计量室")
    certificate = tmp_path / "检定证书.pdf"
    certificate.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    page.set_input_files("#f-certificate", str(certificate))
    page.click("#submit-transition")
    expect(page.locator("[data-value=next_calibration_due]")).to_have_text("2028-11-28")
    expect(page.locator("[data-value=calibration_status]")).to_have_text("有效")
    expect(page.locator("table[data-table=calibrations]")).to_contain_text("检定证书.pdf")
    expect(page.locator("#timeline")).to_contain_text("记录检定/校准")
    page.screenshot(path=str(SCREENSHOTS / "instruments-detail-zh.png"), full_page=True)

    page.goto("/instruments/coverage")
    expect(page.locator("#standard-note")).to_contain_text("GB 17167-2006")
    expect(page.locator("#overdue")).to_contain_text("矿山柴油流量计")
    page.screenshot(path=str(SCREENSHOTS / "instruments-coverage-zh.png"), full_page=True)
