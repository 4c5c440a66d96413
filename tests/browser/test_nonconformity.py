"""Nonconformity and corrective action (clause 10.1) end to end in the browser, as the people of the demo
enterprise would run it: staff reports, the quality manager assesses and analyses, the kiln's process owner
plans, implements and completes the actions, the internal auditor verifies their effectiveness under an
electronic signature; then the Word export and the workflow diagram. The other tests submit a stale
transition form from a second tab, sign with a wrong password, and follow a record's diagram link."""

import io
import re
import uuid
import zipfile
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import htmx_settled, sign_in

pytestmark = pytest.mark.browser

WORKFLOW = "/records/nonconformity"
STAFF = "staff@xiangfeng.example"
QUALITY = "quality@xiangfeng.example"
PROCESS_OWNER = "kiln@xiangfeng.example"  # 周强, 烧成车间主任
PROCESS_OWNER_NAME = "周强"
AUDITOR = "auditor@xiangfeng.example"  # 陈静, 内审员
AUDITOR_NAME = "陈静"
QUALITY_NAME = "张伟"
NUMBER = re.compile(r"^NC-\d{4}-\d{4}$")


def signed_in(contexts, email: str):
    """A page in a fresh browser context, signed in as `email`."""
    page = contexts.new().new_page()
    sign_in(page, email)
    expect(page.locator("h1#org-name")).to_be_visible()
    return page


def newest_record_id(page) -> str | None:
    page.goto(WORKFLOW)
    rows = page.locator("#record-rows tr[data-record]")
    return rows.first.get_attribute("data-record") if rows.count() else None


def expect_state(page, state: str) -> None:
    expect(page.locator("span#record-state")).to_have_attribute("data-state", state)


def open_record(page, record_id: str) -> None:
    page.goto(f"/r/{record_id}")
    expect(page.locator("#record-number")).to_have_text(NUMBER)
    htmx_settled(page)


def open_transition(page, trigger: str) -> None:
    """Click the action button: htmx loads the transition form into #transition-panel."""
    page.click(f"#actions button[data-trigger={trigger}]")
    form = page.locator(f"#transition-panel form#transition-form[action$='/transition/{trigger}']")
    expect(form).to_be_visible()
    htmx_settled(page)


def submit_and_expect_state(page, record_id: str, state: str) -> None:
    """A successful transition answers with HX-Redirect: the whole record page loads again."""
    with page.expect_navigation(url=re.compile(rf"/r/{record_id}$")):
        page.click("#submit-transition")
    expect_state(page, state)
    expect(page.locator("#transition-refusal")).to_have_count(0)
    htmx_settled(page)


def submit_and_expect_refusal(page, selector: str) -> None:
    """A refused transition swaps the re-rendered panel (422 or 409) in place: no navigation."""
    page.click("#submit-transition")
    expect(page.locator(f"#transition-panel {selector}")).to_be_visible()
    htmx_settled(page)


def create_nc(page, title: str) -> str:
    """Fill the report form from the list page's New button; the id of the created record."""
    page.goto(WORKFLOW)
    htmx_settled(page)
    page.click("#new-record")
    expect(page).to_have_url(re.compile(rf"{WORKFLOW}/new$"))
    htmx_settled(page)
    page.fill("#f-title", title)
    page.select_option("#f-source", "internal_audit")
    page.fill("#f-description", "2号窑熟料标准煤耗台账缺少 3 月份的计量数据，不符合 8.2 数据质量要求。")
    page.fill("#f-found_on", (date.today() - timedelta(days=2)).isoformat())
    with page.expect_navigation(url=re.compile(r"/r/\d+$")):
        page.click("#create-record")
    expect_state(page, "reported")
    expect(page.locator("#record-number")).to_have_text(NUMBER)
    return re.search(r"/r/(\d+)$", page.url).group(1)


