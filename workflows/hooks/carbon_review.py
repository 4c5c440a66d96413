"""6.2.3 carbon review: the process compiles the year's sources into the record (entering ``cr_compiling``,
like a disclosure loads its snapshot), ranks them by share and trend, judges the metering of each
significant source against the instrument register (GB 17167) and proposes a performance parameter where
none watches it. An approved review opens a reduction project for every opportunity adopted; the project
names the review in a record-link field, so the link shows on both and the review's signed data is never
touched after the signature (ADR 0030)."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session, select

from engine.carbon_data.aggregation import monthly_totals
from engine.carbon_data.by_unit import emissions_by_source
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.sources import list_sources
from engine.dqcp.plan import plan_in_force
from engine.emissions import CalcError
from engine.emissions.formula import FormulaError, names_in
from engine.events import policy
from engine.forms.spec import Text
from engine.identity.organizations import get_organization, list_org_units
from engine.identity.users import get_user
from engine.planning.models import PerformanceParameter
from engine.records.queries import linked_records
from engine.reports.periods import declare_period
from engine.workflow.access import ActorRef
from engine.workflow.computed import china_today
from engine.workflow.errors import FORM_HAS_ERRORS, FormRefused
from engine.workflow.events import RecordEnteredState
from engine.workflow.lifecycle import create_record, fire_transition, process_context
from engine.workflow.models import Record
from engine.workflow.registry import GuardContext, declare_names, guard, start_condition
from engine.workflow.writes import load_record_row
from workflows.hooks.metering_instrument import (
    IN_SERVICE,
    accuracy_meets,
    calibration_values,
    coverage,
    requirements,
)

WORKFLOW = "carbon_review"
COMPILING, DRAFTING, AWAITING, APPROVED = "cr_compiling", "cr_drafting", "cr_awaiting_approval", "cr_approved"
COMPILE, SUBMIT, APPROVE = "compile_review_sources", "submit_carbon_review", "approve_carbon_review"
declare_names(WORKFLOW, states={COMPILING, DRAFTING, AWAITING, APPROVED}, triggers={COMPILE, SUBMIT, APPROVE})
COMPILER_ROLE = "admin"  # the role the file gives COMPILE; the process fires it in the preparer's name
PREPARER_ROLE = "carbon_manager"  # the reduction projects are proposed in the preparer's name, in this role
PROJECTS = "reduction_project"
declare_names(PROJECTS)
declare_period(WORKFLOW, year="review_year")
INSTRUMENTS = "metering_instrument"
DEFAULT_CUMULATIVE, DEFAULT_SHARE, DEFAULT_TREND = Decimal(80), Decimal(5), Decimal(10)
TONNES, PERCENT = Decimal("0.01"), Decimal("0.1")


def _refused(field: str, zh: str, en: str) -> FormRefused:
    return FormRefused(FORM_HAS_ERRORS, field_errors={field: {"zh": zh, "en": en}})


def _decimal(value: Any, default: Decimal | None = None) -> Decimal | None:
    if value in (None, ""):
        return default
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return default
    return number if number.is_finite() else default


def _plain(number: Decimal | None, places: Decimal = TONNES) -> str | None:
    return None if number is None else f"{number.quantize(places):f}"


# ---- significance: share of the total, cumulative share and trend -----------------------------------


@dataclass(frozen=True)
class Thresholds:
    cumulative_pct: Decimal
    share_pct: Decimal
    trend_pct: Decimal

    @classmethod
    def of(cls, data: dict[str, Any]) -> "Thresholds":
        return cls(
            cumulative_pct=_decimal(data.get("cumulative_threshold_pct")) or DEFAULT_CUMULATIVE,
            share_pct=_decimal(data.get("share_threshold_pct"), DEFAULT_SHARE) or Decimal(0),
            trend_pct=_decimal(data.get("trend_threshold_pct"), DEFAULT_TREND) or Decimal(0),
        )

    def rule(self) -> Text:
        """The rule in words, as the page and the report show it."""
        c, s, t = (f"{v.normalize():f}" for v in (self.cumulative_pct, self.share_pct, self.trend_pct))
        return Text(
            zh=f"按排放量从大到小排序，累计占比达到 {c}% 之前的排放源（含越过 {c}% 的那一个），"
            f"或单源占比 ≥ {s}%，或排放量较上一年度增幅 > {t}%，判定为重要排放源；"
            "占比以各排放源排放量之和（不含抵扣）为基数。",
            en=f"Ranked by emissions, the sources up to a cumulative share of {c}% (the one crossing it "
            f"included), any source with a share ≥ {s}%, and any source whose emissions rose > {t}% on the "
            "year before are significant; shares are of the sum of the sources' emissions "
            "(before deductions).",
        )


@dataclass(frozen=True)
class SourceFigures:
    code: str
    name: str
    unit_name: str
    category: str
    tco2e: Decimal
    previous_tco2e: Decimal | None  # None: no inventory of the year before


def ranked_sources(sources: list[SourceFigures], thresholds: Thresholds) -> list[dict[str, Any]]:
    """The sources as rows of the review's table, largest first, with share, cumulative share, change on
    the year before, and whether (and why) each is significant."""
    ordered = sorted(sources, key=lambda s: (-s.tco2e, s.code))
    base = sum((s.tco2e for s in ordered if s.tco2e > 0), Decimal(0))
    rows, cumulative = [], Decimal(0)
    for rank, source in enumerate(ordered, start=1):
        counted = source.tco2e if source.tco2e > 0 else Decimal(0)
        exact = counted * 100 / base if base else Decimal(0)
        share = exact.quantize(PERCENT)
        before, cumulative = cumulative, cumulative + exact
        change = None
        if source.previous_tco2e is not None and source.previous_tco2e > 0:
            change = ((source.tco2e - source.previous_tco2e) * 100 / source.previous_tco2e).quantize(PERCENT)
        why = []
        if counted > 0 and before < thresholds.cumulative_pct:
            why.append("cumulative")
        if counted > 0 and share >= thresholds.share_pct:
            why.append("share")
        if change is not None and change > thresholds.trend_pct:
            why.append("trend")
        rows.append(
            {
                "rank": rank,
                "source_code": source.code,
                "source_name": source.name,
                "unit_name": source.unit_name,
                "category": source.category,
                "tco2e": _plain(source.tco2e),
                "share_pct": _plain(share, PERCENT),
                "cumulative_pct": _plain(min(cumulative, Decimal(100)), PERCENT),
                "previous_tco2e": _plain(source.previous_tco2e),
                "change_pct": _plain(change, PERCENT),
                "significant": "yes" if why else "no",
                "basis": why or None,
            }
        )
    return rows


def _year_of(data: dict[str, Any], today: date) -> int:
    year = _decimal(data.get("review_year"))
    return int(year) if year is not None else today.year - 1


def _by_source(session: Session, *, org_id: int, year: int) -> dict[int, Decimal] | None:
    try:
        return emissions_by_source(session, org_id=org_id, year=year)
    except (EmissionsDataError, CalcError):
        return None


def source_figures(session: Session, *, org_id: int, year: int) -> tuple[list[SourceFigures], Decimal]:
    """Every active source of the register with its emissions in ``year`` and the year before, and the
    year's inventory total; the refusal names the year when the inventory cannot be built."""
    try:
        total = build_inventory(session, org_id=org_id, year=year).total_tco2e
    except (EmissionsDataError, CalcError):
        raise _refused(
            "review_year",
            f"{year} 年度的排放清单无法计算（缺少活动数据或参数），请先补齐数据或选择其他年度",
            f"The inventory of {year} cannot be calculated (activity data or parameters are missing); "
            "complete the data or choose another year",
        ) from None
    current = _by_source(session, org_id=org_id, year=year) or {}
    previous = _by_source(session, org_id=org_id, year=year - 1)
    units = {unit.id: unit.name for unit in list_org_units(session)}
    figures = [
        SourceFigures(
            code=source.code,
            name=source.name,
            unit_name=units.get(source.org_unit_id, ""),
            category=source.category,
            tco2e=current.get(source.id, Decimal(0)),
            previous_tco2e=None if previous is None else previous.get(source.id, Decimal(0)),
        )
        for source in list_sources(session, org_id=org_id)
        if source.id is not None and (source.active or source.id in current)
    ]
    return figures, total


