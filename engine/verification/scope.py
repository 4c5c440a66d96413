"""What a verifier may see: the grant in force now, and the records, evidence and figures of its year and
clauses. Reads only (the views' audit events are written by ``service.audit_view``)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from engine.carbon_data.errors import EmissionsDataError
from engine.carbon_data.inputs import evidence_of_months
from engine.carbon_data.parsing import as_utc
from engine.carbon_data.reporting import annual_figures
from engine.clauses.coverage import evidence_of
from engine.clauses.library import falls_under
from engine.evidence.models import EvidenceFile
from engine.evidence.store import evidence_by_hash
from engine.forms.spec import Text
from engine.identity.models import User
from engine.models.base import utcnow
from engine.verification.errors import OutsideWindow
from engine.verification.models import VerificationGrant, VerificationReturn, VerifiedValue
from engine.verification.registry import month_process
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.computed import CHINA_TIME
from engine.workflow.models import Record


def grants_of(session: Session, *, org_id: int, user_id: int) -> list[VerificationGrant]:
    return list(
        session.exec(
            select(VerificationGrant)
            .where(VerificationGrant.org_id == org_id, VerificationGrant.user_id == user_id)
            .order_by(col(VerificationGrant.id).desc())
        ).all()
    )


def in_window(grant: VerificationGrant, now: datetime) -> bool:
    return as_utc(grant.valid_from) <= as_utc(now) < as_utc(grant.valid_until)


def china_day(moment: datetime) -> str:
    return as_utc(moment).astimezone(CHINA_TIME).strftime("%Y-%m-%d")


def current_grant(
    session: Session, *, org_id: int, user_id: int, now: datetime | None = None
) -> VerificationGrant | None:
    """The grant in force now (the latest, when several are); None when the user has no grant at all.
    Raises OutsideWindow when the user has grants and none is in force: the refusal says why."""
    now = now or utcnow()
    grants = grants_of(session, org_id=org_id, user_id=user_id)
    if not grants:
        return None
    for grant in grants:
        if in_window(grant, now):
            return grant
    upcoming = [g for g in grants if as_utc(g.valid_from) > as_utc(now)]
    if upcoming:
        first = min(upcoming, key=lambda g: as_utc(g.valid_from))
        day = china_day(first.valid_from)
        raise OutsideWindow(
            Text(
                zh=f"您的核查访问权限自 {day} 起生效，目前尚未开始",
                en=f"Your verification access starts on {day}",
            )
        )
    last = max(grants, key=lambda g: as_utc(g.valid_until))
    day = china_day(last.valid_until - timedelta(seconds=1))  # the window ends at the next day's start
    raise OutsideWindow(
        Text(
            zh=f"您的核查访问权限已于 {day} 到期，如需继续核查，请联系企业管理员重新授权",
            en=f"Your verification access ended on {day}; ask the administrator for a new grant",
        )
    )


def record_year(record: Record) -> int:
    period = str(record.data.get("period", ""))
    if len(period) >= 4 and period[:4].isdigit():
        return int(period[:4])
    return as_utc(record.created_at).astimezone(CHINA_TIME).year


def clause_in_scope(grant: VerificationGrant, refs: list[str]) -> bool:
    return any(falls_under(str(ref), clause) for ref in refs for clause in grant.clauses)


def record_in_scope(grant: VerificationGrant, record: Record) -> bool:
    return clause_in_scope(grant, list(record.clause_refs)) and record_year(record) == grant.year


def records_in_scope(session: Session, *, grant: VerificationGrant) -> list[Record]:
    records = session.exec(select(Record).order_by(col(Record.number))).all()
    return [record for record in records if record_in_scope(grant, record)]


def scoped_record(session: Session, *, grant: VerificationGrant, record_id: int) -> Record:
    """The record, or LookupError when it is not the organization's or outside the grant (as a 404)."""
    record = session.get(Record, record_id)
    if record is None or not record_in_scope(grant, record):
        raise LookupError(record_id)
    return record


