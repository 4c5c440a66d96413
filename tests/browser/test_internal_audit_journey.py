"""9.3 internal audit in Chromium, as the people who run it: the quality manager plans an audit of 9.2 and
9.3 (scope, audited unit, criteria, team with each auditor's own unit, dates) and confirms it — the checklist
comes from the clause library; the internal auditor answers every row (one observation), issues the report
and finds the improvement item it opened, linked both ways; then the audit and the demo's 2026 programme are
read in English. Screenshots: docs/screenshots/internal-audit-*-{zh,en}.png."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import htmx_settled, sign_in, sign_out

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
QUALITY = "quality@xiangfeng.example"
AUDITOR = "auditor@xiangfeng.example"
AUDITOR_NAME = "陈静"


def _open_action(page, trigger: str) -> None:
    htmx_settled(page)
    page.click(f"#actions button[data-trigger={trigger}]")
    expect(page.locator("form#transition-form")).to_be_visible()
    htmx_settled(page)


def _fill_date(page, selector: str, value: str) -> None:
    page.fill(selector, value)
    page.keyboard.press("Escape")


def test_quality_plans_the_auditor_audits_and_the_finding_becomes_an_improvement_item(page):
    sign_in(page, QUALITY)
    page.goto("/records/internal_audit/new")
    page.fill("#f-title", "2026 年 12 月绩效评价专项内审")
    page.fill("#f-scope_clauses", "9.2, 9.3")
    page.click("#create-record")
    expect(page.locator("#record-number")).to_have_text(re.compile(r"^IA-\d{4}-\d{2}$"))
    _open_action(page, "save_plan")
    page.select_option("[name=scope_units-0-unit]", label="生产技术部")
    page.fill("#f-criteria", "DB43《工业企业碳管理体系实施指南》；《碳管理手册》第 2 版")
    page.select_option("#f-lead_auditor", label=AUDITOR_NAME)
    page.select_option("[name=team-0-member]", label=AUDITOR_NAME)
    page.select_option("[name=team-0-home_unit]", label="质量控制部")
    page.fill("#f-auditees", "生产技术部 周强")
    _fill_date(page, "#f-records_from", "2030-01-01")
    _fill_date(page, "#f-start_date", "2030-12-14")
    _fill_date(page, "#f-end_date", "2030-12-15")
    page.click("#submit-transition")
    expect(page.locator("[data-value=criteria]")).to_contain_text("实施指南")
    _open_action(page, "submit_plan")
    page.click("#submit-transition")
    expect(page.locator("#record-state")).to_contain_text("现场审核")
    checklist = page.locator("table[data-table=checklist] tbody tr")
    expect(checklist).to_have_count(3)
    expect(checklist.first).to_contain_text("9.2")
    page.screenshot(path=str(SCREENSHOTS / "internal-audit-checklist-zh.png"), full_page=True)
    audit_url = page.url
    sign_out(page)

    sign_in(page, AUDITOR)
    page.goto(audit_url)
    for item, answer, note in (
        (1, "conforming", ""),
        (2, "observation", "内审员培训记录未注明考核结果"),
        (3, "conforming", ""),
    ):
        _open_action(page, "answer_item")
        page.fill("#f-item", str(item))
        page.select_option("#f-answer", answer)
        page.fill("#f-evidence", f"查阅 2026 年内审记录第 {item} 项")
        page.fill("#f-auditee", "周强")
        if note:
            page.fill("#f-note", note)
        page.click("#submit-transition")
        expect(page.locator("[data-value=answered]")).to_have_text(str(item))
    expect(page.locator("[data-value=score_percent]")).to_contain_text("%")
    page.screenshot(path=str(SCREENSHOTS / "internal-audit-fieldwork-zh.png"), full_page=True)
    _open_action(page, "issue_report")
    _fill_date(page, "#f-report_date", "2030-12-16")
    page.fill("#f-conclusion", "9.2、9.3 运行有效；1 项观察项纳入持续改进。")
    page.click("#submit-transition")
    expect(page.locator("#record-state")).to_contain_text("已出报告")
    expect(page.locator("a[data-document]")).to_be_visible()
    linked = page.locator("a[href^='/r/']", has_text=re.compile(r"^IMP-\d{4}-\d{3}$")).last
    expect(linked).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "internal-audit-report-zh.png"), full_page=True)
    number = page.locator("#record-number").inner_text()
    linked.click()
    expect(page.locator("h1")).to_contain_text("观察项")
    expect(page.locator("main")).to_contain_text(number)

    page.goto(audit_url)
    page.click("#locale-en")
    page.wait_for_load_state()
    page.goto(audit_url)
    expect(page.locator("#record-state")).to_contain_text("Reported")
    expect(page.locator("main")).to_contain_text("Checklist")
    page.screenshot(path=str(SCREENSHOTS / "internal-audit-report-en.png"), full_page=True)
    page.goto("/records/internal_audit_programme")
    page.locator("tr", has_text="2026").locator("a").first.click()
    expect(page.locator("main")).to_contain_text("Frequency and months")
    page.screenshot(path=str(SCREENSHOTS / "internal-audit-programme-en.png"), full_page=True)
    page.click("#locale-zh_CN")
    page.wait_for_load_state()
    page.reload()
    expect(page.locator("main")).to_contain_text("审核频次与月份")
    page.screenshot(path=str(SCREENSHOTS / "internal-audit-programme-zh.png"), full_page=True)
