"""7.4.3 carbon disclosure: its figures come from a frozen inventory snapshot, never from a keyboard.

A draft that names its year (and, optionally, a snapshot) enters ``dis_loading``; the policy below finds
the snapshot and fires ``load_snapshot_figures`` (→ drafting) with the snapshot's figures in the same
transaction, so the figures are audited as field changes like any others and no record rests in loading.
Whoever fires that transition, the figures must equal the snapshot's or the whole write is refused. A
signature on the disclosure also covers the snapshot's SHA-256 and total. A newer snapshot of the same
year leaves a disclosure as it was: the disclosures page says that the year was frozen again (ADR 0025)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from engine.carbon_data.models import InventorySnapshot
from engine.carbon_data.reporting import product_intensities
from engine.carbon_data.restatement import register_figure_users
from engine.carbon_data.snapshots import get_snapshot, list_snapshots
from engine.events import policy
from engine.forms.spec import Text
from engine.records.queries import records_in_states
from engine.reports.periods import declare_period
from engine.workflow.access import ActorRef
from engine.workflow.computed import china_today
from engine.workflow.errors import FORM_HAS_ERRORS, FormRefused, GuardRefused
from engine.workflow.events import RecordEnteredState
from engine.workflow.lifecycle import create_record, fire_transition, process_context
from engine.workflow.models import Record
from engine.workflow.registry import GuardContext, declare_names, guard, signed_content
from engine.workflow.writes import load_record_row

WORKFLOW = "disclosure"
CREATE = "create"
RETAKE = "retake_snapshot"
LOAD = "load_snapshot_figures"
LOADER_ROLE = "admin"  # the role the transition file gives LOAD; the process fires it in the drafter's name
PUBLISHED = "dis_published"
STATES = ("dis_drafting", "dis_in_review", "dis_reviewed", "dis_approved", PUBLISHED)
declare_names(WORKFLOW, states=set(STATES), triggers={RETAKE, LOAD})
declare_period(WORKFLOW, year="reporting_year")
CHINA_TIME = ZoneInfo("Asia/Shanghai")
TONNES, INTENSITY = "0.01", "0.0001"
DIRECT = ("combustion", "process")
INDIRECT = ("purchased_electricity", "purchased_heat")
DEDUCTED = ("exported_electricity", "exported_heat", "recovered", "fixed_in_products")
FIGURES = (
    "snapshot_id", "snapshot_year", "snapshot_sha256", "snapshot_frozen_on", "total_tco2e", "scope1_tco2e",
    "scope2_tco2e", "deducted_tco2e", "intensity_product", "intensity_per_unit", "intensity_unit",
    "intensity_per_10k_cny",
)  # fmt: skip


def _number(value: Any, places: str | None = None) -> str | None:
    """A number as the form keeps it (text), rounded half-even to ``places`` ("0.01") when given."""
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    if places is not None:
        number = number.quantize(Decimal(places))
    return f"{number.normalize():f}"


def _sum(values: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    return _number(sum((Decimal(str(values.get(key) or 0)) for key in keys), Decimal(0)), TONNES)


def _intensity(session: Session, snapshot: InventorySnapshot) -> dict[str, Any]:
    """The snapshot's own intensity when it froze one; else its total over the year's recorded output of
    the organization's first product with output (as the annual report and the targets compute it)."""
    frozen = (snapshot.result or {}).get("intensity")
    if frozen:
        return dict(frozen)
    found = product_intensities(
        session, org_id=snapshot.org_id, year=snapshot.year, total_tco2e=snapshot.total_tco2e
    )
    if not found:
        return {}
    chosen = found[min(found)]
    return {
        "product": chosen.product,
        "product_unit": chosen.product_unit,
        "tco2e_per_product_unit": chosen.per_product,
        "tco2e_per_10k_cny": chosen.per_output_value,
    }


def snapshot_figures(session: Session, snapshot: InventorySnapshot) -> dict[str, Any]:
    """What a disclosure copies from a snapshot, as the form's values (numbers as text, tonnes to 0.01,
    intensities to 0.0001)."""
    result = snapshot.result or {}
    by_category = result.get("by_category") or {}
    intensity = _intensity(session, snapshot)
    unit = intensity.get("product_unit")
    figures = {
        "snapshot_id": str(snapshot.id),
        "snapshot_year": str(snapshot.year),
        "snapshot_sha256": snapshot.inputs_sha256,
        "snapshot_frozen_on": snapshot.created_at.astimezone(CHINA_TIME).date().isoformat(),
        "total_tco2e": _number(snapshot.total_tco2e, TONNES),
        "scope1_tco2e": _sum(by_category, DIRECT),
        "scope2_tco2e": _sum(by_category, INDIRECT),
        "deducted_tco2e": _sum(by_category, DEDUCTED),
        "intensity_product": intensity.get("product"),
        "intensity_per_unit": _number(intensity.get("tco2e_per_product_unit"), INTENSITY),
        "intensity_unit": f"tCO2e/{unit}" if unit else None,
        "intensity_per_10k_cny": _number(intensity.get("tco2e_per_10k_cny"), INTENSITY),
    }
    return {key: value for key, value in figures.items() if value is not None}