# ---- metering adequacy of the significant sources (GB 17167) -------------------------------------------


def _instruments_of(session: Session, sources: dict[str, Any]) -> dict[str, list[Record]]:
    """The instruments that meter each source's activity: the rows of the data-quality control plan in
    force, and any instrument whose code the source's own ``meter`` names."""
    found: dict[str, list[Record]] = {code: [] for code in sources}
    plan = plan_in_force(session)
    for row in plan.rows if plan else ():
        if row.kind == "activity" and row.subject in found and row.instrument_id:
            instrument = session.get(Record, row.instrument_id)
            if instrument is not None and instrument.workflow_key == INSTRUMENTS:
                found[row.subject].append(instrument)
    registered = select(Record).where(Record.workflow_key == INSTRUMENTS)
    for instrument in session.exec(registered).all():
        code = str(instrument.data.get("code") or "")
        for source_code, source in sources.items():
            if code and code in str(source.meter or "") and instrument not in found[source_code]:
                found[source_code].append(instrument)
    return found


CALIBRATION_ORDER = ("failed", "overdue", "none", "not_in_use", "valid")  # the worst first


def _metering_row(instruments: list[Record], facilities: dict[Any, Any], today: date) -> dict[str, Any]:
    """One source's metering: its instruments, the first's level and its facility's equipping rate, the
    accuracy against GB 17167 table 3, the worst calibration, the verdict and what is wrong."""
    table = requirements()
    findings: list[str] = []
    accuracy, checks, statuses, dues = [], [], [], []
    level, rate = None, None
    for instrument in instruments:
        number = instrument.data.get("code") or instrument.number
        if instrument.state != IN_SERVICE:
            findings.append("not_in_service")
        facility = facilities.get(instrument.data.get("facility"))
        for entry in facility.levels if facility else ():
            if entry.level == instrument.data.get("energy_flow_class") and entry.required and rate is None:
                rate = f"{entry.in_service}/{entry.required} ({entry.rate}%)"
                if entry.meets is False:
                    findings.append("equipping_short")
        level = level or instrument.data.get("energy_flow_class")
        item = instrument.data.get("gb17167_item")
        actual = str(instrument.data.get("accuracy_class") or "")
        required = table.accuracy.get(item) if isinstance(item, str) else None
        meets = accuracy_meets(actual, required) if required else None
        accuracy.append(f"{number} {actual} / {required or '—'}")
        checks.append({True: "meets", False: "fails", None: "not_comparable"}[meets])
        if meets is False:
            findings.append("accuracy_short")
        values = calibration_values(instrument.data, state=instrument.state, today=today)
        statuses.append(values["calibration_status"])
        if values["next_calibration_due"]:
            dues.append(values["next_calibration_due"])
        if values["calibration_status"] != "valid":
            findings.append("calibration_invalid")
    if not instruments:
        findings.append("no_instrument")
    worst = next((status for status in CALIBRATION_ORDER if status in statuses), None)
    return {
        "instruments": "；".join(
            f"{i.data.get('code') or i.number} {i.data.get('name') or i.title}" for i in instruments
        )
        or "—",
        "metering_level": level,
        "equipping_rate": rate,
        "accuracy": "；".join(accuracy) or None,
        "accuracy_check": "fails" if "fails" in checks else "meets" if "meets" in checks else None,
        "calibration_status": worst,
        "next_calibration_due": min(dues) if dues else None,
        "adequacy": "no_instrument" if not instruments else "inadequate" if findings else "adequate",
        "findings": sorted(set(findings)) or None,
    }


