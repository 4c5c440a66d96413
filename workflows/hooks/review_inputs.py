"""9.4 management review: the inputs the standard lists, compiled from live data into sections of figures
with a short summary each — labels, names and China dates, never a key or an id. The management-review
process stores them on its record (workflows/hooks/management_review.py); once approved they are frozen there.

A section reads the records of other processes defensively: a process that does not exist yet (internal
audit, compliance evaluation) or a record whose data lacks a field gives a section that says so."""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from engine.carbon_data.errors import EmissionsDataError
from engine.dqcp.filing import CellState, filing_board
from engine.dqcp.plan import plan_in_force
from engine.emissions.errors import CalcError
from engine.forms.spec import FieldType, Text
from engine.planning.baselines import baselines_overview, targets_overview
from engine.planning.performance import evaluate_parameters
from engine.records.display import as_china_time
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import process_context
from engine.workflow.loader import Workflow
from engine.workflow.models import Record
from engine.workflow.writes import as_date

REVIEWS = "management_review"
REVIEW_APPROVED = "mr_closed"
IMPROVEMENTS = "improvement_item"
CONTEXT = ("context_issue", "party_requirement", "compliance_obligation")
OBJECTIVES, ACTION_PLANS = "carbon_objective", "action_plan"
AUDITS = ("internal_audit_programme", "internal_audit")
NONCONFORMITIES = "nonconformity"
EVALUATIONS = "compliance_evaluation"
RISKS, RESOURCES, COMMUNICATIONS = "risk_opportunity", "resource", "communication"
LISTED = 8  # names listed per section (the figures count them all)
AGE_BUCKETS = ((30, "≤30 天 / ≤30 days"), (90, "31–90 天 / 31–90 days"), (180, "91–180 天 / 91–180 days"))


@dataclass
class Section:
    key: str
    summary: Text = Text(zh="", en="")
    lines: list[tuple[str, str, str]] = field(default_factory=list)  # (item "中文 / English", value, unit)

    def add(self, item: str, value: Any, unit: str = "") -> None:
        self.lines.append((item[:300], str(value)[:500], unit[:40]))


# The sections in the order of clause 9.4's list (their titles: the choices of forms/mr_inputs.yaml).
SECTIONS = (
    "previous_actions", "context_changes", "performance", "objectives", "internal_audit", "nonconformities",
    "compliance", "risks", "resources", "communications", "data_quality",
)  # fmt: skip


@dataclass(frozen=True)
class Period:
    year: int  # the year whose performance figures are reviewed
    since: date  # changes since: the last approved review, else twelve months back
    until: date  # figures up to (the day of compiling)

    @property
    def months(self) -> list[str]:
        """The twelve months up to ``until`` ("2025-01" …), oldest first."""
        months, year, month = [], self.until.year, self.until.month
        for _ in range(12):
            months.append(f"{year}-{month:02d}")
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        return months[::-1]


@dataclass(frozen=True)
class Row:
    """The columns of a record the sections read (one query per workflow, whatever its size)."""

    id: int
    number: str
    title: str
    state: str
    data: dict[str, Any]
    created: date
    updated: date
    closed: date | None
    due: date | None


def _day(value: datetime | str | None) -> date | None:
    moment = as_china_time(value)
    return moment.date() if moment else None


