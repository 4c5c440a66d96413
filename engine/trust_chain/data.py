"""The lower steps of the trust chain: a source's year and month of data, the data-quality control plan's
row and its monthly proof, the instrument and its calibration certificates, an evidence file — each with
what was checked by hash, and the findings (nonconformities) raised on that data."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.carbon_data.aggregation import monthly_totals
from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.models import (
    EmissionSource,
    MeasuredParameter,
    ReadingBatch,
    from_micro,
    reading_insert_table,
)
from engine.carbon_data.parsing import month_start
from engine.carbon_data.provenance import missing_provenance
from engine.carbon_data.sources import get_source
from engine.dqcp.filing import month_end
from engine.dqcp.models import MonthlyFiling
from engine.dqcp.plan import FACTOR_KINDS, Plan, PlanRow, plan_in_force
from engine.dqcp.values import month_values
from engine.emissions.errors import CalcError
from engine.evidence.lifecycle import DataUse, LinkedRecord, data_uses, linked_records
from engine.evidence.models import EvidenceFile
from engine.forms.spec import FieldType, Text
from engine.records.queries import get_record, names_of
from engine.trust_chain.checks import (
    CheckedFile,
    CheckedRecord,
    Keys,
    checked_file,
    checked_files,
    checked_record,
    unknown_hashes,
)
from engine.trust_chain.registry import Calibration, readers
from engine.verification.registry import month_process
from engine.workflow.models import Record, RecordLink


def _month_window(period: str) -> tuple[datetime, datetime]:
    year, month = int(period[:4]), int(period[5:7])
    return month_start(year, month), month_start(year + month // 12, month % 12 + 1)


def month_batches(session: Session, *, year: int, keys: Keys) -> dict[str, CheckedRecord]:
    """The record that stands for each month's data (its signed batch), signatures verified."""
    process = month_process()
    if process is None:
        return {}
    return {
        period: checked_record(session, record=record, keys=keys)
        for period, record in process.records_of_year(session, year).items()
    }


def findings_on(session: Session, *, record_ids: Iterable[int], mention: str | None = None) -> list[Record]:
    """Records raised on these records: linked to them, or naming one as their related record; with
    ``mention``, only those whose title names it (a finding on the plan names the month it concerns)."""
    ids = sorted(set(record_ids))
    if not ids:
        return []
    linked = select(col(RecordLink.to_record_id)).where(col(RecordLink.from_record_id).in_(ids))
    linking = select(col(RecordLink.from_record_id)).where(col(RecordLink.to_record_id).in_(ids))
    related = select(col(Record.id)).where(Record.data["related_record"].as_integer().in_(ids))
    found_ids = set(session.scalars(linked.union(linking, related)).all()) - set(ids)
    if not found_ids:
        return []
    records = session.exec(
        select(Record).where(col(Record.id).in_(sorted(found_ids))).order_by(col(Record.id))
    )
    return [r for r in records.all() if mention is None or mention in r.title]


def plan_rows_of(plan: Plan | None, *, subject: str) -> list[PlanRow]:
    return [row for row in plan.rows if row.subject == subject] if plan else []


@dataclass(frozen=True)
class MonthLine:
    period: str
    quantity: Decimal
    tco2e: Decimal | None
    batch: CheckedRecord | None


@dataclass(frozen=True)
class SourceYearStep:
    source: EmissionSource
    year: int
    months: list[MonthLine]
    plan_rows: list[PlanRow]
    total_quantity: Decimal
    total_tco2e: Decimal | None


def source_year_step(
    session: Session, *, org_id: int, source_id: int, year: int, keys: Keys
) -> SourceYearStep | None:
    source = get_source(session, org_id=org_id, source_id=source_id)
    if source is None:
        return None
    totals = monthly_totals(session, org_id=org_id, year=year, source_ids=[source_id])
    tco2e: dict[str, Decimal] | None = {}
    try:
        result = build_inventory(session, org_id=org_id, year=year)
        for line in result.inventory.lines:
            line_source, period = result.line_sources[line.line]
            if line_source == source_id and line.counted_in_total and tco2e is not None:
                tco2e[period] = tco2e.get(period, Decimal(0)) + line.tco2e
    except (EmissionsDataError, CalcError):
        tco2e = None  # the year cannot be computed: the months are still shown, without emissions
    batches = month_batches(session, year=year, keys=keys)
    months = [
        MonthLine(t.period, t.quantity, None if tco2e is None else tco2e.get(t.period), batches.get(t.period))
        for t in totals
    ]
    return SourceYearStep(
        source,
        year,
        months,
        plan_rows_of(plan_in_force(session), subject=source.code),
        sum((m.quantity for m in months), Decimal(0)),
        None if tco2e is None else sum(tco2e.values(), Decimal(0)),
    )