def metering_rows(
    session: Session, *, org_id: int, significant: list[str], today: date
) -> list[dict[str, Any]]:
    """One row per significant source, from the instrument register and the plan's rows."""
    sources = {s.code: s for s in list_sources(session, org_id=org_id) if s.code in significant}
    instruments = _instruments_of(session, sources)
    organization = get_organization(session, org_id=org_id)
    facilities = {
        entry.facility_id: entry
        for entry in coverage(
            session,
            org_id=org_id,
            org_slug=organization.slug if organization else "",
            units={unit.id: unit.code for unit in list_org_units(session) if unit.id is not None},
        )
    }
    return [
        {
            "source_code": code,
            "source_name": sources[code].name,
            **_metering_row(instruments.get(code, []), facilities, today),
        }
        for code in significant
        if code in sources
    ]


# ---- proposals for carbon performance parameters ----------------------------------------------------


def _parameters(session: Session) -> list[PerformanceParameter]:
    return list(session.exec(select(PerformanceParameter).order_by(PerformanceParameter.code)).all())


def _names(formula: str) -> set[str]:
    try:
        return names_in(formula)
    except FormulaError:
        return set()


def cpp_rows(session: Session, *, org_id: int, significant: list[str]) -> list[dict[str, Any]]:
    """Per significant source, the parameters that already watch it (their formula names its unit or its
    category; the enterprise total watches everything and is not counted) or the one to define: on the
    source's category when it is the only source of it, else on its unit."""
    sources = {s.code: s for s in list_sources(session, org_id=org_id)}
    units = {unit.id: unit for unit in list_org_units(session)}
    parameters = [(p, _names(p.formula)) for p in _parameters(session)]
    rows = []
    for code in significant:
        source = sources.get(code)
        if source is None:
            continue
        unit = units.get(source.org_unit_id)
        watching = {f"unit.{unit.code if unit else ''}", f"category.{source.category}"}
        covered = [p.code for p, names in parameters if names & watching]
        alone = sum(1 for s in sources.values() if s.category == source.category) == 1
        rows.append(
            {
                "source_code": code,
                "source_name": source.name,
                "covered_by": "、".join(covered) or None,
                "proposed_code": None if covered else f"CPP-SRC-{code}"[:64],
                "proposed_category": None if covered or not alone else source.category,
                "proposed_unit": None if covered or alone or unit is None else unit.name,
            }
        )
    return rows


