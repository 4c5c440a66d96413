"""Exports of workflow records: one record to docx (number, data, timeline, signatures) and a list to xlsx."""

from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any

from docx import Document
from openpyxl import Workbook

from engine.audit_trail.service import TrailEvent
from engine.forms.spec import FieldSpec, FieldType
from engine.records.signatures import SignatureView
from engine.reports.docx_fonts import apply_chinese_styles
from engine.workflow.loader import Workflow
from engine.workflow.models import Record

SIGNATURE_STATUS = {
    "valid": "有效 valid",
    "stale": "签名后记录已修改，需重新签署 stale",
    "invalid": "无效 invalid",
}


def display_value(field: FieldSpec, value: Any, names: Callable[[FieldType, Any], str]) -> str:
    if value is None or value == "":
        return ""
    if field.type == FieldType.choice:
        return field.choice_label(value, "zh_CN")
    if field.type == FieldType.multi_choice:
        return "、".join(field.choice_label(item, "zh_CN") for item in value)
    if field.type in (FieldType.user, FieldType.org_unit, FieldType.record_link):
        return names(field.type, value)
    if field.type == FieldType.number and field.unit:
        return f"{value} {field.unit}"
    return str(value)


def record_docx(
    *,
    record: Record,
    workflow: Workflow,
    timeline: Iterable[TrailEvent],
    signatures: Iterable[SignatureView],
    names: Callable[[FieldType, Any], str],
    organization_name: str,
) -> bytes:
    spec = workflow.spec
    document = Document()
    apply_chinese_styles(document)
    document.add_heading(f"{record.number}　{record.title}", level=1)
    state = spec.states.get(record.state)
    summary = document.add_table(rows=0, cols=2)
    summary.style = "Table Grid"
    for label, value in (
        ("组织 Organization", organization_name),
        ("流程 Process", f"{spec.title.zh} / {spec.title.en}（v{record.workflow_version}）"),
        ("条款 Clause", "、".join(record.clause_refs)),
        ("状态 State", f"{state.label.zh} / {state.label.en}" if state else record.state),
        ("版本 Version", str(record.version)),
    ):
        cells = summary.add_row().cells
        cells[0].text, cells[1].text = label, value
    for form in workflow.forms_in_order:
        present = [field for field in form.fields if field.name in record.data]
        if not present:
            continue
        document.add_heading(f"{form.title.zh} {form.title.en}", level=2)
        for field in present:
            value = record.data[field.name]
            if field.type == FieldType.table:
                document.add_paragraph(field.label.zh)
                table = document.add_table(rows=1, cols=len(field.columns) + 1)
                table.style = "Table Grid"
                table.rows[0].cells[0].text = "#"
                for index, column in enumerate(field.columns, start=1):
                    table.rows[0].cells[index].text = column.label.zh
                for number, row in enumerate(value, start=1):
                    cells = table.add_row().cells
                    cells[0].text = str(number)
                    for index, column in enumerate(field.columns, start=1):
                        cells[index].text = display_value(column, row.get(column.name), names)
            else:
                paragraph = document.add_paragraph()
                paragraph.add_run(f"{field.label.zh}：").bold = True
                paragraph.add_run(display_value(field, value, names))
    document.add_heading("电子签名 Electronic signatures", level=2)
    signature_list = list(signatures)
    if not signature_list:
        document.add_paragraph("无 None")
    for signature in signature_list:
        meaning = workflow.signature_meaning(signature.meaning)
        zh, en = meaning.zh, meaning.en
        status = SIGNATURE_STATUS[signature.status]
        document.add_paragraph(f"{signature.signer_name}　{zh} {en}　{signature.signed_at} (UTC)　{status}")
    document.add_heading("过程记录 Timeline", level=2)
    table = document.add_table(rows=1, cols=5)
    table.style = "Table Grid"
    for index, title in enumerate(("#", "时间 Time (UTC)", "人员 Actor", "操作 Action", "变更 Changes")):
        table.rows[0].cells[index].text = title
    for event in timeline:
        cells = table.add_row().cells
        cells[0].text = str(event.seq)
        cells[1].text = event.ts
        cells[2].text = event.actor_name
        states = f"（{event.from_state or '—'} → {event.to_state}）" if event.to_state else ""
        cells[3].text = f"{event.action}{states}" + (f"：{event.reason}" if event.reason else "")
        cells[4].text = "；".join(
            f"{name}: {old} → {new}" for name, (old, new) in sorted(event.changes.items())
        )
    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def records_xlsx(
    *, workflow: Workflow, records: Iterable[Record], names: Callable[[FieldType, Any], str]
) -> bytes:
    """One row per record: number, title, state, dates, then the scalar fields of every form."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(workflow.spec.title.zh[:31])
    fields = [
        field for form in workflow.forms_in_order for field in form.fields if field.type != FieldType.table
    ]
    sheet.append(
        [
            "编号 Number",
            "标题 Title",
            "状态 State",
            "创建 Created (UTC)",
            "期限 Due",
            *[f"{f.label.zh} {f.label.en}" for f in fields],
        ]
    )
    for record in records:
        state = workflow.spec.states.get(record.state)
        sheet.append(
            [
                record.number,
                record.title,
                state.label.zh if state else record.state,
                record.created_at.strftime("%Y-%m-%d %H:%M"),
                record.due_date,
                *[display_value(f, record.data.get(f.name), names) for f in fields],
            ]
        )
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
