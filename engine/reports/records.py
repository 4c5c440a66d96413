"""Exports of workflow records: one record to docx (summary, data, approval block with its e-signatures,
timeline) and a list to xlsx. Values, names and times are rendered by engine.records.display and the
timeline by engine.records.timeline, as on the record page."""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from engine.forms.spec import FieldType, Text
from engine.records.display import Names, china_time, display_value
from engine.records.signatures import SIGNATURE_STATUS, SignatureView
from engine.records.timeline import TimelineEntry
from engine.report_templates.registry import register_report_type, rows, text
from engine.reports.docx_layout import (
    Approver,
    approval_block,
    approver_row,
    docx_bytes,
    heading,
    new_document,
    paragraph,
    stamp,
    table,
)
from engine.reports.periods import record_period
from engine.reports.spreadsheet import safe_cell, write_only_workbook
from engine.workflow.loader import Workflow
from engine.workflow.models import Record


def record_docx(
    *,
    record: Record,
    workflow: Workflow,
    timeline: Sequence[TimelineEntry],
    signatures: Iterable[SignatureView],
    names: Names,
    organization_name: str,
    exported_by: str,
    mark: str | None = None,
) -> bytes:
    """``mark``: stamped on the first line and on every page header (作废 / OBSOLETE when superseded)."""
    title = f"{record.number} {record.title}"
    period = record_period(record.workflow_key, record.data)
    document = new_document(organization=organization_name, title=title, author=exported_by, period=period)
    heading(document, f"{record.number}　{record.title}", level=1)
    if mark:
        stamp(document, mark=mark, note=_state(record, workflow))
    table(
        document,
        ["项目 Item", "内容 Content"],
        [
            ["组织 Organization", organization_name],
            ["流程 Process", _process(record, workflow)],
            ["条款 Clause", "、".join(record.clause_refs)],
            ["状态 State", _state(record, workflow) or record.state],
            *([["报告期 Reporting period", period.zh]] if period else []),
            ["记录期间 Period", _record_period(record)],
            ["版本 Version", str(record.version)],
            ["导出 Exported", f"{china_time(datetime.now(UTC))}（北京时间）{exported_by}"],
        ],
        widths_mm=(40, 116),
    )
    _record_data(document, record, workflow, names)
    approvals_section(document, record, workflow, timeline, list(signatures))
    heading(document, "过程记录 Timeline", level=2)
    table(
        document,
        ["序号 Seq", "时间（北京时间）Time (China)", "人员 Actor", "操作 Action", "变更 Changes"],
        [
            [str(entry.seq), entry.when, entry.actor, _action_text(entry), _changes_text(entry)]
            for entry in timeline
        ],
        widths_mm=(12, 26, 18, 40, 60),
    )
    return docx_bytes(document)


def _process(record: Record, workflow: Workflow) -> str:
    return f"{workflow.spec.title.zh} / {workflow.spec.title.en}（v{record.workflow_version}）"


def _state(record: Record, workflow: Workflow) -> str:
    state = workflow.spec.states.get(record.state)
    return f"{state.label.zh} / {state.label.en}" if state else ""


def _record_period(record: Record) -> str:
    end = china_time(record.closed_at)[:10] if record.closed_at else "至今 ongoing"
    return f"{china_time(record.created_at)[:10]} 至 {end}"


def _record_data(document: Any, record: Record, workflow: Workflow, names: Names) -> None:
    for form in workflow.forms_in_order:
        present = [field for field in form.fields if field.name in record.data]
        if not present:
            continue
        heading(document, f"{form.title.zh} {form.title.en}", level=2)
        for field in present:
            value = record.data[field.name]
            if field.type == FieldType.table and isinstance(value, list):
                paragraph(document, bold_label=f"{field.label.zh}：")
                table(
                    document,
                    ["#", *(column.label.zh for column in field.columns)],
                    [
                        [str(number), *(display_value(c, row.get(c.name), names) for c in field.columns)]
                        for number, row in enumerate(value, start=1)
                        if isinstance(row, dict)
                    ],
                )
            else:
                paragraph(
                    document, display_value(field, value, names) or "—", bold_label=f"{field.label.zh}："
                )


