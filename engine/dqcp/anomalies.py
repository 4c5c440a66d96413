"""Anomalies open nonconformities by themselves: a month-on-month change beyond the row's threshold, a
carbon performance parameter beyond its alarm threshold, and what other modules register (an instrument
past its calibration date, a value outside its instrument's range). Each is announced once per (rule,
subject, period) — ``claim`` says whether it is new — and the process that handles findings opens the
record in the same transaction (a policy on :class:`AnomalyFound`)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlmodel import Session

from engine.dqcp.plan import Plan
from engine.dqcp.values import MonthValues, month_values, previous_months
from engine.events import PolicyEvent, announce
from engine.forms.spec import Text
from engine.planning.performance import evaluate_parameters


@dataclass(frozen=True)
class Anomaly:
    rule: str  # month_on_month | cpp_alarm | … (a check's own name)
    subject: str  # a plan row's code, a parameter's code, an instrument's number
    period: str  # YYYY-MM, or YYYY for annual values
    title: Text
    description: Text
    reporter_id: int | None  # whoever is responsible for the subject; the finding is reported in their name
    org_unit_id: int | None = None
    linked_record_id: int | None = None  # the record the finding concerns (an instrument, the plan)


@dataclass(frozen=True)
class AnomalyFound(PolicyEvent):
    anomaly: Anomaly
    found_on: date
    opened: list[int] = field(default_factory=list)  # the records the policies opened


AnomalyCheck = Callable[[Session, int, date], list[Anomaly]]  # (session, org id, today)
CHECKS: list[AnomalyCheck] = []


def anomaly_check(check: AnomalyCheck) -> AnomalyCheck:
    """Register another module's check (e.g. instruments past their calibration date)."""
    if check not in CHECKS:
        CHECKS.append(check)
    return check


def _percent(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1'))}%"


def month_on_month(plan: Plan, values: MonthValues, *, period: str) -> list[Anomaly]:
    previous = previous_months(period, 1)[0]
    found = []
    for row in plan.rows:
        now, before = (
            values.get((row.kind, row.subject, period)),
            values.get((row.kind, row.subject, previous)),
        )
        if row.change_threshold is None or now is None or not before:
            continue
        change = (now - before) / before * 100
        if abs(change) <= row.change_threshold:
            continue
        found.append(
            Anomaly(
                rule="month_on_month",
                subject=row.code,
                period=period,
                title=Text(
                    zh=f"{row.parameter} {period} 环比变化 {_percent(change)}，"
                    f"超过阈值 {row.change_threshold}%",
                    en=f"{row.parameter} {period}: {_percent(change)} on the month before, beyond "
                    f"{row.change_threshold}%",
                ),
                description=Text(
                    zh=f"{period} 为 {now} {row.unit}，{previous} 为 {before} {row.unit}。"
                    "请核实数据并分析原因。",
                    en=f"{period}: {now} {row.unit}; {previous}: {before} {row.unit}. "
                    "Check the data and why.",
                ),
                reporter_id=row.responsible_id,
                org_unit_id=row.department_id,
                linked_record_id=plan.record_id,
            )
        )
    return found


def cpp_alarms(session: Session, *, org_id: int, year: int) -> list[Anomaly]:
    found = []
    for result in evaluate_parameters(session, org_id=org_id, year=year):
        parameter = result.parameter
        if result.status != "alarm" or result.value is None:
            continue
        found.append(
            Anomaly(
                rule="cpp_alarm",
                subject=parameter.code,
                period=str(year),
                title=Text(
                    zh=f"碳绩效参数“{parameter.name}”{year} 年超过报警值",
                    en=f"Carbon performance parameter '{parameter.name}' beyond its alarm threshold "
                    f"in {year}",
                ),
                description=Text(
                    zh=f"{year} 年为 {result.value} {parameter.unit}，报警值 {parameter.threshold_alarm}。",
                    en=f"{year}: {result.value} {parameter.unit}; "
                    f"alarm threshold {parameter.threshold_alarm}.",
                ),
                reporter_id=parameter.owner_id,
                org_unit_id=parameter.org_unit_id,
            )
        )
    return found


def anomalies_of(
    session: Session, *, org_id: int, plan: Plan | None, period: str, today: date
) -> list[Anomaly]:
    """Every anomaly of the month ``period`` (and of its year's annual values)."""
    found: list[Anomaly] = []
    if plan is not None:
        years = {int(period[:4]), int(previous_months(period, 1)[0][:4])}
        found += month_on_month(plan, month_values(session, org_id=org_id, years=years), period=period)
    found += cpp_alarms(session, org_id=org_id, year=int(period[:4]))
    for check in CHECKS:
        found += check(session, org_id, today)
    return found


def open_findings(
    session: Session, *, org_id: int, anomalies: list[Anomaly], claim: Callable[[str, str], bool], today: date
) -> list[Text]:
    """Announce each anomaly not claimed before; one line per record opened."""
    lines = []
    for anomaly in anomalies:
        if not claim(f"{anomaly.rule}:{anomaly.subject}", anomaly.period):
            continue
        event = AnomalyFound(org_id=org_id, anomaly=anomaly, found_on=today)
        announce(session, event)
        if event.opened:
            lines.append(
                Text(zh=f"已开立不符合：{anomaly.title.zh}", en=f"opened a finding: {anomaly.title.en}")
            )
    return lines