@dataclass(frozen=True)
class RowFiling:
    row: PlanRow
    filing: MonthlyFiling | None
    proof: CheckedFile | None


@dataclass(frozen=True)
class SourceMonthStep:
    source: EmissionSource
    period: str
    quantity: Decimal | None
    readings: int
    tiers: dict[str, int]
    entered_by: list[str]
    imports: list[ReadingBatch]
    reading_files: list[CheckedFile]
    unknown_files: list[str]  # hashes the readings name that no evidence row holds
    measured: MeasuredParameter | None
    measured_missing: list[Text]  # what the measured row's provenance lacks (issue 14 item 4)
    lab_reports: list[CheckedFile]
    rows: list[RowFiling]
    batch: CheckedRecord | None
    findings: list[Record]


def _filings(session: Session, *, org_id: int, codes: list[str], period: str) -> dict[str, MonthlyFiling]:
    rows = session.exec(
        select(MonthlyFiling).where(
            MonthlyFiling.org_id == org_id,
            col(MonthlyFiling.row_code).in_(codes),
            MonthlyFiling.period == period,
        )
    ).all()
    return {row.row_code: row for row in rows}


def _row_filings(
    session: Session, *, org_id: int, rows: list[PlanRow], period: str, keys: Keys
) -> list[RowFiling]:
    filings = _filings(session, org_id=org_id, codes=[row.code for row in rows], period=period)
    proofs = {
        f.id: f
        for f in checked_files(
            session,
            org_id=org_id,
            keys=keys,
            ids=[f.proof_evidence_id for f in filings.values() if f.proof_evidence_id],
        )
    }
    return [
        RowFiling(
            row,
            filings.get(row.code),
            proofs.get(filings[row.code].proof_evidence_id or 0) if row.code in filings else None,
        )
        for row in rows
    ]


def source_month_step(
    session: Session, *, org_id: int, source_id: int, period: str, keys: Keys
) -> SourceMonthStep | None:
    source = get_source(session, org_id=org_id, source_id=source_id)
    if source is None:
        return None
    start, end = _month_window(period)
    readings = reading_insert_table.c  # plain integer micro-units: summed exactly in SQL
    in_month = sa.and_(
        readings.org_id == org_id,
        readings.source_id == source_id,
        readings.period_start >= start,
        readings.period_start < end,
    )
    tiers: dict[str, int] = {}
    total_micro = 0
    for tier, count, micro in session.execute(
        sa.select(readings.tier, sa.func.count(), sa.func.sum(readings.quantity))
        .where(in_month)
        .group_by(readings.tier)
    ).all():
        tiers[tier] = count
        total_micro += int(micro or 0)

    def distinct(column: sa.ColumnClause[Any]) -> set[Any]:
        return set(session.execute(sa.select(column).where(in_month).distinct()).scalars().all())

    hashes, batch_ids = distinct(readings.evidence_sha256), distinct(readings.batch_id)
    people = distinct(readings.entered_by)
    imports = session.exec(
        select(ReadingBatch).where(col(ReadingBatch.id).in_(sorted(i for i in batch_ids if i is not None)))
    ).all()
    names = names_of(session, org_id=org_id, wanted={FieldType.user: {p for p in people if p is not None}})
    reading_files = checked_files(session, org_id=org_id, keys=keys, hashes=hashes)
    measured = session.exec(
        select(MeasuredParameter).where(
            MeasuredParameter.org_id == org_id,
            MeasuredParameter.source_id == source_id,
            MeasuredParameter.period == period,
        )
    ).first()
    lab = [measured.evidence_sha256] if measured is not None and measured.evidence_sha256 else []
    plan = plan_in_force(session)
    rows = plan_rows_of(plan, subject=source.code)
    batch = month_batches(session, year=int(period[:4]), keys=keys).get(period)
    instruments = {row.instrument_id for row in rows if row.instrument_id}
    findings = findings_on(session, record_ids=[batch.record.id] if batch and batch.record.id else [])
    findings += [f for f in findings_on(session, record_ids=instruments, mention=period) if f not in findings]
    if plan is not None:
        findings += [
            f for f in findings_on(session, record_ids=[plan.record_id], mention=period) if f not in findings
        ]
    row_filings = _row_filings(session, org_id=org_id, rows=rows, period=period, keys=keys)
    lab_filed = any(line.proof is not None for line in row_filings if line.row.kind in FACTOR_KINDS)
    return SourceMonthStep(
        source=source,
        period=period,
        quantity=from_micro(total_micro) if tiers else None,
        readings=sum(tiers.values()),
        tiers=tiers,
        entered_by=sorted(names.users.values()),
        imports=list(imports),
        reading_files=reading_files,
        unknown_files=unknown_hashes(reading_files, hashes),
        measured=measured,
        measured_missing=[] if measured is None else missing_provenance(measured, filed_report=lab_filed),
        lab_reports=checked_files(session, org_id=org_id, keys=keys, hashes=lab),
        rows=row_filings,
        batch=batch,
        findings=findings,
    )


