"""A review of emission sources as a docx (6.2.3): scope, the sources ranked by share with the significance
rule, the metering of the significant sources (GB 17167), the proposed performance parameters, the
opportunities, the conclusions, the records it opened, then the approvals with their e-signatures and the
timeline as the record export prints them. Field names are the review form's; labels come from its spec."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.forms.spec import FieldSpec, Text
from engine.records.display import Names, china_time, display_value
from engine.records.signatures import SignatureView
from engine.records.timeline import TimelineEntry
from engine.reports.docx_layout import docx_bytes, heading, new_document, paragraph, table
from engine.reports.periods import record_period
from engine.reports.records import approvals_section
from engine.workflow.loader import Workflow
from engine.workflow.models import Record

# The review's tables and the columns the report prints, in order.
TABLES = {
    "sources": ("rank", "source_code", "source_name", "category", "tco2e", "share_pct", "cumulative_pct",
                "previous_tco2e", "change_pct", "significant", "basis"),
    "metering": ("source_code", "instruments", "equipping_rate", "accuracy", "accuracy_check",
                 "calibration_status", "adequacy", "findings"),
    "cpp_proposals": ("source_code", "covered_by", "proposed_code", "proposed_category", "proposed_unit"),
    "opportunities": ("description", "source_code", "estimated_reduction", "cost", "priority", "owner",
                      "adopt_as_project"),
}  # fmt: skip
SECTIONS = (
    ("sources", "一、排放源及其重要性 Sources and their significance"),
    ("metering", "二、重要排放源的计量充分性（GB 17167）Metering of the significant sources"),
    ("cpp_proposals", "三、碳绩效参数建议 Proposed performance parameters"),
    ("opportunities", "四、减排机会 Opportunities"),
)


@dataclass(frozen=True)
class OpenedRecord:
    """A record the review opened (a reduction project), as the report lists it."""

    number: str
    title: str
    state: str


def _field(workflow: Workflow, name: str) -> FieldSpec | None:
    return next((f for form in workflow.forms.values() for f in form.fields if f.name == name), None)


def _label(workflow: Workflow, name: str) -> str:
    found = _field(workflow, name)
    return f"{found.label.zh} {found.label.en}" if found else name


def _value(workflow: Workflow, name: str, data: dict[str, Any], names: Names) -> str:
    found = _field(workflow, name)
    return display_value(found, data.get(name), names) if found else str(data.get(name) or "")


def source_review_docx(
    *,
    record: Record,
    workflow: Workflow,
    timeline: Sequence[TimelineEntry],
    signatures: Iterable[SignatureView],
    names: Names,
    opened: Sequence[OpenedRecord],
    rule: Text,
    organization_name: str,
    exported_by: str,
) -> bytes:
    data = record.data
    spec = workflow.spec
    state = spec.states.get(record.state)
    document = new_document(
        organization=organization_name,
        title=f"{record.number} {record.title}",
        author=exported_by,
        period=record_period(record.workflow_key, data),
    )
    heading(document, f"{spec.title.zh}报告 {spec.title.en} report　{record.number}", level=1)
    paragraph(document, record.title)
    summary = ("review_kind", "trigger_reason", "review_scope", "review_year", "previous_year",
               "total_tco2e", "previous_total_tco2e", "significant_count")  # fmt: skip
    table(
        document,
        ["项目 Item", "内容 Content"],
        [["组织 Organization", organization_name]]
        + [[_label(workflow, name), _value(workflow, name, data, names)] for name in summary if name in data]
        + [
            ["状态 State", f"{state.label.zh} / {state.label.en}" if state else record.state],
            ["编制日期 Prepared", china_time(record.created_at)[:10]],
        ],
        widths_mm=(50, 106),
    )
    paragraph(document, f"{rule.zh}\n{rule.en}", bold_label="重要性判定规则 Significance rule：")
    for name, title in SECTIONS:
        heading(document, title, level=2)
        field = _field(workflow, name)
        rows = data.get(name) or []
        if field is None or not rows:
            paragraph(document, "无 None")
            continue
        columns = [c for c in field.columns if c.name in TABLES[name]]
        columns.sort(key=lambda c: TABLES[name].index(c.name))
        table(
            document,
            [f"{c.label.zh} {c.label.en}" for c in columns],
            [
                [display_value(c, row.get(c.name), names) for c in columns]
                for row in rows
                if isinstance(row, dict)
            ],
        )
    heading(document, "五、结论 Conclusions", level=2)
    for name in ("metering_conclusion", "conclusions"):
        paragraph(document, _value(workflow, name, data, names), bold_label=f"{_label(workflow, name)}：")
    heading(document, "六、输出 Outputs", level=2)
    if opened:
        table(
            document,
            ["编号 Number", "名称 Title", "状态 State"],
            [[item.number, item.title, item.state] for item in opened],
            widths_mm=(30, 96, 30),
        )
    else:
        paragraph(document, "尚未产生 None yet (opened on approval)")
    approvals_section(document, record, workflow, timeline, list(signatures))
    return docx_bytes(document)