def approvals_section(
    document: Any,
    record: Record,
    workflow: Workflow,
    timeline: Sequence[TimelineEntry],
    signatures: list[SignatureView],
) -> None:
    """编制 is who created the record; then each e-signature with its declared meaning, the whole hash of
    the content signed and whether it still holds. Without e-signatures, 审核 and 批准 are left to sign."""
    approvers = record_approvers(record, workflow, timeline, signatures)
    approval_block(document, approvers, title="审批与电子签名 Approval and electronic signatures")


def record_approvers(
    record: Record, workflow: Workflow, timeline: Sequence[TimelineEntry], signatures: list[SignatureView]
) -> list[Approver]:
    created = next((entry for entry in timeline if entry.action_key == "create"), None)
    approvers = [
        Approver(
            role="编制 Prepared",
            name=created.actor if created else "",
            signature="创建记录（系统记录）Created in the system",
            date=china_time(record.created_at),
        )
    ]
    approvers += signature_approvers(workflow, signatures)
    if not signatures:
        approvers += [Approver(role="审核 Reviewed"), Approver(role="批准 Approved")]
    return approvers


def signature_approvers(workflow: Workflow, signatures: Iterable[SignatureView]) -> list[Approver]:
    """Each e-signature as a row of the approval block: its declared meaning, the signer, the whole hash of
    the content signed and whether it still holds."""
    approvers = []
    for signature in signatures:
        meaning = workflow.signature_meaning(signature.meaning)
        status = SIGNATURE_STATUS.get(signature.status)
        approvers.append(
            Approver(
                role=f"{meaning.zh} {meaning.en}",
                name=signature.signer_name,
                signature=(
                    f"电子签名 Electronic signature\nSHA-256：{signature.content_hash}\n"
                    f"状态：{status.zh if status else signature.status}"
                    + (f" / {status.en}" if status else "")
                ),
                date=china_time(signature.signed_at),
            )
        )
    return approvers


def _action_text(entry: TimelineEntry) -> str:
    text = entry.action.zh
    if entry.to_state:
        text += f"（{entry.from_state.zh if entry.from_state else '—'} → {entry.to_state.zh}）"
    if entry.comment:
        text += f"：{entry.comment.zh}"
    return text


def _changes_text(entry: TimelineEntry) -> str:
    lines = []
    for change in entry.changes:
        old, new = (change.old.zh if change.old else "—"), (change.new.zh if change.new else "—")
        if "\n" in old or "\n" in new:  # table rows: one per line
            lines.append(f"{change.field.zh}：\n  原 Before：\n{old}\n  新 After：\n{new}")
        else:
            lines.append(f"{change.field.zh}：{old} → {new}")
    return "\n".join(lines)


def record_context(
    *,
    record: Record,
    workflow: Workflow,
    timeline: Sequence[TimelineEntry],
    signatures: Iterable[SignatureView],
    names: Names,
    organization_name: str,
    exported_by: str,
    mark: str | None = None,
) -> dict[str, Any]:
    """What a template of a record may show (the placeholders registered below), as record_docx shows it."""
    signed = list(signatures)
    period = record_period(record.workflow_key, record.data)
    return {
        "organization": organization_name,
        "title": f"{record.number} {record.title}",
        "period": period.zh if period else "",
        "period_en": period.en if period else "",
        "exported_by": exported_by,
        "exported_at": china_time(datetime.now(UTC)),
        "approvals": [approver_row(a) for a in record_approvers(record, workflow, timeline, signed)],
        "number": record.number,
        "record_title": record.title,
        "process": _process(record, workflow),
        "clauses": "、".join(record.clause_refs),
        "state": _state(record, workflow) or record.state,
        "record_period": _record_period(record),
        "version": str(record.version),
        "mark": mark or "",
        "fields": [
            {
                "form": f"{form.title.zh} {form.title.en}",
                "label": field.label.zh,
                "label_en": field.label.en,
                "value": display_value(field, record.data[field.name], names) or "—",
            }
            for form in workflow.forms_in_order
            for field in form.fields
            if field.name in record.data
        ],
        "signatures": [
            {
                "meaning": f"{meaning.zh} {meaning.en}",
                "name": signature.signer_name,
                "date": china_time(signature.signed_at),
                "hash": signature.content_hash,
                "status": f"{status.zh} / {status.en}" if status else signature.status,
            }
            for signature in signed
            for meaning, status in [
                (workflow.signature_meaning(signature.meaning), SIGNATURE_STATUS.get(signature.status))
            ]
        ],
        "timeline": [
            {
                "seq": str(entry.seq),
                "time": entry.when,
                "actor": entry.actor,
                "action": _action_text(entry),
                "changes": _changes_text(entry),
            }
            for entry in timeline
        ],
    }