@dataclass(frozen=True)
class RowStep:
    plan: Plan
    plan_record: CheckedRecord
    row: PlanRow
    period: str
    filing: RowFiling
    value: Decimal | None
    source: EmissionSource | None
    instrument: Record | None
    responsible: str | None
    department: str | None
    findings: list[Record]


def row_step(session: Session, *, org_id: int, row_code: str, period: str, keys: Keys) -> RowStep | None:
    plan = plan_in_force(session)
    row = plan.row(row_code) if plan else None
    plan_record = get_record(session, record_id=plan.record_id) if plan else None
    if plan is None or row is None or plan_record is None:
        return None
    names = names_of(
        session,
        org_id=org_id,
        wanted={
            FieldType.user: {row.responsible_id} if row.responsible_id else set(),
            FieldType.org_unit: {row.department_id} if row.department_id else set(),
        },
    )
    values = month_values(session, org_id=org_id, years=[int(period[:4])])
    source = session.exec(
        select(EmissionSource).where(EmissionSource.org_id == org_id, EmissionSource.code == row.subject)
    ).first()
    instrument = get_record(session, record_id=row.instrument_id) if row.instrument_id else None
    ids = [plan.record_id, *([instrument.id] if instrument and instrument.id else [])]
    return RowStep(
        plan=plan,
        plan_record=checked_record(session, record=plan_record, keys=keys),
        row=row,
        period=period,
        filing=_row_filings(session, org_id=org_id, rows=[row], period=period, keys=keys)[0],
        value=values.get((row.kind, row.subject, period)),
        source=source,
        instrument=instrument,
        responsible=names.users.get(row.responsible_id or 0),
        department=names.units.get(row.department_id or 0),
        findings=findings_on(session, record_ids=ids, mention=period),
    )


@dataclass(frozen=True)
class CheckedCalibration:
    calibration: Calibration
    certificate: CheckedFile | None
    covers_period: bool


@dataclass(frozen=True)
class InstrumentStep:
    record: CheckedRecord
    period: str | None
    calibrations: list[CheckedCalibration]
    in_force: CheckedCalibration | None  # the passed calibration that covers the period
    findings: list[Record]


def _covers(calibration: Calibration, period: str | None) -> bool:
    if period is None or not calibration.passed:
        return False
    first = date(int(period[:4]), int(period[5:7]), 1)
    return calibration.calibrated_on <= month_end(period) and (
        calibration.valid_until is None or calibration.valid_until >= first
    )


def instrument_step(
    session: Session, *, org_id: int, record_id: int, period: str | None, keys: Keys
) -> InstrumentStep | None:
    record = get_record(session, record_id=record_id)
    reader = readers().calibrations.get(record.workflow_key) if record else None
    if record is None or reader is None or record.org_id != org_id:
        return None
    calibrations = reader(record)
    certificates = {
        f.id: f
        for f in checked_files(
            session,
            org_id=org_id,
            keys=keys,
            ids=[c.certificate_evidence_id for c in calibrations if c.certificate_evidence_id],
        )
    }
    checked = [
        CheckedCalibration(c, certificates.get(c.certificate_evidence_id or 0), _covers(c, period))
        for c in sorted(calibrations, key=lambda c: c.calibrated_on, reverse=True)
    ]
    assert record.id is not None
    return InstrumentStep(
        record=checked_record(session, record=record, keys=keys),
        period=period,
        calibrations=checked,
        in_force=next((c for c in checked if c.covers_period), None),
        findings=findings_on(session, record_ids=[record.id]),
    )


@dataclass(frozen=True)
class EvidenceStep:
    file: CheckedFile
    row: EvidenceFile
    uploaded_by: str | None
    owner: str | None
    uses: list[DataUse]
    records: list[LinkedRecord]


def evidence_step(session: Session, *, org_id: int, evidence_id: int, keys: Keys) -> EvidenceStep | None:
    row = session.exec(
        select(EvidenceFile).where(EvidenceFile.org_id == org_id, EvidenceFile.id == evidence_id)
    ).first()
    if row is None:
        return None
    people = {p for p in (row.uploaded_by, row.owner_id) if p is not None}
    names = names_of(session, org_id=org_id, wanted={FieldType.user: people})
    return EvidenceStep(
        file=checked_file(row, keys=keys),
        row=row,
        uploaded_by=names.users.get(row.uploaded_by or 0),
        owner=names.users.get(row.owner_id or 0),
        uses=data_uses(session, file=row),
        records=linked_records(session, evidence_ids=[evidence_id]).get(evidence_id, []),
    )