def evidence_in_scope(
    session: Session,
    *,
    grant: VerificationGrant,
    catalog: WorkflowCatalog,
    records: list[Record] | None = None,
) -> dict[int, EvidenceFile]:
    """The files the in-scope records name, and the months' proof files when the months are in scope."""
    records = records if records is not None else records_in_scope(session, grant=grant)
    ids: set[int] = set()
    for found in evidence_of(session, catalog=catalog, record_ids=[r.id for r in records if r.id]).values():
        ids |= found
    rows: dict[int, EvidenceFile] = {}
    if ids:
        for row in session.exec(select(EvidenceFile).where(col(EvidenceFile.id).in_(sorted(ids)))).all():
            assert row.id is not None
            rows[row.id] = row
    if month_records(session, grant=grant):
        hashes = evidence_of_months(session, org_id=grant.org_id, year=grant.year).values()
        for row in evidence_by_hash(session, org_id=grant.org_id, hashes=hashes).values():
            assert row.id is not None
            rows[row.id] = row
    return rows


def month_records(session: Session, *, grant: VerificationGrant) -> dict[str, Record]:
    """The records standing for the grant year's months, when in the grant's clauses."""
    process = month_process()
    if process is None:
        return {}
    return {
        period: record
        for period, record in process.records_of_year(session, grant.year).items()
        if record_in_scope(grant, record)
    }


def reported_figures(
    session: Session, *, org_id: int, year: int
) -> tuple[Decimal | None, dict[str, Decimal]]:
    """The year's total and each month's emissions (tCO₂e) as reported: the latest snapshot, else live."""
    try:
        figures = annual_figures(session, org_id=org_id, year=year)
    except EmissionsDataError:
        return None, {}
    by_period: dict[str, Any] = figures.inventory.get("by_period", {})
    return figures.total_tco2e, {str(k): Decimal(str(v)) for k, v in by_period.items()}


@dataclass(frozen=True)
class Comparison:
    period: str  # YYYY-MM, or YYYY for the year's total
    record: Record | None
    reported: Decimal | None
    verified: Decimal | None
    difference: Decimal | None
    comment: str
    verifier: str
    when: datetime | None


def comparisons(session: Session, *, org_id: int, year: int) -> list[Comparison]:
    """Reported beside verified, the latest verified value of each month and of the year's total."""
    total, months = reported_figures(session, org_id=org_id, year=year)
    grants = {
        g.id: g for g in session.exec(select(VerificationGrant).where(VerificationGrant.year == year)).all()
    }
    values = session.exec(
        select(VerifiedValue)
        .where(col(VerifiedValue.grant_id).in_(list(grants) or [0]))
        .order_by(col(VerifiedValue.id))
    ).all()
    latest = {value.period: value for value in values}
    names = user_names(session, ids={v.recorded_by for v in latest.values()})
    rows = []
    for period in sorted(latest, key=lambda p: (len(p) == 4, p)):
        value = latest[period]
        reported = total if len(period) == 4 else months.get(period)
        verified = Decimal(value.verified_tco2e)
        rows.append(
            Comparison(
                period=period,
                record=session.get(Record, value.record_id) if value.record_id else None,
                reported=reported,
                verified=verified,
                difference=None if reported is None else verified - reported,
                comment=value.comment,
                verifier=names.get(value.recorded_by, ""),
                when=value.recorded_at,
            )
        )
    return rows


def returns_of_year(session: Session, *, org_id: int, year: int) -> list[VerificationReturn]:
    grant_ids = list(session.exec(select(VerificationGrant.id).where(VerificationGrant.year == year)).all())
    return list(
        session.exec(
            select(VerificationReturn)
            .where(col(VerificationReturn.grant_id).in_(grant_ids or [0]))
            .order_by(col(VerificationReturn.id).desc())
        ).all()
    )


def user_names(session: Session, *, ids: set[int | None]) -> dict[int, str]:
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    rows = session.exec(select(User.id, User.display_name).where(col(User.id).in_(wanted))).all()
    return {user_id: name for user_id, name in rows if user_id is not None}


def window_days(grant: VerificationGrant) -> tuple[str, str]:
    """The grant's first and last day, China time (the window ends at the start of the day after)."""
    return china_day(grant.valid_from), china_day(grant.valid_until - timedelta(seconds=1))
