"""9.4 management review as a Word document: the input pack section by section (the figures stored on the
record — frozen at approval — never the live ones), the meeting, the outputs with the improvement records
their actions became, top management's e-signature and the pack's SHA-256."""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from engine.forms.spec import FieldSpec
from engine.records.display import Names, china_time, display_value
from engine.records.signatures import SignatureView
from engine.reports.docx_layout import (
    Approver,
    approval_block,
    docx_bytes,
    heading,
    new_document,
    paragraph,
    table,
)
from engine.reports.records import signature_approvers
from engine.workflow.loader import Workflow
from engine.workflow.models import Record
from workflows.hooks.management_review import pack_sections

TITLE = "管理评审报告 Management review report"


def _field(workflow: Workflow, form: str, name: str) -> FieldSpec:
    found = workflow.forms[form].field(name)
    assert found is not None, name
    return found


def _value(workflow: Workflow, form: str, name: str, data: dict[str, Any], names: Names) -> str:
    return display_value(_field(workflow, form, name), data.get(name), names) or "—"


def _inputs(document: Any, record: Record, workflow: Workflow) -> None:
    data = record.data
    heading(document, "一、评审输入 Review inputs", level=2)
    frozen = data.get("pack_frozen_on")
    paragraph(
        document,
        f"{data.get('inputs_compiled_at', '—')}（北京时间）；变化统计自 {data.get('review_since', '—')} 至 "
        f"{data.get('review_until', '—')}；绩效数据年度 {data.get('figures_year', '—')}",
        bold_label="汇编 Compiled：",
    )
    paragraph(
        document,
        f"已于 {frozen} 批准时冻结 Frozen at approval" if frozen else "尚未冻结：批准前可刷新 Not frozen yet",
        bold_label="状态 Status：",
    )
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


def _meeting(document: Any, record: Record, workflow: Workflow, names: Names) -> None:
    data = record.data
    heading(document, "二、评审会议 Meeting", level=2)
    for name in ("meeting_date", "location"):
        label = _field(workflow, "mr_meeting", name).label
        paragraph(
            document, _value(workflow, "mr_meeting", name, data, names), bold_label=f"{label.zh} {label.en}："
        )
    attendees = [row for row in data.get("attendees") or [] if isinstance(row, dict)]
    table(
        document,
        ["#", "出席人员 Attendee", "身份/部门 Function"],
        [
            [
                str(number),
                names.of(_field(workflow, "mr_meeting", "attendees").columns[0].type, row.get("attendee")),
                str(row.get("capacity") or ""),
            ]
            for number, row in enumerate(attendees, start=1)
        ],  # fmt: skip
        widths_mm=(10, 60, 86),
    )
    paragraph(document, str(data.get("minutes") or "—"), bold_label="会议纪要 Minutes：")


def _outputs(
    document: Any, record: Record, workflow: Workflow, names: Names, actions: Sequence[Record]
) -> None:
    data = record.data
    heading(document, "三、评审输出 Outputs", level=2)
    for name in (
        "conclusion",
        "decisions",
        "resource_needs",
        "policy_change",
        "objectives_change",
        "changes_note",
    ):
        label = _field(workflow, "mr_outputs", name).label
        paragraph(
            document, _value(workflow, "mr_outputs", name, data, names), bold_label=f"{label.zh} {label.en}："
        )
    rows = [row for row in data.get("actions") or [] if isinstance(row, dict)]
    columns = _field(workflow, "mr_outputs", "actions").columns
    opened = {action.title: action for action in actions}
    table(
        document,
        ["#", "措施 Action", "责任人 Owner", "期限 Due", "改进记录 Improvement record"],
        [
            [
                str(number),
                *(display_value(column, row.get(column.name), names) for column in columns),
                opened[row["action"]].number if row.get("action") in opened else "批准后建立 once approved",
            ]
            for number, row in enumerate(rows, start=1)
        ],  # fmt: skip
        widths_mm=(10, 66, 26, 24, 30),
    )


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
        organization=organization_name, title=f"{record.number} {TITLE}", author=exported_by
    )
    heading(document, f"{record.number}　{record.title}", level=1)
    state = workflow.spec.states.get(record.state)
    paragraph(document, TITLE)
    paragraph(document, organization_name, bold_label="组织 Organization：")
    paragraph(document, f"{state.label.zh} / {state.label.en}" if state else "—", bold_label="状态 State：")
    paragraph(
        document, f"{china_time(datetime.now(UTC))}（北京时间）{exported_by}", bold_label="导出 Exported："
    )
    _inputs(document, record, workflow)
    _meeting(document, record, workflow, names)
    _outputs(document, record, workflow, names, actions)
    approvers = signature_approvers(workflow, signatures)
    approval_block(
        document,
        approvers or [Approver(role="最高管理者批准 Top management")],
        title="四、批准 Approval by top management",
    )
    paragraph(document, str(record.data.get("pack_sha256") or "—"), bold_label="输入包 SHA-256 Input pack：")
    return docx_bytes(document)
