"""A record's Word export and the record list's Excel export: what a reader sees (labels, names, China
time, A4 with header, footer and approval block, signature status) and what they must never do (run a
formula, answer 500 on stored control characters)."""

import re
import zipfile
from io import BytesIO

from openpyxl import load_workbook
from sqlalchemy import text

from engine.audit import Actor, append_event
from tests.web.conftest import csrf_of
from tests.web.documents import RAW_ISO_TIME, all_text, assert_a4_with_header_footer_and_metadata, open_docx

ORGANIZATION = "湖南湘峰水泥有限公司"


def _closed_record(web) -> tuple[int, str, str]:
    with web.db.engine.connect() as connection:
        record_id, number = connection.execute(
            text("SELECT id, number FROM record WHERE state = 'closed' AND workflow_key = 'nonconformity'")
        ).one()
        content_hash = connection.execute(
            text("SELECT content_hash FROM signature WHERE record_id = :r"), {"r": record_id}
        ).scalar_one()
    return record_id, number, content_hash


def test_the_record_docx_shows_labels_names_china_time_and_tables(web):
    record_id, number, _ = _closed_record(web)
    response = web.as_role("internal_auditor").get(f"/r/{record_id}/export.docx")
    assert response.status_code == 200
    document = open_docx(response.content)
    shown = all_text(document)
    # Labels instead of keys: transitions, states, fields, choices; names instead of ids.
    for label in (
        "评估",
        "原因分析",
        "已报告",
        "已评估",
        "严重程度",
        "严重",
        "五个为什么",
        "纠正措施",
        "周强",
        "未完成",
    ):
        assert label in shown, label
    leaks = ("five_why", "major", "assignee", "severity", "method :", "reported", "assessed",
             "verify_effective", "'description'", "[{", "(UTC)")  # fmt: skip
    for leak in leaks:
        assert leak not in shown, leak
    assert not RAW_ISO_TIME.search(shown), RAW_ISO_TIME.search(shown)
    # The corrective actions changed in the timeline read as rows, not as a Python list.
    assert "1. 措施内容：将探头清灰纳入周度点检表；负责人：周强；完成期限：2026-04-30；状态：已完成" in shown
    # Times in China time: the demo's events are written "YYYY-MM-DD HH:MM".
    timeline = next(t for t in document.tables if t.rows[0].cells[1].text.startswith("时间"))
    assert timeline.rows[0].cells[1].text == "时间（北京时间）Time (China)"


def test_the_record_docx_is_a4_with_header_footer_approval_block_and_true_metadata(web):
    record_id, number, content_hash = _closed_record(web)
    document = open_docx(web.as_role("internal_auditor").get(f"/r/{record_id}/export.docx").content)
    title = document.paragraphs[0].text.replace("\u3000", " ")
    assert title.startswith(number)
    assert_a4_with_header_footer_and_metadata(
        document, header_has=[ORGANIZATION, number], author="陈静", title=title
    )
    # The approval block: who prepared the record, then its e-signature with China time and the whole hash.
    approval = next(t for t in document.tables if t.rows[0].cells[0].text == "职责 Role")
    rows = {row.cells[0].text: [cell.text for cell in row.cells[1:]] for row in approval.rows[1:]}
    assert rows["编制 Prepared"][0] == "赵敏"  # the demo's staff member reported it
    name, signature, signed_on = rows["验证有效 Verified effective"]
    assert name == "陈静" and content_hash in signature and "状态：有效" in signature
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", signed_on)
    shown = all_text(document)
    assert "记录期间 Period" in shown and "北京时间" in shown


def test_a_signature_after_a_change_reads_stale(web):
    record_id, number, content_hash = _closed_record(web)
    with web.db.engine.begin() as connection:  # the content changes after signing
        connection.execute(
            text("UPDATE record SET title = title || '（改）' WHERE id = :r"), {"r": record_id}
        )
    shown = all_text(open_docx(web.as_role("internal_auditor").get(f"/r/{record_id}/export.docx").content))
    assert "已失效 — 需重新签署" in shown and content_hash in shown