class Reader:
    def __init__(self, session: Session, *, org_id: int, catalog: WorkflowCatalog) -> None:
        self.session, self.org_id, self.catalog = session, org_id, catalog
        self._rows: dict[str, list[Row]] = {}

    def rows(self, key: str) -> list[Row]:
        if key not in self._rows:
            found = self.session.execute(
                sa.select(
                    col(Record.id), col(Record.number), col(Record.title), col(Record.state),
                    col(Record.data), col(Record.created_at), col(Record.updated_at),
                    col(Record.closed_at), col(Record.due_date),
                ).where(col(Record.org_id) == self.org_id, col(Record.workflow_key) == key)
                .order_by(col(Record.id))
            ).all()  # fmt: skip
            self._rows[key] = [
                Row(
                    id=r[0], number=r[1], title=r[2], state=r[3], data=r[4] if isinstance(r[4], dict) else {},
                    created=_day(r[5]) or date.min, updated=_day(r[6]) or date.min, closed=_day(r[7]),
                    due=as_date(r[8]),
                )
                for r in found
            ]  # fmt: skip
        return self._rows[key]

    def workflow(self, key: str) -> Workflow | None:
        return self.catalog.get(key)

    def state_label(self, key: str, state: str) -> str:
        workflow = self.workflow(key)
        spec = workflow.spec.states.get(state) if workflow else None
        return f"{spec.label.zh} / {spec.label.en}" if spec else state

    def title(self, key: str) -> Text:
        workflow = self.workflow(key)
        return workflow.spec.title if workflow else Text(zh=key, en=key)

    def choice_label(self, key: str, name: str, value: Any, column: str | None = None) -> str:
        """The label of a choice of one of the workflow's forms (a table's column with ``column``)."""
        workflow = self.workflow(key)
        for form in workflow.forms.values() if workflow else ():
            spec = form.field(name)
            if spec is not None and column is not None and spec.type == FieldType.table:
                spec = next((c for c in spec.columns if c.name == column), None)
            if spec is not None and spec.choices:
                choice = next((c for c in spec.choices if c.value == value), None)
                if choice is not None:
                    return f"{choice.zh} / {choice.en}"
        return str(value)


def _count_by_state(reader: Reader, key: str, rows: Sequence[Row]) -> list[tuple[str, int]]:
    counts = Counter(row.state for row in rows)
    workflow = reader.workflow(key)
    order = list(workflow.spec.states) if workflow else sorted(counts)
    return [(reader.state_label(key, state), counts[state]) for state in order if counts[state]]


def _states_text(pairs: Sequence[tuple[str, int]], locale: str) -> str:
    part = 0 if locale == "zh" else 1
    joiner = "，" if locale == "zh" else ", "
    return joiner.join(f"{[*label.split(' / '), label][part]} {count}" for label, count in pairs) or (
        "无" if locale == "zh" else "none"
    )


def _missing(section: Section, process: Text) -> Section:
    section.summary = Text(
        zh=f"本系统尚未启用{process.zh}过程，本项暂无数据。",
        en=f"The {process.en} process is not in use yet: nothing to report.",
    )
    return section


# ---- the sections ------------------------------------------------------------------------------------------


def previous_actions(reader: Reader, period: Period, *, review_id: int | None) -> Section:
    section = Section("previous_actions")
    approved = [r for r in reader.rows(REVIEWS) if r.state == REVIEW_APPROVED and r.id != review_id]
    if not approved:
        section.summary = Text(
            zh="这是本组织的首次管理评审，没有以往评审提出的措施。",
            en="This is the organization's first management review: no earlier actions.",
        )
        return section
    last = max(approved, key=lambda row: row.id)
    actions = [r for r in reader.rows(IMPROVEMENTS) if r.data.get("source_record") == last.id]
    open_ones = [r for r in actions if r.closed is None]
    late = [r for r in open_ones if r.due is not None and r.due < period.until]
    section.add("上次管理评审 / Previous review", f"{last.number} {last.title}")
    section.add("提出的措施 / Actions raised", len(actions), "项")
    for label, count in _count_by_state(reader, IMPROVEMENTS, actions):
        section.add(f"措施状态：{label}", count, "项")
    section.add("逾期未完成 / Overdue", len(late), "项")
    for row in actions[:LISTED]:
        due = f"（期限 {row.due.isoformat()}）" if row.due else ""
        section.add(f"{row.number} {row.title}{due}", reader.state_label(IMPROVEMENTS, row.state))
    done = len(actions) - len(open_ones)
    section.summary = Text(
        zh=f"上次管理评审 {last.number} 提出 {len(actions)} 项措施：已关闭 {done} 项，"
        f"未完成 {len(open_ones)} 项（其中逾期 {len(late)} 项）。",
        en=f"The previous review {last.number} raised {len(actions)} actions: {done} closed, "
        f"{len(open_ones)} open ({len(late)} overdue).",
    )
    return section


