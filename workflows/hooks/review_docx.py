"""9.4 management review as a Word document: the input pack section by section (the figures stored on the
record — frozen at approval — never the live ones), the meeting, the outputs with the improvement records
their actions became, top management's e-signature and the pack's SHA-256."""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from engine.forms.spec import FieldSpec, Text
from engine.records.display import Names, china_time, display_value
from engine.records.signatures import SignatureView
from engine.report_templates.registry import register_report_type, rows, text
from engine.reports.docx_layout import (
    Approver,
    approval_block,
    approver_row,
    docx_bytes,
    heading,
    new_document,
    paragraph,
    table,
)
from engine.reports.periods import record_period
from engine.reports.records import signature_approvers
from engine.workflow.loader import Workflow
from engine.workflow.models import Record
from workflows.hooks.management_review import pack_sections
from workflows.hooks.review_inputs import REVIEWS

TITLE = "管理评审报告 Management review report"


def _field(workflow: Workflow, form: str, name: str) -> FieldSpec:
    found = workflow.forms[form].field(name)
    assert found is not None, name
    return found


def _value(workflow: Workflow, form: str, name: str, data: dict[str, Any], names: Names) -> str:
    return display_value(_field(workflow, form, name), data.get(name), names) or "—"


OUTPUTS = ("conclusion", "decisions", "resource_needs", "policy_change", "objectives_change", "changes_note")


def _compiled(data: dict[str, Any]) -> str:
    return (
        f"{data.get('inputs_compiled_at', '—')}（北京时间）；变化统计自 {data.get('review_since', '—')} 至 "
        f"{data.get('review_until', '—')}；绩效数据年度 {data.get('figures_year', '—')}"
    )


def _status(data: dict[str, Any]) -> str:
    frozen = data.get("pack_frozen_on")
    return (
        f"已于 {frozen} 批准时冻结 Frozen at approval" if frozen else "尚未冻结：批准前可刷新 Not frozen yet"
    )


def _inputs(document: Any, record: Record, workflow: Workflow) -> None:
    data = record.data
    heading(document, "一、评审输入 Review inputs", level=2)
    paragraph(document, _compiled(data), bold_label="汇编 Compiled：")
    paragraph(document, _status(data), bold_label="状态 Status：")
    paragraph(document, str(data.get("pack_sha256") or "—"), bold_label="输入包 SHA-256 Pack hash：")
    for number, section in enumerate(pack_sections(data, workflow.forms["mr_inputs"]), start=1):
        heading(document, f"{number}. {section.title.zh} {section.title.en}", level=3)
        paragraph(document, section.summary.zh)
        paragraph(document, section.summary.en)
        if section.lines:
            table(
                document,
                ["项目 Item", "数值 Value", "单位 Unit"],
                [[line["item"], line["value"], line["unit"]] for line in section.lines],
                widths_mm=(90, 46, 20),
            )


def _attendees(record: Record, workflow: Workflow, names: Names) -> list[dict[str, str]]:
    kind = _field(workflow, "mr_meeting", "attendees").columns[0].type
    return [
        {"name": names.of(kind, row.get("attendee")), "capacity": str(row.get("capacity") or "")}
        for row in record.data.get("attendees") or []
        if isinstance(row, dict)
    ]


def _meeting(document: Any, record: Record, workflow: Workflow, names: Names) -> None:
    data = record.data
    heading(document, "二、评审会议 Meeting", level=2)
    for name in ("meeting_date", "location"):
        label = _field(workflow, "mr_meeting", name).label
        paragraph(
            document, _value(workflow, "mr_meeting", name, data, names), bold_label=f"{label.zh} {label.en}："
        )
    table(
        document,
        ["#", "出席人员 Attendee", "身份/部门 Function"],
        [
            [str(n), row["name"], row["capacity"]]
            for n, row in enumerate(_attendees(record, workflow, names), 1)
        ],
        widths_mm=(10, 60, 86),
    )
    paragraph(document, str(data.get("minutes") or "—"), bold_label="会议纪要 Minutes：")


def _actions(
    record: Record, workflow: Workflow, names: Names, actions: Sequence[Record]
) -> list[dict[str, str]]:
    columns = _field(workflow, "mr_outputs", "actions").columns
    opened = {action.title: action for action in actions}
    return [
        {
            **{column.name: display_value(column, row.get(column.name), names) for column in columns},
            "record": opened[row["action"]].number
            if row.get("action") in opened
            else "批准后建立 once approved",
        }
        for row in record.data.get("actions") or []
        if isinstance(row, dict)
    ]


def _outputs(
    document: Any, record: Record, workflow: Workflow, names: Names, actions: Sequence[Record]
) -> None:
    heading(document, "三、评审输出 Outputs", level=2)
    for name in OUTPUTS:
        label = _field(workflow, "mr_outputs", name).label
        paragraph(
            document,
            _value(workflow, "mr_outputs", name, record.data, names),
            bold_label=f"{label.zh} {label.en}：",
        )
    table(
        document,
        ["#", "措施 Action", "责任人 Owner", "期限 Due", "改进记录 Improvement record"],
        [[str(n), *row.values()] for n, row in enumerate(_actions(record, workflow, names, actions), 1)],
        widths_mm=(10, 66, 26, 24, 30),
    )


def _approvers(workflow: Workflow, signatures: Iterable[SignatureView]) -> list[Approver]:
    return signature_approvers(workflow, signatures) or [Approver(role="最高管理者批准 Top management")]