register_report_type(
    "record",
    title=Text(
        zh="记录导出（任一流程的记录 Word 文档）",
        en="Record export (the Word document of any process's record)",
    ),
    where=Text(zh="记录页“导出 Word”", en="a record's page, “export to Word”"),
    order=20,
    placeholders=[
        text("number", "记录编号", "Record number", "NC-2026-0001"),
        text("record_title", "记录标题", "Record title"),
        text("process", "流程（含版本）", "Process and its version"),
        text("clauses", "条款", "Clauses"),
        text("state", "状态", "State"),
        text("record_period", "记录期间（创建至关闭）", "Record period (created to closed)"),
        text("version", "记录版本", "Record version"),
        text(
            "mark",
            "作废等标记（无则为空；作废时系统另在页眉加盖）",
            "Mark such as OBSOLETE (blank if none; stamped on the header too)",
        ),
        rows(
            "fields",
            "表单字段（每个已填写字段一行）",
            "Form fields, one row per filled field",
            text("form", "表单", "Form"),
            text("label", "字段（中文）", "Field (Chinese)"),
            text("label_en", "字段（英文）", "Field (English)"),
            text("value", "内容（表格字段每行一条）", "Value (a table field: one line per row)"),
        ),
        rows(
            "signatures",
            "电子签名",
            "E-signatures",
            text("meaning", "签名含义", "Meaning"),
            text("name", "签名人", "Signer"),
            text("date", "签名时间（北京时间）", "Signed at (China time)"),
            text("hash", "所签内容的 SHA-256", "SHA-256 of the content signed"),
            text("status", "状态（有效、已失效、无效）", "Status (valid, stale, invalid)"),
        ),
        rows(
            "timeline",
            "过程记录",
            "Timeline",
            text("seq", "序号", "Seq"),
            text("time", "时间（北京时间）", "Time (China)"),
            text("actor", "人员", "Actor"),
            text("action", "操作", "Action"),
            text("changes", "变更", "Changes"),
        ),
    ],
)


def records_xlsx(*, workflow: Workflow, records: Iterable[Record], names: Names) -> bytes:
    """One row per record: number, title, state, dates, then the scalar fields of every form. Formula-like
    text is written as text and control characters as U+FFFD (engine.reports.spreadsheet)."""
    workbook, sheet = write_only_workbook(workflow.spec.title.zh[:31])
    fields = [
        field for form in workflow.forms_in_order for field in form.fields if field.type != FieldType.table
    ]
    header = [
        "编号 Number",
        "标题 Title",
        "状态 State",
        "创建（北京时间）Created (China time)",
        "期限 Due",
        *[f"{f.label.zh} {f.label.en}" for f in fields],
    ]
    sheet.append([safe_cell(sheet, value) for value in header])
    for record in records:
        state = workflow.spec.states.get(record.state)
        row = [
            record.number,
            record.title,
            state.label.zh if state else record.state,
            china_time(record.created_at),
            record.due_date,
            *[display_value(f, record.data.get(f.name), names) for f in fields],
        ]
        sheet.append([safe_cell(sheet, value) for value in row])
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