def test_nonconformity_runs_from_report_to_verified_closure(contexts, tmp_path):
    title = f"熟料煤耗台账缺失 {uuid.uuid4().hex[:6]}"

    # 1. Staff reports the nonconformity; an empty title is refused field by field and creates nothing.
    staff = signed_in(contexts, STAFF)
    newest_before = newest_record_id(staff)
    htmx_settled(staff)
    staff.click("#new-record")
    expect(staff).to_have_url(re.compile(rf"{WORKFLOW}/new$"))
    htmx_settled(staff)
    staff.select_option("#f-source", "internal_audit")
    staff.fill("#f-description", "2号窑熟料标准煤耗台账缺少 3 月份的计量数据。")
    staff.fill("#f-found_on", (date.today() - timedelta(days=2)).isoformat())
    staff.click("#create-record")
    expect(staff.locator('[data-error-for="title"]')).to_be_visible()
    expect(staff.locator("#f-title")).to_have_class(re.compile(r"\bis-danger\b"))
    expect(staff.locator("#f-description")).to_have_value("2号窑熟料标准煤耗台账缺少 3 月份的计量数据。")
    expect(staff.locator("#record-state")).to_have_count(0)
    assert newest_record_id(staff) == newest_before, "a record was created from a form with errors"

    staff.goto(f"{WORKFLOW}/new")
    staff.fill("#f-title", title)
    staff.select_option("#f-source", "internal_audit")
    staff.fill("#f-description", "2号窑熟料标准煤耗台账缺少 3 月份的计量数据，不符合 8.2 数据质量要求。")
    staff.fill("#f-found_on", (date.today() - timedelta(days=2)).isoformat())
    staff.select_option("#f-org_unit", index=1)
    staff.fill("#f-clause", "8.2")
    staff.select_option("#f-assignee", label=QUALITY_NAME)
    with staff.expect_navigation(url=re.compile(r"/r/\d+$")):
        staff.click("#create-record")
    expect_state(staff, "reported")
    number = staff.locator("#record-number").inner_text().strip()
    assert NUMBER.match(number), number
    assert number.startswith(f"NC-{date.today().year}-")
    record_id = re.search(r"/r/(\d+)$", staff.url).group(1)
    expect(staff.locator("h1.title")).to_contain_text(title)
    expect(staff.locator("[data-value=assignee]")).to_have_text(QUALITY_NAME)
    expect(staff.locator("#actions button[data-trigger=assess]")).to_have_count(0)  # staff cannot assess

    # 2. The quality manager assesses (containment is required) and analyses the root cause.
    quality = signed_in(contexts, QUALITY)
    open_record(quality, record_id)
    expect_state(quality, "reported")
    open_transition(quality, "assess")
    quality.select_option("#f-severity", "major")
    submit_and_expect_refusal(quality, '[data-error-for="containment"]')
    expect(quality.locator("#f-severity")).to_have_value("major")  # what was entered is kept
    expect_state(quality, "reported")
    quality.fill("#f-containment", "立即补录 3 月份计量数据，并由计量员复核。")
    submit_and_expect_state(quality, record_id, "assessed")
    expect(quality.locator("[data-value=severity]")).to_have_text("严重")

    open_transition(quality, "analyse")
    quality.select_option("#f-method", "five_why")
    quality.fill("#f-cause", "台账交接无人复核，计量数据录入没有截止日期。")
    submit_and_expect_state(quality, record_id, "root_cause")

    # 3. The process owner plans the corrective action, starts it, and completes it once it is done.
    kiln = signed_in(contexts, PROCESS_OWNER)
    open_record(kiln, record_id)
    open_transition(kiln, "plan")
    kiln.fill("[name=actions-0-description]", "建立计量数据月度复核制度，并指定复核人。")
    kiln.select_option("[name=actions-0-owner]", label=PROCESS_OWNER_NAME)
    kiln.fill("[name=actions-0-due]", (date.today() + timedelta(days=14)).isoformat())
    kiln.select_option("[name=actions-0-status]", "open")
    # A second action falls to the quality manager: that makes him an implementer, too.
    kiln.fill("[name=actions-1-description]", "修订数据质量管理程序，明确录入截止日期。")
    kiln.select_option("[name=actions-1-owner]", label=QUALITY_NAME)
    kiln.fill("[name=actions-1-due]", (date.today() + timedelta(days=21)).isoformat())
    kiln.select_option("[name=actions-1-status]", "open")
    submit_and_expect_state(kiln, record_id, "actions_planned")
    actions_table = kiln.locator("table[data-table=actions] tbody tr")
    expect(actions_table).to_have_count(2)  # the blank spare rows are not saved
    expect(actions_table.nth(0)).to_contain_text(PROCESS_OWNER_NAME)
    expect(actions_table.nth(1)).to_contain_text(QUALITY_NAME)

    open_transition(kiln, "start")
    submit_and_expect_state(kiln, record_id, "implementing")

    open_transition(kiln, "complete")
    expect(kiln.locator("[name=actions-0-status]")).to_have_value("open")  # the plan, pre-filled
    submit_and_expect_refusal(kiln, "#transition-refusal")
    expect(kiln.locator("#transition-refusal")).to_contain_text("纠正措施第 1、2 项尚未完成")
    expect_state(kiln, "implementing")
    kiln.select_option("[name=actions-0-status]", "done")
    kiln.select_option("[name=actions-1-status]", "done")
    submit_and_expect_state(kiln, record_id, "effectiveness_review")

    # 4. The implementers may not verify; the internal auditor does, under an electronic signature.
    # The process owner lacks a verifying role at all (the role check comes first); the quality manager
    # has one but owns action 2, so separation of duties stops him.
    verify = kiln.locator("#actions [data-trigger=verify_effective]")
    expect(verify).to_have_attribute("data-disabled", "true")
    expect(verify).to_have_attribute("title", re.compile("角色"))
    expect(kiln.locator("#actions button[data-trigger=verify_effective]")).to_have_count(0)
    open_record(quality, record_id)
    verify = quality.locator("#actions [data-trigger=verify_effective]")
    expect(verify).to_have_attribute("data-disabled", "true")
    expect(verify).to_have_attribute("title", re.compile("实施人"))
    expect(quality.locator("#actions button[data-trigger=verify_effective]")).to_have_count(0)

    auditor = signed_in(contexts, AUDITOR)
    open_record(auditor, record_id)
    expect_state(auditor, "effectiveness_review")
    open_transition(auditor, "verify_effective")
    auditor.fill("#f-criteria", "连续两个月台账完整，复核记录齐全。")
    auditor.fill("#f-evidence", "4 月、5 月计量台账及复核签字记录。")
    auditor.select_option("#f-result", "effective")
    auditor.fill("#signature_password", "not-my-password")
    # The server refuses the signature (403, the refusal rendered into the panel); whether the browser
    # shows that panel is test_a_wrong_signature_password_is_refused_in_the_panel's business.
    with auditor.expect_response(re.compile(rf"/r/{record_id}/transition/verify_effective$")) as answer:
        auditor.click("#submit-transition")
    assert answer.value.status == 403, answer.value.status
    assert "签名密码不正确" in answer.value.text()
    htmx_settled(auditor)
    expect_state(auditor, "effectiveness_review")
    expect(auditor.locator("#f-evidence")).to_have_value("4 月、5 月计量台账及复核签字记录。")
    auditor.fill("#signature_password", "Xiangfeng#2026")
    submit_and_expect_state(auditor, record_id, "closed")

    signature = auditor.locator("#signatures [data-signature-status]")
    expect(signature).to_have_count(1)
    expect(signature).to_have_attribute("data-signature-status", "valid")
    expect(signature).to_contain_text(AUDITOR_NAME)
    expect(signature).to_contain_text("验证有效")
    expect(auditor.locator("#actions button[data-trigger]")).to_have_count(0)  # closed: nothing left
    timeline = auditor.locator("#timeline")
    for action in ("create", "assess", "analyse", "plan", "start", "complete", "signature_failed"):
        expect(timeline.locator(f"[data-action={action}]")).to_have_count(1)
    expect(timeline.locator("[data-action=verify_effective]")).to_contain_text(AUDITOR_NAME)
    expect(timeline.locator("[data-action=assess]")).to_contain_text(QUALITY_NAME)
    expect(timeline.locator("[data-action=complete]")).to_contain_text(PROCESS_OWNER_NAME)

    # 5. The Word export of the closed record, and the workflow diagram with its current state.
    with auditor.expect_download() as download_info:
        auditor.click("#export-docx")
    download = download_info.value
    assert download.suggested_filename == f"{number}.docx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as docx:
        document = docx.read("word/document.xml").decode()
    assert number in document and AUDITOR_NAME in document

    log = auditor.context.csp_log
    log.clear()
    auditor.goto(f"{WORKFLOW}/diagram?current=closed")
    expect(auditor.locator("#diagram svg")).to_be_visible()
    expect(auditor.locator("#diagram svg g.node.current")).to_have_text("已关闭")  # highlighted
    auditor.wait_for_timeout(100)  # let the CSP binding deliver
    assert log.problems() == [], log.problems()