def _same(stored: Any, wanted: Any) -> bool:
    if stored is None or wanted is None:
        return stored is None and wanted is None
    a, b = _number(stored), _number(wanted)
    return a == b if a is not None and b is not None else str(stored) == str(wanted)


def figures_match(data: dict[str, Any], figures: dict[str, Any]) -> bool:
    return all(_same(data.get(key), figures.get(key)) for key in FIGURES)


def _refused(field: str, zh: str, en: str) -> FormRefused:
    return FormRefused(FORM_HAS_ERRORS, field_errors={field: {"zh": zh, "en": en}})


def chosen_snapshot(session: Session, *, org_id: int, data: dict[str, Any]) -> InventorySnapshot:
    """The snapshot a draft names (else its year's latest), or the refusal naming the field."""
    try:
        year = int(Decimal(str(data.get("reporting_year"))))
    except (InvalidOperation, ValueError):
        raise _refused("reporting_year", "此项必填", "This field is required") from None
    choice = data.get("snapshot_choice")
    if choice is not None:
        snapshot = get_snapshot(session, org_id=org_id, snapshot_id=int(Decimal(str(choice))))
        if snapshot is None:
            raise _refused(
                "snapshot_choice", "没有这个编号的盘查快照", "There is no snapshot with this number"
            )
        if snapshot.year != year:
            raise _refused(
                "snapshot_choice",
                f"该快照是 {snapshot.year} 年度的，不是 {year} 年度",
                f"That snapshot is of {snapshot.year}, not {year}",
            )
        return snapshot
    snapshots = list_snapshots(session, org_id=org_id, year=year)
    if not snapshots:
        raise _refused(
            "reporting_year",
            f"{year} 年度尚无冻结的盘查快照：请先在排放清单页冻结",
            f"No inventory snapshot of {year} is frozen yet: freeze one on the inventory page",
        )
    return snapshots[0]


@policy(RecordEnteredState)
def take_the_snapshots_figures(event: RecordEnteredState, session: Session) -> None:
    """A draft entering loading gets its snapshot's figures and moves on to drafting (in the drafter's
    name, acting with the role the file gives the loading step)."""
    if event.workflow_key != WORKFLOW or event.trigger not in (CREATE, RETAKE):
        return
    row = load_record_row(session, record_id=event.record_id)
    snapshot = chosen_snapshot(session, org_id=event.org_id, data=row.data)
    figures = snapshot_figures(session, snapshot)
    loader = ActorRef(id=event.actor.id, name=event.actor.name, roles=frozenset({LOADER_ROLE}))
    fire_transition(
        session,
        record_id=event.record_id,
        trigger=LOAD,
        actor=loader,
        form_data=figures,
        expected_version=row.version,
        comment=f"取自盘查快照 #{snapshot.id}（SHA-256 {snapshot.inputs_sha256[:12]}）",
    )


@policy(RecordEnteredState)
def figures_are_the_snapshots(event: RecordEnteredState, session: Session) -> None:
    """Whoever loads figures, they must be exactly those of the snapshot the draft chose (of its year)."""
    if event.workflow_key != WORKFLOW or event.trigger != LOAD:
        return
    row = load_record_row(session, record_id=event.record_id)
    data = row.data
    snapshot_id = _number(data.get("snapshot_id"))
    snapshot = (
        get_snapshot(session, org_id=event.org_id, snapshot_id=int(snapshot_id)) if snapshot_id else None
    )
    chosen = _number(data.get("snapshot_choice"))
    if (
        snapshot is None
        or str(snapshot.year) != _number(data.get("reporting_year"))
        or (chosen is not None and chosen != snapshot_id)
        or not figures_match(data, snapshot_figures(session, snapshot))
    ):
        raise GuardRefused(
            Text(
                zh="披露数据必须与所选盘查快照完全一致，不能手工填写",
                en="The disclosure's figures must be exactly the snapshot's; they cannot be typed",
            )
        )


