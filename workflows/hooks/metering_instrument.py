"""9.1 / 6.2.3 metering instrument register (GB 17167-2006): its computed calibration values, the overdue
sweep the scheduler calls, and each facility's equipping rate and accuracy check (ADR 0020).

Every calibration is kept as a row of the record's ``calibrations`` table (computed here when a calibration
form is submitted), so the register page, the export and a DQCP row read it from the record's data;
the timeline keeps the same history as audited changes.
"""

import calendar
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session

from engine.carbon_data.parsing import month_start
from engine.carbon_data.readings import list_readings
from engine.carbon_data.sources import list_sources
from engine.dqcp.anomalies import Anomaly, anomaly_check
from engine.dqcp.plan import plan_in_force
from engine.dqcp.values import previous_months
from engine.forms.spec import Text
from engine.records.queries import records_in_states
from engine.trust_chain.registry import Calibration, register_calibrations
from engine.workflow.models import Record
from engine.workflow.registry import ComputeContext, computed, declare_names

WORKFLOW = "metering_instrument"
IN_SERVICE = "in_service"
OUT_OF_SERVICE = "out_of_service"
declare_names(WORKFLOW, states={IN_SERVICE, OUT_OF_SERVICE})
HOOK = "metering_instrument_calibration"
CALIBRATION_COLUMNS = (
    "calibration_date",
    "calibration_result",
    "certificate_no",
    "calibrating_body",
    "certificate",
)
REQUIREMENTS_FILE = Path(__file__).resolve().parents[1] / "data" / "gb17167.yaml"


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it has none (31 Jan + 1 → 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _as_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _months(value: Any) -> int | None:
    try:
        months = int(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None
    return months if months > 0 else None


def calibration_values(data: dict[str, Any], *, state: str, today: date) -> dict[str, Any]:
    """next_calibration_due = the last calibration (a recorded one, else the date given at registration)
    + the interval in months; calibration_status as of ``today`` for the state the record is in."""
    rows = [row for row in data.get("calibrations") or [] if isinstance(row, dict)]
    dated = [(d, row) for row in rows if (d := _as_date(row.get("calibration_date")))]
    last_row = max(dated, key=lambda pair: pair[0])[1] if dated else None
    last = _as_date(last_row["calibration_date"]) if last_row else _as_date(data.get("last_calibration_date"))
    months = _months(data.get("calibration_interval_months"))
    due = add_months(last, months) if last and months else None
    if state != IN_SERVICE:
        status = "not_in_use"
    elif last_row is not None and last_row.get("calibration_result") == "fail":
        status = "failed"
    elif due is None:
        status = "none"
    else:
        status = "overdue" if due < today else "valid"
    return {"next_calibration_due": due.isoformat() if due else None, "calibration_status": status}


def calibrations_of(record: Record) -> list[Calibration]:
    """Every recorded calibration, each valid until the next one falls due (the interval in months)."""
    months = _months(record.data.get("calibration_interval_months"))
    found = []
    for row in record.data.get("calibrations") or []:
        day = _as_date(row.get("calibration_date")) if isinstance(row, dict) else None
        if day is None:
            continue
        certificate = row.get("certificate")
        found.append(
            Calibration(
                calibrated_on=day,
                passed=row.get("calibration_result") == "pass",
                certificate_no=str(row.get("certificate_no") or ""),
                body=str(row.get("calibrating_body") or ""),
                certificate_evidence_id=certificate if isinstance(certificate, int) else None,
                valid_until=add_months(day, months) if months else None,
            )
        )
    return found


register_calibrations(WORKFLOW, calibrations_of)


@computed(HOOK)
def on_write(context: ComputeContext) -> dict[str, Any]:
    """A submitted calibration becomes a new row of ``calibrations``; then the due date and status."""
    data = dict(context.data)
    if context.submitted.get("calibration_date"):
        row = {name: context.submitted.get(name) for name in CALIBRATION_COLUMNS}
        data["calibrations"] = [*(data.get("calibrations") or []), row]
    values = calibration_values(data, state=context.state, today=context.today)
    return {"calibrations": data.get("calibrations"), **values}


def instruments_overdue(session: Session, *, org_id: int, today: date) -> list[Record]:
    """The organization's instruments in service whose next calibration was due before ``today`` (or whose
    last calibration failed), whatever their stored status says (it is refreshed only when written). Reads
    only: the scheduler calls it with its own clock."""
    found = []
    for record in records_in_states(session, workflow_key=WORKFLOW, states=(IN_SERVICE,)):
        if record.org_id != org_id:
            continue
        status = calibration_values(record.data, state=record.state, today=today)["calibration_status"]
        if status in ("overdue", "failed"):
            found.append(record)
    return sorted(found, key=lambda r: (r.data.get("next_calibration_due") or "", r.number))


# ---- GB 17167 equipping rate and accuracy, per facility ------------------------------------------------


@dataclass(frozen=True)
class Requirements:
    """The requirement tables as data (workflows/data/gb17167.yaml), with their source."""

    standard: str
    source: Text
    levels: dict[str, Text]
    minimum_rate: dict[str, int]  # per level, percent (the strictest energy kind: electricity)
    accuracy: dict[str, str]  # GB 17167 item → the class it asks for ("0.5S", "±0.5%")
    required_counts: dict[str, dict[str, dict[str, int]]]  # org slug → facility code → level → count


@cache
def requirements() -> Requirements:
    raw = yaml.safe_load(REQUIREMENTS_FILE.read_text(encoding="utf-8"))
    return Requirements(
        standard=raw["standard"],
        source=Text(**raw["source"]),
        levels={key: Text(**label) for key, label in raw["levels"].items()},
        minimum_rate={key: int(value) for key, value in raw["minimum_rate"].items()},
        accuracy={key: str(value) for key, value in raw["accuracy"].items()},
        required_counts=raw.get("required_counts") or {},
    )


_ACCURACY = re.compile(r"^±?(?P<number>\d+(?:\.\d+)?)(?P<kind>S|%|℃)?$")


def accuracy_meets(actual: str, required: str) -> bool | None:
    """Whether an accuracy class is as good as the one required (a smaller number is better; a class with
    S meets the same number without it, not the other way round); None when they cannot be compared
    (a class against a percentage)."""
    have, want = _ACCURACY.match(actual.strip()), _ACCURACY.match(required.strip())
    if not have or not want:
        return None
    have_kind, want_kind = have["kind"] or "", want["kind"] or ""
    if {have_kind, want_kind} - {"", "S"} and have_kind != want_kind:
        return None
    have_number, want_number = Decimal(have["number"]), Decimal(want["number"])
    if have_number != want_number:
        return have_number < want_number
    return not (want_kind == "S" and have_kind != "S")


@dataclass
class LevelCoverage:
    level: str
    required: int | None  # None: no required count set for this facility and level
    in_service: int
    minimum_rate: int

    @property
    def rate(self) -> Decimal | None:
        if not self.required:
            return None
        return (Decimal(self.in_service) * 100 / Decimal(self.required)).quantize(Decimal("0.1"))

    @property
    def meets(self) -> bool | None:
        return None if self.rate is None else self.rate >= self.minimum_rate


@dataclass
class AccuracyCheck:
    record: Record
    required: str | None  # None: no GB 17167 item chosen
    meets: bool | None


@dataclass
class FacilityCoverage:
    facility_id: int
    levels: list[LevelCoverage] = field(default_factory=list)
    accuracy: list[AccuracyCheck] = field(default_factory=list)


def coverage(
    session: Session, *, org_id: int, org_slug: str, units: dict[int, str]
) -> list[FacilityCoverage]:
    """Per facility (``units``: the organization's units, id → code): instruments in service against the
    required count at each GB 17167 level, and the accuracy of every instrument in service that names its
    GB 17167 item (or is on the unit's own energy flow: without an item it reads "not comparable")."""
    table = requirements()
    counts = table.required_counts.get(org_slug, {})
    instruments = [
        r
        for r in records_in_states(session, workflow_key=WORKFLOW, states=(IN_SERVICE,))
        if r.org_id == org_id
    ]
    facilities = sorted(
        {int(r.data["facility"]) for r in instruments if isinstance(r.data.get("facility"), int)}
        | {unit_id for unit_id, code in units.items() if code in counts}
    )
    result = []
    for facility_id in facilities:
        mine = [r for r in instruments if r.data.get("facility") == facility_id]
        wanted = counts.get(units.get(facility_id, ""), {})
        entry = FacilityCoverage(facility_id=facility_id)
        for level, minimum in table.minimum_rate.items():
            have = sum(1 for r in mine if r.data.get("energy_flow_class") == level)
            if have or level in wanted:
                entry.levels.append(LevelCoverage(level, wanted.get(level), have, minimum))
        for record in mine:
            item = record.data.get("gb17167_item")
            if not item and record.data.get("energy_flow_class") != "unit":
                continue
            required = table.accuracy.get(item) if isinstance(item, str) else None
            meets = accuracy_meets(str(record.data.get("accuracy_class", "")), required) if required else None
            entry.accuracy.append(AccuracyCheck(record, required, meets))
        result.append(entry)
    return result


# ---- anomalies: an instrument in service past its calibration date opens a finding (engine.dqcp) -------


@anomaly_check
def calibration_overdue(session: Session, org_id: int, today: date) -> list[Anomaly]:
    """Once per instrument and due date: the finding names the instrument and when it was due."""
    found = []
    for record in instruments_overdue(session, org_id=org_id, today=today):
        due = str(record.data.get("next_calibration_due") or "")
        name = str(record.data.get("name") or record.title)
        found.append(
            Anomaly(
                rule="calibration_overdue",
                subject=record.number,
                period=due or today.isoformat(),
                title=Text(
                    zh=f"计量器具 {record.number}「{name}」超过检定/校准有效期仍在用",
                    en=f"Instrument {record.number} '{name}' in service past its calibration date",
                ),
                description=Text(
                    zh=f"下次检定/校准应于 {due or '—'} 前完成，至 {today.isoformat()} 仍未完成。"
                    "请停用或送检，并评估期间数据。",
                    en=f"The next calibration was due by {due or '—'}; not done by {today.isoformat()}. "
                    "Take it out of service or have it calibrated, and assess the data measured since.",
                ),
                reporter_id=record.data.get("responsible")
                if isinstance(record.data.get("responsible"), int)
                else None,
                org_unit_id=record.data.get("facility")
                if isinstance(record.data.get("facility"), int)
                else None,
                linked_record_id=record.id,
            )
        )
    return found


@anomaly_check
def reading_outside_range(session: Session, org_id: int, today: date) -> list[Anomaly]:
    """Last month's readings of a plan row's source outside its instrument's measuring range — compared
    only where the range is in the unit the readings are in (a range in t/h says nothing of a month in t)."""
    plan = plan_in_force(session)
    if plan is None:
        return []
    period = previous_months(today.isoformat()[:7], 1)[0]
    year, month = int(period[:4]), int(period[5:])
    start, end = month_start(year, month), month_start(year + (month == 12), month % 12 + 1)
    sources = {source.code: source for source in list_sources(session, org_id=org_id)}
    found = []
    for row in plan.monthly_rows:
        instrument = session.get(Record, row.instrument_id) if row.instrument_id else None
        source = sources.get(row.subject)
        if row.kind != "activity" or instrument is None or source is None or source.id is None:
            continue
        lower, upper = (
            _decimal(instrument.data.get("range_lower")),
            _decimal(instrument.data.get("range_upper")),
        )
        if str(instrument.data.get("range_unit") or "").strip() != source.unit or upper is None:
            continue
        outside = [
            reading.quantity
            for reading in list_readings(session, org_id=org_id, source_id=source.id, start=start, end=end)
            if reading.quantity > upper or (lower is not None and reading.quantity < lower)
        ]
        if outside:
            found.append(_outside(row, instrument, period, outside, lower, upper, source.unit))
    return found


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _outside(
    row: Any,
    instrument: Record,
    period: str,
    outside: list[Decimal],
    lower: Decimal | None,
    upper: Decimal,
    unit: str,
) -> Anomaly:
    span = f"{lower if lower is not None else 0}–{upper} {unit}"
    return Anomaly(
        rule="outside_range",
        subject=f"{row.code}:{instrument.number}",
        period=period,
        title=Text(
            zh=f"{row.parameter} {period} 有 {len(outside)} 个读数超出计量器具 {instrument.number} 的量程",
            en=f"{row.parameter} {period}: {len(outside)} reading(s) outside the range of "
            f"{instrument.number}",
        ),
        description=Text(
            zh=f"量程 {span}；超出的读数：{'、'.join(str(value) for value in outside[:5])}。"
            "请核实数据与器具选型。",
            en=f"Range {span}; outside: {', '.join(str(value) for value in outside[:5])}. "
            "Check the data and whether the instrument fits.",
        ),
        reporter_id=row.responsible_id,
        org_unit_id=row.department_id,
        linked_record_id=instrument.id,
    )