def test_stale_transition_form_is_refused_with_a_conflict(contexts):
    quality = signed_in(contexts, QUALITY)
    record_id = create_nc(quality, f"过期表单 {uuid.uuid4().hex[:6]}")

    first = quality
    second = quality.context.new_page()  # a second tab, same session
    open_record(second, record_id)
    for tab in (first, second):
        open_transition(tab, "assess")
        tab.select_option("#f-severity", "minor")
        tab.fill("#f-containment", "暂停使用该台账，改用纸质记录。")

    submit_and_expect_state(first, record_id, "assessed")

    second.click("#submit-transition")
    refusal = second.locator("#transition-panel #transition-refusal")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("记录已被他人修改")
    expect(refusal.locator(f"a[href='/r/{record_id}']")).to_be_visible()  # offers a reload
    expect(second).to_have_url(re.compile(rf"/r/{record_id}$"))
    expect(second.locator("#transition-form")).to_have_count(0)  # no form for a state that is gone
    htmx_settled(second)

    open_record(second, record_id)
    expect_state(second, "assessed")
    expect(second.locator("#timeline [data-action=assess]")).to_have_count(1)  # assessed once, not twice


def test_a_wrong_signature_password_is_refused_in_the_panel(contexts):
    """The auditor signs the demo record awaiting review with a wrong password: the refusal is shown where
    the password was typed, the record stays where it was, and the failed attempt is in its timeline."""
    auditor = signed_in(contexts, AUDITOR)
    auditor.goto(f"{WORKFLOW}?state=effectiveness_review&q=E-KILN-03")
    auditor.click("#record-rows tr[data-record] a")
    expect_state(auditor, "effectiveness_review")
    record_id = re.search(r"/r/(\d+)$", auditor.url).group(1)
    htmx_settled(auditor)
    open_transition(auditor, "verify_effective")
    auditor.fill("#f-criteria", "检定证书在有效期内。")
    auditor.fill("#f-evidence", "E-KILN-03 新检定证书。")
    auditor.select_option("#f-result", "effective")
    auditor.fill("#signature_password", "not-my-password")
    submit_and_expect_refusal(auditor, "#transition-refusal")
    expect(auditor.locator("#transition-refusal")).to_contain_text("签名密码不正确")
    expect(auditor.locator("#transition-panel #signature_password")).to_have_value("")  # never echoed
    expect(auditor.locator("#f-evidence")).to_have_value("E-KILN-03 新检定证书。")
    expect_state(auditor, "effectiveness_review")

    open_record(auditor, record_id)
    expect_state(auditor, "effectiveness_review")
    expect(auditor.locator("#timeline [data-action=signature_failed]").first).to_contain_text(AUDITOR_NAME)
    expect(auditor.locator("#signatures")).to_have_count(0)


def test_the_record_pages_diagram_link_renders_the_diagram(contexts):
    """The "workflow diagram" button on a record, clicked as a user would (not typed into the address bar):
    Mermaid must run and draw the diagram with the record's state highlighted."""
    page = signed_in(contexts, QUALITY)
    page.goto(f"{WORKFLOW}?q=E-KILN-03")
    page.click("#record-rows tr[data-record] a")
    expect_state(page, "effectiveness_review")
    htmx_settled(page)
    page.click("a[href='/records/nonconformity/diagram?current=effectiveness_review']")
    expect(page).to_have_url(re.compile(r"/records/nonconformity/diagram\?current=effectiveness_review$"))
    expect(page.locator("#diagram svg")).to_be_visible()
    expect(page.locator("#diagram svg g.node.current")).to_have_text("有效性验证")