@guard("figures_loaded")
def figures_loaded(context: GuardContext) -> Text | None:
    if not context.record_data.get("snapshot_sha256"):
        return Text(zh="尚未载入盘查快照数据", en="No snapshot's figures are loaded yet")
    return None


@signed_content(WORKFLOW)
def the_snapshot(session: Session, *, org_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """An approval covers the snapshot the figures come from (its SHA-256 and total as frozen)."""
    snapshot_id = _number(data.get("snapshot_id"))
    snapshot = get_snapshot(session, org_id=org_id, snapshot_id=int(snapshot_id)) if snapshot_id else None
    if snapshot is None:
        return {"snapshot": None}
    return {"snapshot": snapshot.id, "sha256": snapshot.inputs_sha256, "total": str(snapshot.total_tco2e)}


@dataclass(frozen=True)
class DisclosureView:
    record: Record
    snapshot: InventorySnapshot | None
    newer: InventorySnapshot | None  # a later snapshot of the same year, if the year was frozen again

    @property
    def superseded(self) -> bool:
        return self.newer is not None

    @property
    def published_at(self) -> datetime | None:
        return self.record.closed_at if self.record.state == PUBLISHED else None


def _snapshot_id(record: Record) -> int | None:
    number = _number(record.data.get("snapshot_id"))
    return int(Decimal(number)) if number is not None else None


@register_figure_users
def disclosures_of_snapshots(session: Session, year: int, snapshot_ids: frozenset[int]) -> list[Record]:
    """The disclosures whose figures came from these snapshots (a restatement names them)."""
    return [
        record
        for record in records_in_states(session, workflow_key=WORKFLOW, states=STATES)
        if _snapshot_id(record) in snapshot_ids
    ]


def disclosures(session: Session, *, org_id: int) -> list[DisclosureView]:
    """Every disclosure not withdrawn, newest first, with its snapshot and any later one of its year."""
    views = []
    records = records_in_states(session, workflow_key=WORKFLOW, states=STATES)
    latest: dict[int, InventorySnapshot | None] = {}
    for record in sorted(records, key=lambda r: r.id or 0, reverse=True):
        snapshot_id = _number(record.data.get("snapshot_id"))
        snapshot = get_snapshot(session, org_id=org_id, snapshot_id=int(snapshot_id)) if snapshot_id else None
        newer = None
        if snapshot is not None:
            if snapshot.year not in latest:
                found = list_snapshots(session, org_id=org_id, year=snapshot.year)
                latest[snapshot.year] = found[0] if found else None
            candidate = latest[snapshot.year]
            newer = candidate if candidate is not None and candidate.id != snapshot.id else None
        views.append(DisclosureView(record=record, snapshot=snapshot, newer=newer))
    return views


def frozen_snapshots(session: Session, *, org_id: int) -> list[InventorySnapshot]:
    return list_snapshots(session, org_id=org_id)


def frozen_on(moment: datetime) -> str:
    return moment.astimezone(CHINA_TIME).date().isoformat()


# ---- publication: logged as an external communication (7.4), where its evidence is kept --------------------

PUBLISH = "publish_disclosure"
COMMUNICATION = "communication"
declare_names(WORKFLOW, triggers={PUBLISH})
declare_names(COMMUNICATION)
# The disclosure's channel → the communication log's.
CHANNELS = {
    "website": "website",
    "esg_report": "website",
    "regulator_platform": "platform",
    "customer": "email",
    "exchange": "platform",
}


@policy(RecordEnteredState)
def log_the_publication(event: RecordEnteredState, session: Session) -> None:
    """A published disclosure opens an entry in the communication log, linked to it, assigned to whoever
    published it, who records the date and the evidence (a page capture, the platform's receipt) there."""
    if event.workflow_key != WORKFLOW or event.trigger != PUBLISH:
        return
    log = process_context(session).catalog.get(COMMUNICATION)
    row = load_record_row(session, record_id=event.record_id)
    if log is None or row is None:
        return
    data = row.data
    create_record(
        session,
        workflow=log,
        org_id=event.org_id,
        actor=event.actor,
        form_data={
            "subject": f"对外发布碳信息披露：{row.title}"[:200],
            "direction": "external",
            "entry_kind": "sent",
            "party": "、".join(AUDIENCES.get(value, value) for value in data.get("audiences") or [])
            or "社会公众",
            "channel": CHANNELS.get(str(data.get("channel")), "website"),
            "planned_date": china_today().isoformat(),
            "responsible": event.actor.id,
            "details": str(data.get("url") or ""),
            "related_record": event.record_id,
        },
    )


AUDIENCES = {
    "public": "社会公众",
    "regulator": "主管部门",
    "customers": "客户",
    "investors": "投资者/金融机构",
}