# ---- compiling the review --------------------------------------------------------------------------


def compiled_figures(session: Session, *, org_id: int, data: dict[str, Any], today: date) -> dict[str, Any]:
    """What the compile step writes into the review (the cr_figures form), or the refusal naming the field."""
    if data.get("review_kind") == "triggered" and not str(data.get("trigger_reason") or "").strip():
        raise _refused(
            "trigger_reason",
            "触发评审须说明触发原因（如重大变化）",
            "A triggered review needs its reason (e.g. the significant change)",
        )
    year = _year_of(data, today)
    if year > today.year:
        raise _refused("review_year", f"{year} 年度尚未开始", f"The year {year} has not begun")
    thresholds = Thresholds.of(data)
    figures, total = source_figures(session, org_id=org_id, year=year)
    rows = ranked_sources(figures, thresholds)
    significant = [row["source_code"] for row in rows if row["significant"] == "yes"]
    previous = (
        None
        if any(f.previous_tco2e is None for f in figures)
        else sum((f.previous_tco2e or Decimal(0) for f in figures), Decimal(0))
    )
    return {
        "review_year": year,
        "previous_year": year - 1,
        "total_tco2e": _plain(total),
        "previous_total_tco2e": _plain(previous),
        "cumulative_threshold_pct": _plain(thresholds.cumulative_pct, PERCENT),
        "share_threshold_pct": _plain(thresholds.share_pct, PERCENT),
        "trend_threshold_pct": _plain(thresholds.trend_pct, PERCENT),
        "significant_count": len(significant),
        "sources": rows,
        "metering": metering_rows(session, org_id=org_id, significant=significant, today=today),
        "cpp_proposals": cpp_rows(session, org_id=org_id, significant=significant),
    }


@policy(RecordEnteredState)
def compile_the_sources(event: RecordEnteredState, session: Session) -> None:
    """A review entering ``cr_compiling`` gets its figures and moves on to preparation, in the same
    transaction (in the preparer's name, acting with the role the file gives the compile step). A person
    gets the refusal naming the field; a review the scheduler starts is kept without sources, the problem
    in its timeline, so the carbon manager completes the data and compiles it again."""
    if event.workflow_key != WORKFLOW or event.to_state != COMPILING:
        return
    row = load_record_row(session, record_id=event.record_id)
    today = china_today()
    try:
        figures = compiled_figures(session, org_id=event.org_id, data=row.data, today=today)
        comment = f"取自排放源登记与 {figures['review_year']} 年度排放清单"
    except FormRefused as refused:
        if event.actor.id is not None:
            raise
        problems = " ".join(f"{p['zh']} / {p['en']}" for p in refused.field_errors.values())
        figures = {"review_year": _year_of(row.data, today)}
        comment = f"未能汇编：{problems}"
    compiler = ActorRef(id=event.actor.id, name=event.actor.name, roles=frozenset({COMPILER_ROLE}))
    fire_transition(
        session,
        record_id=event.record_id,
        trigger=COMPILE,
        actor=compiler,
        form_data=figures,
        expected_version=row.version,
        comment=comment,
    )