def context_changes(reader: Reader, period: Period) -> Section:
    section = Section("context_changes")
    parts_zh, parts_en = [], []
    for key in CONTEXT:
        title = reader.title(key)
        rows = reader.rows(key)
        new = [r for r in rows if r.created >= period.since]
        changed = [r for r in rows if r.created < period.since <= r.updated]
        section.add(f"新增{title.zh} / New: {title.en}", len(new), "项")
        section.add(f"变更{title.zh} / Changed: {title.en}", len(changed), "项")
        for row in (new + changed)[:LISTED]:
            section.add(f"{title.zh}：{row.number}", row.title)
        parts_zh.append(f"{title.zh}新增 {len(new)} 项、变更 {len(changed)} 项")
        parts_en.append(f"{title.en}: {len(new)} new, {len(changed)} changed")
    section.summary = Text(
        zh=f"自 {period.since.isoformat()} 以来，" + "；".join(parts_zh) + "。",
        en=f"Since {period.since.isoformat()}: " + "; ".join(parts_en) + ".",
    )
    return section


def _plain(value: Decimal | None, places: str = "0.0001") -> str:
    if value is None:
        return "—"
    rounded = value.quantize(Decimal(places))
    return f"{(rounded.copy_abs() if rounded.is_zero() else rounded).normalize():f}"  # never "-0"


STATUS = {"ok": "正常 / OK", "warn": "预警 / Warning", "alarm": "报警 / Alarm", "error": "无法计算 / n/a"}


def performance(reader: Reader, period: Period) -> Section:
    section = Section("performance")
    session, org_id, year = reader.session, reader.org_id, period.year
    previous = {v.parameter.code: v for v in evaluate_parameters(session, org_id=org_id, year=year - 1)}
    statuses: Counter[str] = Counter()
    for value in evaluate_parameters(session, org_id=org_id, year=year):
        parameter = value.parameter
        before = previous.get(parameter.code)
        section.add(f"{parameter.name}（{year}）", _plain(value.value), parameter.unit)
        section.add(
            f"{parameter.name}（{year - 1}）", _plain(before.value if before else None), parameter.unit
        )
        if value.value is not None and before is not None and before.value:
            change = (value.value - before.value) / before.value * 100
            section.add(f"{parameter.name} 同比变化 / change on the year", _plain(change, "0.1"), "%")
        section.add(f"{parameter.name} 状态 / status", STATUS.get(value.status, value.status))
        statuses[value.status] += 1
    for baseline in baselines_overview(session, org_id=org_id):
        result = baseline.evaluation.baseline.value if baseline.evaluation else None
        section.add(f"基准 / Baseline：{baseline.baseline.name}", _plain(result, "0.01"), "tCO2e")
    on_track = 0
    targets = targets_overview(session, org_id=org_id, current_year=year)
    for status in targets:
        target = status.target
        name = f"{target.base_year}→{target.target_year} 减排 {_plain(target.reduction_pct, '0.1')}%"
        progress = status.progress
        if progress is None:
            section.add(f"目标 / Target {name}", "无法评价 / cannot be evaluated")
            continue
        on_track += progress.on_track
        section.add(f"目标 / Target {name}：完成进度 progress", _plain(progress.progress_pct, "0.1"), "%")
        section.add(
            f"目标 / Target {name}：路径偏差 gap to path", _plain(progress.gap, "0.01"),
            "tCO2e" if target.kind == "total" else "tCO2e/t",
        )  # fmt: skip
    count = sum(statuses.values())
    section.summary = Text(
        zh=f"{year} 年 {count} 项碳绩效参数：正常 {statuses['ok']}、预警 {statuses['warn']}、"
        f"报警 {statuses['alarm']}、无法计算 {statuses['error']}；{len(targets)} 项减排目标中 {on_track} 项"
        "按路径推进。",
        en=f"{count} carbon performance parameters in {year}: {statuses['ok']} OK, {statuses['warn']} "
        f"warning, {statuses['alarm']} alarm, {statuses['error']} not computable; {on_track} of "
        f"{len(targets)} reduction targets on their path.",
    )
    return section


