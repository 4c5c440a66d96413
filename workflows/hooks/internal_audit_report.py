"""9.3 the internal audit report as a Word document: scope, criteria, team and dates, the checklist with each
row's result and points, the score per clause and in total, the findings with the records they became, the
independence override if any, and the conclusion."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.forms.spec import FieldType
from engine.records.display import Names, china_time
from engine.reports.docx_layout import docx_bytes, heading, new_document, paragraph, table
from engine.workflow.models import Record
from workflows.hooks.internal_audit_independence import override_covers
from workflows.hooks.internal_audit_rules import checklist_rows, is_finding, rules, scores_by_clause

KIND_LABELS = {"question": "条款检查 Question", "reaudit": "复审 Re-audit"}


def wanted_names(audit: Record) -> dict[FieldType, set[int]]:
    """The people, units and records the report names, to look up at once."""
    data = audit.data
    rows = checklist_rows(data)
    users = {row.get("member") for row in data.get("team") or [] if isinstance(row, dict)}
    users |= {data.get("lead_auditor"), data.get("override_requested_by"), data.get("override_approved_by")}
    users |= {row.get("answered_by") for row in rows}
    units = {row.get("unit") for row in data.get("scope_units") or [] if isinstance(row, dict)}
    units |= {row.get("home_unit") for row in data.get("team") or [] if isinstance(row, dict)}
    records = {row.get("finding") for row in rows} | {row.get("reaudited") for row in rows}
    return {
        FieldType.user: {u for u in users if isinstance(u, int)},
        FieldType.org_unit: {u for u in units if isinstance(u, int)},
        FieldType.record_link: {r for r in records if isinstance(r, int)},
    }


def _answer(key: Any) -> str:
    answer = rules().answers.get(str(key))
    return f"{answer.label.zh} {answer.label.en}" if answer else ""


def _percent(points: Decimal, top: Decimal) -> str:
    return f"{(points * 100 / top).quantize(Decimal('0.1'))} %" if top else "—"


def audit_report_docx(*, audit: Record, names: Names, organization_name: str, exported_by: str) -> bytes:
    data = audit.data
    rows = checklist_rows(data)
    title = f"内部审核报告 Internal audit report {audit.number}"
    document = new_document(organization=organization_name, title=title, author=exported_by)
    heading(document, f"{audit.number}　{audit.title}", level=1)
    user, unit = FieldType.user, FieldType.org_unit
    team = [
        f"{names.of(user, row.get('member'))}（{names.of(unit, row.get('home_unit'))}）"
        for row in data.get("team") or []
        if isinstance(row, dict)
    ]
    units = [
        names.of(FieldType.org_unit, row.get("unit"))
        for row in data.get("scope_units") or []
        if isinstance(row, dict)
    ]
    table(
        document,
        ["项目 Item", "内容 Content"],
        [
            ["组织 Organization", organization_name],
            ["审核范围（条款）Scope (clauses)", str(data.get("scope_clauses") or "")],
            ["受审核部门 Audited units", "、".join(units)],
            ["审核准则 Criteria", str(data.get("criteria") or "")],
            ["审核组长 Lead auditor", names.of(FieldType.user, data.get("lead_auditor"))],
            ["审核组 Team", "、".join(team)],
            ["受审核方 Auditees", str(data.get("auditees") or "")],
            ["现场审核 Fieldwork", f"{data.get('start_date') or ''} 至 {data.get('end_date') or ''}"],
            ["覆盖期间 Records from", str(data.get("records_from") or "")],
            ["报告日期 Report date", str(data.get("report_date") or "")],
            ["导出 Exported", f"{china_time(datetime.now(UTC))}（北京时间）{exported_by}"],
        ],
        widths_mm=(44, 112),
    )
    if override_covers(data):
        paragraph(
            document,
            f"申请人 {names.of(FieldType.user, data.get('override_requested_by'))}，"
            f"批准人 {names.of(FieldType.user, data.get('override_approved_by'))}。"
            f"理由：{data.get('override_reason') or ''}",
            bold_label="独立性豁免 Independence override：",
        )
    heading(document, "检查表 Checklist", level=2)
    table(
        document,
        [
            "# ",
            "条款 Clause",
            "检查内容 Question",
            "结果 Result",
            "得分 Points",
            "证据 Evidence",
            "受审核人 Auditee",
        ],
        [
            [
                str(number),
                str(row.get("clause")),
                f"{KIND_LABELS.get(str(row.get('kind')), '')}：{row.get('question')}",
                _answer(row.get("answer")),
                f"{row.get('points') or '—'} / {row.get('max_points')}",
                str(row.get("evidence") or ""),
                str(row.get("auditee") or ""),
            ]
            for number, row in enumerate(rows, start=1)
        ],
        widths_mm=(8, 14, 52, 22, 16, 30, 18),
    )
    heading(document, "各条款得分 Score per clause", level=2)
    totals = scores_by_clause(rows)
    points = sum((got for got, _ in totals.values()), Decimal(0))
    top = sum((out_of for _, out_of in totals.values()), Decimal(0))
    table(
        document,
        ["条款 Clause", "得分 Points", "满分 Max", "得分率 Score"],
        [[clause, str(got), str(out_of), _percent(got, out_of)] for clause, (got, out_of) in totals.items()]
        + [["合计 Total", str(points), str(top), _percent(points, top)]],
        widths_mm=(40, 38, 38, 40),
    )
    heading(document, "审核发现 Findings", level=2)
    findings = [(number, row) for number, row in enumerate(rows, start=1) if is_finding(row)]
    if findings:
        table(
            document,
            ["# ", "条款 Clause", "类别 Kind", "发现 Finding", "转入记录 Record"],
            [
                [
                    str(number),
                    str(row.get("clause")),
                    _answer(row.get("answer")),
                    str(row.get("note") or ""),
                    names.of(FieldType.record_link, row.get("finding")) if row.get("finding") else "—",
                ]
                for number, row in findings
            ],
            widths_mm=(8, 16, 30, 62, 40),
        )
    else:
        paragraph(document, "本次审核未发现不符合、观察项或改进机会。No findings.")
    heading(document, "审核结论 Conclusion", level=2)
    paragraph(document, str(data.get("conclusion") or "（报告尚未签发 Not issued yet）"))
    return docx_bytes(document)