@guard("review_sources_compiled")
def review_sources_compiled(context: GuardContext) -> Text | None:
    """The review has its sources, and every opportunity names one of them (else the refusal names the
    row's cell, as a form error does)."""
    if not context.record_data.get("sources"):
        return Text(zh="尚未汇编排放源数据", en="The sources are not compiled yet")
    codes = {row.get("source_code") for row in context.record_data.get("sources") or []}
    unknown = {
        f"opportunities.{number}.source_code": {
            "zh": f"“{row.get('source_code')}”不在本次评审的排放源清单中",
            "en": f"'{row.get('source_code')}' is not among the review's sources",
        }
        for number, row in enumerate(context.form_data.get("opportunities") or [], start=1)
        if row.get("source_code") not in codes
    }
    if unknown:
        raise FormRefused(FORM_HAS_ERRORS, field_errors=unknown)
    return None


@start_condition("carbon_review_has_data")
def the_year_before_has_data(session: Session, org_id: int, today: date) -> bool:
    """The scheduler starts the yearly review only for an organization with activity data in the year
    before (one that records no emissions has nothing to review)."""
    return bool(monthly_totals(session, org_id=org_id, year=today.year - 1))


# ---- outputs: reduction projects, linked both ways -------------------------------------------------------


def _preparer(session: Session, record: Any) -> ActorRef | None:
    submitted = (record.participants or {}).get(SUBMIT) or []
    user = get_user(session, user_id=submitted[-1]) if submitted else None
    if user is None or user.id is None:
        return None
    return ActorRef(id=user.id, name=user.display_name, roles=frozenset({PREPARER_ROLE}))


def project_from(review: Any, opportunity: dict[str, Any], *, preparer_id: int) -> dict[str, Any]:
    """A reduction project's proposal from one adopted opportunity of an approved review."""
    source: dict[str, Any] = next(
        (
            r
            for r in review.data.get("sources") or []
            if r.get("source_code") == opportunity.get("source_code")
        ),
        {},
    )
    year = review.data.get("review_year")
    return {
        "name": str(opportunity.get("description") or "")[:200],
        "project_type": "other",
        "baseline_scenario": (
            f"碳评审 {review.number}：{year} 年排放源 {source.get('source_code', '—')}"
            f"「{source.get('source_name', '—')}」"
            f"排放 {source.get('tco2e', '—')} tCO2e，占总量 {source.get('share_pct', '—')}%。"
        ),
        "expected_reduction": opportunity.get("estimated_reduction"),
        "investment": opportunity.get("cost"),
        "owner": opportunity.get("owner") or preparer_id,
        "quantification_method": "按碳评审估算；立项后按 ISO 14064-2 确定量化方法",
        "origin_review": review.id,
    }


@policy(RecordEnteredState)
def adopted_opportunities_open_projects(event: RecordEnteredState, session: Session) -> None:
    """On approval, each opportunity adopted opens a reduction project naming the review (its record-link
    field links both ways); nothing is written to the review itself, so its signature stays valid."""
    if event.workflow_key != WORKFLOW or event.trigger != APPROVE:
        return
    review = load_record_row(session, record_id=event.record_id)
    projects = process_context(session).catalog.get(PROJECTS)
    preparer = _preparer(session, review) if review is not None else None
    if projects is None or preparer is None:
        return
    for opportunity in review.data.get("opportunities") or []:
        if opportunity.get("adopt_as_project") != "yes":
            continue
        create_record(
            session,
            workflow=projects,
            org_id=event.org_id,
            actor=preparer,
            form_data=project_from(review, opportunity, preparer_id=preparer.id),
        )


# ---- what the review page and the report show besides the record -------------------------------------


@dataclass(frozen=True)
class ReviewOutputs:
    projects: list[Record]  # the reduction projects that name the review (opened on approval)
    defined_parameters: frozenset[str]  # proposed parameter codes that are defined by now


def review_outputs(session: Session, *, record: Record) -> ReviewOutputs:
    projects = [
        linked
        for linked in linked_records(session, record_id=record.id or 0)
        if linked.workflow_key == PROJECTS and linked.data.get("origin_review") == record.id
    ]
    proposed = {row.get("proposed_code") for row in record.data.get("cpp_proposals") or []}
    defined = frozenset(p.code for p in _parameters(session) if p.code in proposed)
    return ReviewOutputs(projects=sorted(projects, key=lambda r: r.number), defined_parameters=defined)


def significance_rule(data: dict[str, Any]) -> Text:
    """The rule a compiled review applied, in words."""
    return Thresholds.of(data).rule()