def objectives(reader: Reader, period: Period) -> Section:
    section = Section("objectives")
    goals, plans = reader.rows(OBJECTIVES), reader.rows(ACTION_PLANS)
    for label, count in _count_by_state(reader, OBJECTIVES, goals):
        section.add(f"碳目标 / Objectives：{label}", count, "项")
    for label, count in _count_by_state(reader, ACTION_PLANS, plans):
        section.add(f"行动计划 / Action plans：{label}", count, "项")
    late = [r for r in plans if r.closed is None and r.due is not None and r.due < period.until]
    section.add("逾期行动计划 / Overdue action plans", len(late), "项")
    for row in goals[:LISTED]:
        target = row.data.get("target_value")
        unit = str(row.data.get("unit") or "")
        section.add(f"{row.number} {row.title}", reader.state_label(OBJECTIVES, row.state), "")
        if target is not None:
            section.add(f"{row.number} 目标值 / target", target, unit)
    section.summary = Text(
        zh=f"碳目标 {len(goals)} 项（{_states_text(_count_by_state(reader, OBJECTIVES, goals), 'zh')}）；"
        f"行动计划 {len(plans)} 项，逾期 {len(late)} 项。",
        en=f"{len(goals)} objectives ({_states_text(_count_by_state(reader, OBJECTIVES, goals), 'en')}); "
        f"{len(plans)} action plans, {len(late)} overdue.",
    )
    return section


def internal_audit(reader: Reader, period: Period) -> Section:
    section = Section("internal_audit")
    present = [key for key in AUDITS if reader.workflow(key) is not None]
    if not present:
        return _missing(section, Text(zh="内部审核", en="internal audit"))
    answers: Counter[str] = Counter()
    audits = 0
    for key in present:
        rows = [r for r in reader.rows(key) if r.updated >= period.since]
        audits += len(rows) if key == AUDITS[-1] else 0
        for label, count in _count_by_state(reader, key, rows):
            section.add(f"{reader.title(key).zh} / {reader.title(key).en}：{label}", count, "项")
        for row in rows:
            checklist = row.data.get("checklist")
            for item in checklist if isinstance(checklist, list) else ():
                if isinstance(item, dict) and item.get("answer") is not None:
                    answers[reader.choice_label(key, "checklist", item["answer"], "answer")] += 1
    for label, count in answers.most_common():
        section.add(f"检查项结论 / Checklist answers：{label}", count, "项")
    section.summary = Text(
        zh=f"评审期内内部审核 {audits} 次，检查项 {sum(answers.values())} 条："
        + (_states_text(answers.most_common(), "zh") if answers else "尚无检查结论")
        + "。",
        en=f"{audits} internal audits in the period, {sum(answers.values())} checklist items: "
        + (_states_text(answers.most_common(), "en") if answers else "no answers yet")
        + ".",
    )
    return section


def nonconformities(reader: Reader, period: Period) -> Section:
    section = Section("nonconformities")
    rows = reader.rows(NONCONFORMITIES)
    months = period.months
    opened = Counter((as_date(r.data.get("found_on")) or r.created).isoformat()[:7] for r in rows)
    closed = Counter(r.closed.isoformat()[:7] for r in rows if r.closed is not None)
    for month in months:
        section.add(f"{month} 新开 / 关闭 opened / closed", f"{opened[month]} / {closed[month]}", "项")
    open_rows = [r for r in rows if r.closed is None]
    ages: Counter[str] = Counter()
    for row in open_rows:
        age = (period.until - (as_date(row.data.get("found_on")) or row.created)).days
        bucket = next((label for limit, label in AGE_BUCKETS if age <= limit), "＞180 天 / over 180 days")
        ages[bucket] += 1
    for label in [label for _, label in AGE_BUCKETS] + ["＞180 天 / over 180 days"]:
        section.add(
            f"未关闭，已开 {label.split(' / ')[0]} / open for {label.split(' / ')[1]}", ages[label], "项"
        )
    for label, count in _count_by_state(reader, NONCONFORMITIES, open_rows):
        section.add(f"未关闭：{label}", count, "项")
    in_period = sum(opened[month] for month in months)
    closed_in_period = sum(closed[month] for month in months)
    old = ages["＞180 天 / over 180 days"] + ages[AGE_BUCKETS[-1][1]]
    section.summary = Text(
        zh=f"近 12 个月新开不符合 {in_period} 项、关闭 {closed_in_period} 项；"
        f"目前未关闭 {len(open_rows)} 项，其中超过 90 天的 {old} 项。",
        en=f"In the last twelve months {in_period} nonconformities were opened and {closed_in_period} "
        f"closed; {len(open_rows)} are open, {old} of them for over 90 days.",
    )
    return section