DANGEROUS = {
    "title": '=HYPERLINK("http://evil.example","x")',
    "description": "=cmd|' /C calc'!A0",
    "clause": None,
}


def _create_nc(client, *, title: str, description: str) -> None:
    page = client.get("/records/nonconformity/new")
    response = client.post(
        "/records/nonconformity",
        data={
            "csrf_token": csrf_of(page.text),
            "title": title,
            "source": "other",
            "description": description,
            "found_on": "2026-03-05",
        },
    )
    assert response.status_code == 303, response.text


def test_the_xlsx_export_writes_formula_like_text_as_text(web):
    client = web.as_role("quality_manager")
    # (a lone CR is refused at the boundary: engine/values.py)
    cases = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1"]
    for index, title in enumerate(cases):
        _create_nc(client, title=title, description="=cmd|' /C calc'!A0" if index == 0 else f"说明 {index}")
    response = client.get("/records/nonconformity/export.xlsx")
    assert response.status_code == 200
    with zipfile.ZipFile(BytesIO(response.content)) as package:
        sheet_xml = package.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml  # no formula anywhere
    sheet = load_workbook(BytesIO(response.content)).active
    titles = {row[1].value: row[1] for row in sheet.iter_rows(min_row=2)}
    for title in cases:
        stored = title.strip()  # the form strips surrounding whitespace
        assert stored in titles, (stored, list(titles))
        assert titles[stored].data_type == "s"
    descriptions = [row[7].value for row in sheet.iter_rows(min_row=2)]
    assert "=cmd|' /C calc'!A0" in descriptions


def _store_control_characters(web, *, record_id: int) -> str:
    """Control characters written the way old data may hold them: straight into the database, and into the
    audit trail through its service (PostgreSQL text cannot hold NUL, so it gets the other controls)."""
    nul = "" if web.db.url.startswith("postgresql") else "\x00"
    bad = f"泄漏{nul}\x01\x1b[31m红字\x0b"
    with web.db.engine.begin() as connection:
        connection.execute(text("UPDATE record SET title = :t WHERE id = :r"), {"t": bad, "r": record_id})
    with web.db.unit_of_work(org_id=1) as uow:
        append_event(
            uow.session, org_id=1, actor=Actor(None, "导入"), subject_type="record", subject_id=record_id,
            action="create", changes={"description": [None, bad]}, reason=bad,
        )  # fmt: skip
    return bad


def test_stored_control_characters_never_break_an_export(web):
    client = web.as_role("quality_manager")
    _create_nc(client, title="控制字符", description="x")
    with web.db.engine.connect() as connection:
        record_id = connection.execute(text("SELECT max(id) FROM record")).scalar_one()
    _store_control_characters(web, record_id=record_id)
    docx = client.get(f"/r/{record_id}/export.docx")
    assert docx.status_code == 200
    shown = all_text(open_docx(docx.content))
    assert "泄漏\ufffd" in shown and "\x01" not in shown and "\x1b" not in shown
    xlsx = client.get("/records/nonconformity/export.xlsx")
    assert xlsx.status_code == 200
    titles = [row[1].value for row in load_workbook(BytesIO(xlsx.content)).active.iter_rows(min_row=2)]
    assert any(title and title.startswith("泄漏\ufffd") for title in titles), titles


def test_the_import_template_writes_source_names_as_text(web):
    """The activity-data template lists the organization's sources: their text is data, never a formula."""
    nul = "" if web.db.url.startswith("postgresql") else "\x00"
    with web.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE emission_source SET name = :n WHERE code = 'PLANT-ELEC'"),
            {"n": f'=HYPERLINK("http://evil.example","x"){nul}\x1b'},
        )
    response = web.as_role("carbon_manager").get("/emissions/import/template.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(BytesIO(response.content))["排放源 Sources"]
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    name = rows["PLANT-ELEC"][1]
    assert name.data_type == "s" and name.value.startswith('=HYPERLINK("http://evil.example","x")\ufffd')
    assert rows["PLANT-ELEC"][3].value == "购入电力" and rows["PLANT-ELEC"][5].value == "实测"
