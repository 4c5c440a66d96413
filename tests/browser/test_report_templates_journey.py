"""Report templates in Chromium, in Chinese: the carbon manager finds 报告模板 under 系统, downloads the
example template of the annual GHG report, uploads a copy with a misspelt placeholder (refused, the
placeholder named), then the example itself (accepted, in use), exports the report through it, and
goes back to the built-in layout with a reason. Screenshots: docs/screenshots/report-templates-zh.png
(the upload page with the refusal) and report-templates-accepted-zh.png."""

import io
import re
from pathlib import Path

import pytest
from docx import Document
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _misspelt(example: bytes) -> bytes:
    document = Document(io.BytesIO(example))
    document.add_paragraph("排放总量：{{ total_tco2 }} tCO2e")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_the_carbon_manager_lays_out_the_ghg_report_with_the_plants_template(page, tmp_path):
    sign_in(page, "carbon@xiangfeng.example")
    page.goto("/")
    page.hover("text=系统")
    page.click("#nav-report-templates")
    expect(page.locator("h1")).to_have_text("报告模板")
    row = page.locator('[data-report-type="ghg_report"]')
    expect(row.locator("[data-layout]")).to_contain_text("内置版式")
    row.locator("a").click()
    expect(page.locator("#placeholders")).to_contain_text("温室气体排放总量")
    with page.expect_download() as downloading:
        page.click("#example-template")
    example = Path(downloading.value.path()).read_bytes()
    assert example.startswith(b"PK")

    page.set_input_files(
        "#tpl-file",
        files=[
            {
                "name": "湘峰温室气体报告模板.docx",
                "mimeType": "application/octet-stream",
                "buffer": _misspelt(example),
            }
        ],
    )
    page.click("#upload-template-submit")
    expect(page.locator("#template-problems")).to_contain_text("未知的占位符 total_tco2")
    expect(page.locator("#template-problems")).to_contain_text("此处可用：organization")
    expect(page.locator("#template-versions")).to_contain_text("尚未上传模板")
    shot(page, "report-templates-zh")

    page.set_input_files(
        "#tpl-file",
        files=[
            {"name": "湘峰温室气体报告模板.docx", "mimeType": "application/octet-stream", "buffer": example}
        ],
    )
    page.fill("#tpl-note", "按公司文件格式")
    with page.expect_navigation(url=re.compile(r"accepted=\d+")):
        page.click("#upload-template-submit")
    expect(page.locator("#template-accepted")).to_be_visible()
    expect(page.locator('tr[data-state="in_use"]')).to_contain_text("湘峰温室气体报告模板.docx")
    shot(page, "report-templates-accepted-zh")

    with page.expect_download() as downloading:
        page.evaluate("() => { location.href = '/emissions/report.docx?year=2025'; }")
    report = Document(downloading.value.path())
    assert report.paragraphs[0].text != ""  # the comment paragraph of the example is left out
    assert "湖南湘峰水泥有限公司 2025 年度温室气体排放报告" in "\n".join(p.text for p in report.paragraphs)
    assert "2025年1月1日至2025年12月31日" in report.sections[0].header.paragraphs[0].text

    page.goto("/report-templates/ghg_report")
    page.fill("#retire-template input[name=reason]", "浏览器测试结束，恢复内置版式")
    with page.expect_navigation(url=re.compile(r"/report-templates/ghg_report$")):
        page.click("#retire-template button[type=submit]")
    expect(page.locator('tr[data-state="retired"]')).to_contain_text("恢复内置版式")
    expect(page.locator("#template-in-use")).to_contain_text("内置版式")