def compliance(reader: Reader, period: Period) -> Section:
    section = Section("compliance")
    if reader.workflow(EVALUATIONS) is None:
        return _missing(section, Text(zh="合规性评价", en="compliance evaluation"))
    rows = [r for r in reader.rows(EVALUATIONS) if r.updated >= period.since]
    results: Counter[str] = Counter()
    for row in rows:
        table = row.data.get("results")
        for item in table if isinstance(table, list) else ():
            if isinstance(item, dict) and item.get("result") is not None:
                results[str(item["result"])] += 1
    for label, count in _count_by_state(reader, EVALUATIONS, rows):
        section.add(f"合规性评价 / Evaluations：{label}", count, "次")
    for value in ("compliant", "non_compliant", "not_applicable"):
        section.add(reader.choice_label(EVALUATIONS, "results", value, "result"), results[value], "项")
    section.summary = Text(
        zh=f"评审期内合规性评价 {len(rows)} 次，评价义务 {sum(results.values())} 项：合规 "
        f"{results['compliant']}、不合规 {results['non_compliant']}、不适用 {results['not_applicable']}。",
        en=f"{len(rows)} compliance evaluations in the period, {sum(results.values())} obligations "
        f"evaluated: {results['compliant']} compliant, {results['non_compliant']} non-compliant, "
        f"{results['not_applicable']} not applicable.",
    )
    return section


HIGH_LEVELS = ("high", "very_high")


def risks(reader: Reader, period: Period) -> Section:
    section = Section("risks")
    rows = [r for r in reader.rows(RISKS) if r.closed is None]
    levels = Counter(str(r.data.get("level") or "") for r in rows)
    for value in ("very_high", "high", "medium", "low"):
        section.add(f"等级 / Level：{reader.choice_label(RISKS, 'level', value)}", levels[value], "项")
    high = [r for r in rows if r.data.get("level") in HIGH_LEVELS]
    for row in high[:LISTED]:
        nature = reader.choice_label(RISKS, "nature", row.data.get("nature"))
        section.add(
            f"{row.number} {row.title}", f"{reader.choice_label(RISKS, 'level', row.data['level'])}；{nature}"
        )
    section.summary = Text(
        zh=f"在册风险和机遇 {len(rows)} 项，其中高及极高等级 {len(high)} 项。",
        en=f"{len(rows)} risks and opportunities on the register, {len(high)} rated high or very high.",
    )
    return section


def resources(reader: Reader, period: Period) -> Section:
    section = Section("resources")
    rows = [r for r in reader.rows(RESOURCES) if r.closed is None]
    for label, count in _count_by_state(reader, RESOURCES, rows):
        section.add(f"资源 / Resources：{label}", count, "项")
    kinds = Counter(str(r.data.get("resource_kind") or "") for r in rows)
    for value, count in kinds.most_common():
        section.add(f"类别 / Kind：{reader.choice_label(RESOURCES, 'resource_kind', value)}", count, "项")
    late = [
        r for r in rows
        if not r.data.get("provided_on") and (as_date(r.data.get("needed_by")) or date.max) < period.until
    ]  # fmt: skip
    section.add("到期未到位 / Needed but not provided", len(late), "项")
    for row in late[:LISTED]:
        section.add(f"{row.number} {row.title}", f"需要日期 {row.data.get('needed_by')}")
    section.summary = Text(
        zh=f"资源登记 {len(rows)} 项，已过需要日期仍未到位 {len(late)} 项。",
        en=f"{len(rows)} resources registered, {len(late)} past the date needed and not provided.",
    )
    return section