def management_review_docx(
    *,
    record: Record,
    workflow: Workflow,
    signatures: Iterable[SignatureView],
    actions: Sequence[Record],
    names: Names,
    organization_name: str,
    exported_by: str,
) -> bytes:
    document = new_document(
        organization=organization_name,
        title=f"{record.number} {TITLE}",
        author=exported_by,
        period=record_period(record.workflow_key, record.data),
    )
    heading(document, f"{record.number}　{record.title}", level=1)
    paragraph(document, TITLE)
    paragraph(document, organization_name, bold_label="组织 Organization：")
    paragraph(document, _state(record, workflow), bold_label="状态 State：")
    paragraph(
        document, f"{china_time(datetime.now(UTC))}（北京时间）{exported_by}", bold_label="导出 Exported："
    )
    _inputs(document, record, workflow)
    _meeting(document, record, workflow, names)
    _outputs(document, record, workflow, names, actions)
    approval_block(document, _approvers(workflow, signatures), title="四、批准 Approval by top management")
    paragraph(document, str(record.data.get("pack_sha256") or "—"), bold_label="输入包 SHA-256 Input pack：")
    return docx_bytes(document)


def _state(record: Record, workflow: Workflow) -> str:
    state = workflow.spec.states.get(record.state)
    return f"{state.label.zh} / {state.label.en}" if state else "—"


def management_review_context(
    *,
    record: Record,
    workflow: Workflow,
    signatures: Iterable[SignatureView],
    actions: Sequence[Record],
    names: Names,
    organization_name: str,
    exported_by: str,
) -> dict[str, Any]:
    """What a template of the review report may show (the placeholders registered below)."""
    data = record.data
    period = record_period(record.workflow_key, data)
    signed = list(signatures)
    return {
        "organization": organization_name,
        "title": f"{record.number} {TITLE}",
        "period": period.zh if period else "",
        "period_en": period.en if period else "",
        "exported_by": exported_by,
        "exported_at": china_time(datetime.now(UTC)),
        "approvals": [approver_row(a) for a in _approvers(workflow, signed)],
        "number": record.number,
        "record_title": record.title,
        "state": _state(record, workflow),
        "compiled": _compiled(data),
        "pack_status": _status(data),
        "pack_sha256": str(data.get("pack_sha256") or "—"),
        "sections": [
            {
                "number": str(number),
                "title": section.title.zh,
                "title_en": section.title.en,
                "summary": section.summary.zh,
                "summary_en": section.summary.en,
                "lines": section.lines,
            }
            for number, section in enumerate(pack_sections(data, workflow.forms["mr_inputs"]), start=1)
        ],
        "meeting_date": _value(workflow, "mr_meeting", "meeting_date", data, names),
        "location": _value(workflow, "mr_meeting", "location", data, names),
        "attendees": _attendees(record, workflow, names),
        "minutes": str(data.get("minutes") or "—"),
        **{name: _value(workflow, "mr_outputs", name, data, names) for name in OUTPUTS},
        "actions": _actions(record, workflow, names, actions),
    }


register_report_type(
    REVIEWS,
    title=Text(zh="管理评审报告（9.4）", en="Management review report (9.4)"),
    where=Text(zh="管理评审页“导出 Word”", en="a management review's pack page, “export to Word”"),
    order=30,
    placeholders=[
        text("number", "记录编号", "Record number", "MR-2026-0001"),
        text("record_title", "评审标题", "Review title"),
        text("state", "状态", "State"),
        text("compiled", "输入汇编时间与统计期间", "When the inputs were compiled, and their period"),
        text("pack_status", "输入包状态（是否已冻结）", "Whether the input pack is frozen"),
        text("pack_sha256", "输入包 SHA-256", "Input pack SHA-256"),
        rows(
            "sections",
            "评审输入（十一个部分）",
            "Review inputs (the eleven sections)",
            text("number", "序号", "Number"),
            text("title", "标题（中文）", "Title (Chinese)"),
            text("title_en", "标题（英文）", "Title (English)"),
            text("summary", "小结（中文）", "Summary (Chinese)"),
            text("summary_en", "小结（英文）", "Summary (English)"),
            rows(
                "lines",
                "数据行",
                "Figures",
                text("item", "项目", "Item"),
                text("value", "数值", "Value"),
                text("unit", "单位", "Unit"),
            ),
        ),
        text("meeting_date", "会议日期", "Meeting date"),
        text("location", "地点", "Location"),
        rows(
            "attendees",
            "出席人员",
            "Attendees",
            text("name", "姓名", "Name"),
            text("capacity", "身份/部门", "Function"),
        ),
        text("minutes", "会议纪要", "Minutes"),
        text("conclusion", "体系适宜性、充分性和有效性结论", "Suitability, adequacy and effectiveness"),
        text("decisions", "决定", "Decisions"),
        text("resource_needs", "资源需求", "Resource needs"),
        text("policy_change", "碳方针", "Carbon policy"),
        text("objectives_change", "碳目标", "Carbon objectives"),
        text("changes_note", "方针/目标变更说明", "Changes to the policy or objectives"),
        rows(
            "actions",
            "措施",
            "Actions",
            text("action", "措施", "Action"),
            text("owner", "责任人", "Owner"),
            text("due", "完成期限", "Due"),
            text("record", "改进记录编号", "Improvement record"),
        ),
    ],
)