def communications(reader: Reader, period: Period) -> Section:
    section = Section("communications")
    rows = [r for r in reader.rows(COMMUNICATIONS) if r.created >= period.since]
    received = [r for r in rows if r.data.get("entry_kind") == "received"]
    external = [r for r in rows if r.data.get("direction") == "external"]
    unanswered = [r for r in received if r.closed is None]
    section.add("交流记录 / Entries", len(rows), "项")
    section.add("外部交流 / External", len(external), "项")
    section.add("收到的来文和询问 / Received", len(received), "项")
    section.add("尚未办结的来文 / Received, still open", len(unanswered), "项")
    for row in received[:LISTED]:
        party = str(row.data.get("party") or "")
        section.add(f"{row.number} {party}", row.title)
    section.summary = Text(
        zh=f"自 {period.since.isoformat()} 以来交流记录 {len(rows)} 项（外部 {len(external)} 项），"
        f"收到相关方来文或询问 {len(received)} 项，尚未办结 {len(unanswered)} 项。",
        en=f"Since {period.since.isoformat()}: {len(rows)} communication entries ({len(external)} external), "
        f"{len(received)} received from interested parties, {len(unanswered)} still open.",
    )
    return section


CELL_LABELS = {
    CellState.filed: "已报送 / Filed",
    CellState.substituted: "按规则替代 / Substituted",
    CellState.open: "待报送 / Open",
    CellState.overdue: "逾期 / Overdue",
}


def data_quality(reader: Reader, period: Period) -> Section:
    section = Section("data_quality")
    plan = plan_in_force(reader.session)
    if plan is None:
        section.summary = Text(
            zh="尚无生效的数据质量控制计划。", en="No data-quality control plan is in force."
        )
        return section
    board = filing_board(
        reader.session, org_id=reader.org_id, plan=plan, year=period.year, today=period.until
    )
    cells: Counter[CellState] = Counter(
        cell.state for line in board for cell in line if cell.state != CellState.future
    )
    due = sum(cells.values())
    complete = cells[CellState.filed] + cells[CellState.substituted]
    share = Decimal(complete * 100) / due if due else None
    section.add("数据质量控制计划 / Plan in force", f"{plan.number} {plan.title}")
    for state, label in CELL_LABELS.items():
        section.add(f"{period.year} 年报送格 / Month cells：{label}", cells[state], "格")
    section.add("完整率 / Completeness", _plain(share, "0.1"), "%")
    section.summary = Text(
        zh=f"{period.year} 年已结束月份的 {due} 个报送格中，已报送或按规则替代 {complete} 个"
        f"（完整率 {_plain(share, '0.1')}%），逾期 {cells[CellState.overdue]} 个。",
        en=f"Of the {due} month cells of {period.year} that have ended, {complete} are filed or substituted "
        f"(completeness {_plain(share, '0.1')}%), {cells[CellState.overdue]} overdue.",
    )
    return section


def _safely(compile_section: Callable[[], Section], key: str) -> Section:
    """A section whose figures cannot be computed says why instead of stopping the review."""
    try:
        return compile_section()
    except (EmissionsDataError, CalcError) as error:
        return Section(
            key,
            Text(
                zh=f"数据不全，无法计算：{error}",
                en=f"The data is incomplete and cannot be computed: {error}",
            ),
        )


def compile_inputs(session: Session, *, org_id: int, period: Period, review_id: int | None) -> list[Section]:
    reader = Reader(session, org_id=org_id, catalog=process_context(session).catalog)
    builders: dict[str, Callable[[], Section]] = {
        "previous_actions": lambda: previous_actions(reader, period, review_id=review_id),
        "context_changes": lambda: context_changes(reader, period),
        "performance": lambda: performance(reader, period),
        "objectives": lambda: objectives(reader, period),
        "internal_audit": lambda: internal_audit(reader, period),
        "nonconformities": lambda: nonconformities(reader, period),
        "compliance": lambda: compliance(reader, period),
        "risks": lambda: risks(reader, period),
        "resources": lambda: resources(reader, period),
        "communications": lambda: communications(reader, period),
        "data_quality": lambda: data_quality(reader, period),
    }
    return [_safely(build, key) for key, build in builders.items()]


def review_period(
    session: Session, *, org_id: int, year: int | None, review_id: int | None, today: date
) -> Period:
    """The year of the figures (the review's, else this one) and the changes since the last approved
    review (else twelve months back)."""
    catalog = process_context(session).catalog
    approved = [
        r.closed for r in Reader(session, org_id=org_id, catalog=catalog).rows(REVIEWS)
        if r.state == REVIEW_APPROVED and r.id != review_id and r.closed is not None
    ]  # fmt: skip
    since = max(approved) if approved else today - timedelta(days=365)
    return Period(year=year or today.year, since=min(since, today), until=today)
