"""The evidence life cycle: versions of an item (a new file supersedes the current one, both kept), the
validity period and owner of each version, freshness, withdrawal as a tombstone with its reason (nothing is
ever deleted, ADR 0034), the records that name a file, and the register with its filters."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.carbon_data.models import ActivityReading, MeasuredParameter, ProductionOutput
from engine.clauses.library import falls_under
from engine.dqcp.models import MonthlyFiling
from engine.evidence.models import EvidenceFile, EvidenceLink
from engine.evidence.store import EvidenceError, ValidityPeriod, person_name, store_evidence
from engine.forms.spec import Text
from engine.identity.users import get_member
from engine.models.base import utcnow
from engine.records.display import as_china_time
from engine.storage import EvidenceStore
from engine.values import parse_id
from engine.workflow.models import Record

EXPIRING_DAYS = 30  # "expiring soon" on the pages; the reminder's lead time is a setting


class Freshness(StrEnum):
    current = "current"
    expiring = "expiring"
    expired = "expired"
    superseded = "replaced"  # values differ from any process state name (engine/process separation)
    withdrawn = "retracted"


FRESHNESS_LABELS = {
    Freshness.current: Text(zh="有效", en="Current"),
    Freshness.expiring: Text(zh="即将到期", en="Expiring soon"),
    Freshness.expired: Text(zh="已过期", en="Expired"),
    Freshness.superseded: Text(zh="已被新版本取代", en="Superseded"),
    Freshness.withdrawn: Text(zh="已撤回", en="Withdrawn"),
}


def freshness(row: EvidenceFile, *, today: date, within_days: int = EXPIRING_DAYS) -> Freshness:
    if row.withdrawn_at is not None:
        return Freshness.withdrawn
    if row.superseded_at is not None:
        return Freshness.superseded
    if row.valid_until is not None and row.valid_until < today:
        return Freshness.expired
    if row.valid_until is not None and row.valid_until <= today + timedelta(days=within_days):
        return Freshness.expiring
    return Freshness.current


def _version_row(session: Session, *, org_id: int, evidence_id: int) -> EvidenceFile:
    row = session.exec(
        select(EvidenceFile).where(EvidenceFile.org_id == org_id, EvidenceFile.id == evidence_id)
    ).first()
    if row is None:
        raise LookupError(evidence_id)
    return row


def versions(session: Session, *, org_id: int, item_id: int) -> list[EvidenceFile]:
    """Every version of an item, newest first."""
    return list(
        session.exec(
            select(EvidenceFile)
            .where(EvidenceFile.org_id == org_id, EvidenceFile.item_id == item_id)
            .order_by(col(EvidenceFile.version).desc())
        ).all()
    )


def new_version(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    evidence_store: EvidenceStore,
    of_evidence_id: int,
    filename: str,
    chunks: Iterable[bytes],
    max_bytes: int,
    period: ValidityPeriod,
) -> EvidenceFile:
    """Upload a file as the next version of ``of_evidence_id``'s item: the item's current version is
    marked superseded (kept and downloadable). The owner stays the item's unless another is given."""
    base = _version_row(session, org_id=org_id, evidence_id=of_evidence_id)
    if base.withdrawn_at is not None:
        raise EvidenceError("已撤回的证据不能上传新版本", "a withdrawn evidence file takes no new version")
    item = versions(session, org_id=org_id, item_id=base.item_id or of_evidence_id)
    current = next((v for v in item if v.superseded_at is None and v.withdrawn_at is None), None)
    owner = period.owner_id or (current or base).owner_id
    period = ValidityPeriod(owner_id=owner, valid_from=period.valid_from, valid_until=period.valid_until)
    period.check()
    known = {v.sha256 for v in item}
    row = store_evidence(
        session,
        org_id=org_id,
        actor=actor,
        evidence_store=evidence_store,
        filename=filename,
        chunks=chunks,
        max_bytes=max_bytes,
        period=period,
    )
    if row.sha256 in known or row.item_id != row.id or row.version != 1:
        raise EvidenceError(
            "该文件与已有证据完全相同，不能作为新版本", "this file is identical to existing evidence"
        )
    now = utcnow()
    row.item_id = base.item_id
    row.version = max(v.version for v in item) + 1
    if current is not None:
        current.superseded_by, current.superseded_at = row.id, now
        session.add(current)
    session.add(row)
    session.flush()
    assert row.id is not None
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="evidence",
        subject_id=row.id,
        action="new_version",
        changes={"version": [None, row.version], "supersedes": [None, current.version if current else None]},
    )
    return row


def withdraw(session: Session, *, org_id: int, actor: Actor, evidence_id: int, reason: str) -> EvidenceFile:
    """A tombstone: the row and its file stay, marked withdrawn with who, when and why (a reason is
    required); the version it superseded becomes current again."""
    reason = (reason or "").strip()
    if not reason:
        raise EvidenceError("请填写撤回原因", "a reason is required to withdraw evidence")
    row = _version_row(session, org_id=org_id, evidence_id=evidence_id)
    if row.withdrawn_at is not None:
        raise EvidenceError("该证据已撤回", "this evidence was already withdrawn")
    row.withdrawn_at, row.withdrawn_by, row.withdrawn_reason = utcnow(), actor.id, reason[:1000]
    session.add(row)
    previous = session.exec(
        select(EvidenceFile).where(EvidenceFile.org_id == org_id, EvidenceFile.superseded_by == row.id)
    ).first()
    if previous is not None and row.superseded_at is None:
        previous.superseded_by, previous.superseded_at = None, None
        session.add(previous)
    session.flush()
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="evidence",
        subject_id=evidence_id,
        action="evidence_withdrawn",
        reason=reason[:1000],
        changes={"withdrawn_reason": [None, reason[:1000]]},
    )
    return row


def set_period(
    session: Session, *, org_id: int, actor: Actor, evidence_id: int, period: ValidityPeriod
) -> EvidenceFile:
    """Change a version's owner and validity (audited, old and new values)."""
    period.check()
    row = _version_row(session, org_id=org_id, evidence_id=evidence_id)
    changes: dict[str, list[object]] = {}
    for key in ("owner_id", "valid_from", "valid_until"):
        old, new = getattr(row, key), getattr(period, key)
        if key == "owner_id" and new is None:
            continue
        if old != new:
            if key == "owner_id":
                changes["owner"] = [person_name(session, old), person_name(session, new)]
            else:
                changes[key] = [_plain(old), _plain(new)]
            setattr(row, key, new)
    if changes:
        session.add(row)
        session.flush()
        append_event(
            session,
            org_id=org_id,
            actor=actor,
            subject_type="evidence",
            subject_id=evidence_id,
            action="period_changed",
            changes=changes,
        )
    return row


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def link_record_evidence(
    session: OrmSession, *, org_id: int, record_id: int, evidence_ids: Iterable[int]
) -> None:
    """Remember that a record's data names these files (once each); the ids were checked by the form.
    Any ORM session: the workflow engine's unit of work passes its own."""
    wanted = set(evidence_ids)
    if not wanted:
        return
    known = set(
        session.execute(
            sa.select(col(EvidenceLink.evidence_id)).where(col(EvidenceLink.record_id) == record_id)
        ).scalars()
    )
    for evidence_id in sorted(wanted - known):
        session.add(EvidenceLink(org_id=org_id, record_id=record_id, evidence_id=evidence_id))
    session.flush()


@dataclass(frozen=True)
class LinkedRecord:
    id: int
    number: str
    title: str
    workflow_key: str
    clause_refs: tuple[str, ...]


def linked_records(session: Session, *, evidence_ids: Sequence[int]) -> dict[int, list[LinkedRecord]]:
    """The records naming each file (of the session's organization)."""
    if not evidence_ids:
        return {}
    rows = session.execute(
        sa.select(
            col(EvidenceLink.evidence_id),
            col(Record.id),
            col(Record.number),
            col(Record.title),
            col(Record.workflow_key),
            col(Record.clause_refs),
        )
        .join(Record, col(Record.id) == col(EvidenceLink.record_id))
        .where(col(EvidenceLink.evidence_id).in_(list(evidence_ids)))
        .order_by(col(Record.number))
    ).all()
    found: dict[int, list[LinkedRecord]] = {}
    for evidence_id, id_, number, title, key, refs in rows:
        found.setdefault(evidence_id, []).append(
            LinkedRecord(id_, number, title, key, tuple(str(r) for r in refs or ()))
        )
    return found


@dataclass(frozen=True)
class RegisterFilter:
    state: Freshness | None = None
    owner_id: int | None = None
    clause: str | None = None
    record_id: int | None = None
    expiring_within: int | None = None  # days from today: valid until on or before then (not yet past)


@dataclass(frozen=True)
class RegisterRow:
    file: EvidenceFile
    freshness: Freshness
    records: tuple[LinkedRecord, ...]


def register(
    session: Session, *, today: date, filters: RegisterFilter, limit: int = 500
) -> list[RegisterRow]:
    """The organization's evidence, one row per item (its current version, or its latest when every version
    is withdrawn) unless the state filter asks for superseded versions; soonest expiry first."""
    query = select(EvidenceFile)
    if filters.state != Freshness.superseded:
        query = query.where(col(EvidenceFile.superseded_at).is_(None))
    if filters.owner_id is not None:
        query = query.where(EvidenceFile.owner_id == filters.owner_id)
    if filters.expiring_within is not None:
        query = query.where(
            col(EvidenceFile.valid_until) >= today,
            col(EvidenceFile.valid_until) <= today + timedelta(days=filters.expiring_within),
        )
    if filters.record_id is not None or filters.clause:
        linked = sa.select(col(EvidenceLink.evidence_id))
        if filters.record_id is not None:
            linked = linked.where(col(EvidenceLink.record_id) == filters.record_id)
        query = query.where(col(EvidenceFile.id).in_(linked))
    files = session.exec(
        query.order_by(
            col(EvidenceFile.valid_until).is_(None), col(EvidenceFile.valid_until), col(EvidenceFile.id)
        )
    ).all()
    records = linked_records(session, evidence_ids=[f.id for f in files if f.id is not None])
    rows = []
    for file in files:
        assert file.id is not None
        state = freshness(file, today=today)
        linked_here = tuple(records.get(file.id, ()))
        if filters.state is not None and state != filters.state:
            continue
        clause = (filters.clause or "").strip()
        if clause and not any(falls_under(ref, clause) for r in linked_here for ref in r.clause_refs):
            continue
        rows.append(RegisterRow(file, state, linked_here))
        if len(rows) >= limit:
            break
    return rows


def expiring_for_reminder(session: Session, *, today: date, within_days: int) -> list[EvidenceFile]:
    """Current versions with an owner whose validity ends within ``within_days`` (or has just ended)."""
    return list(
        session.exec(
            select(EvidenceFile).where(
                col(EvidenceFile.superseded_at).is_(None),
                col(EvidenceFile.withdrawn_at).is_(None),
                col(EvidenceFile.owner_id).is_not(None),
                col(EvidenceFile.valid_until) <= today + timedelta(days=within_days),
                col(EvidenceFile.valid_until) >= today - timedelta(days=7),
            )
        ).all()
    )


def evidence_row(session: Session, *, org_id: int, evidence_id: int) -> EvidenceFile:
    return _version_row(session, org_id=org_id, evidence_id=evidence_id)


@dataclass(frozen=True)
class PeriodProblem:
    field: str  # "owner", "valid_from" or "valid_until"
    zh: str
    en: str


def period_from_form(
    session: Session, *, org_id: int, owner: str | None, valid_from: str | None, valid_until: str | None
) -> tuple[ValidityPeriod, list[PeriodProblem]]:
    """The owner (a member of the organization; blank: the uploader) and validity typed into an upload
    form (each optional, YYYY-MM-DD); the problems name the field."""
    problems: list[PeriodProblem] = []
    dates: dict[str, date | None] = {}
    for name, text in (("valid_from", valid_from), ("valid_until", valid_until)):
        text = (text or "").strip()
        try:
            dates[name] = date.fromisoformat(text) if text else None
        except ValueError:
            dates[name] = None
            problems.append(PeriodProblem(name, "日期格式应为 YYYY-MM-DD", "a date is written YYYY-MM-DD"))
    owner_id = None
    if (owner or "").strip():
        owner_id = parse_id(owner or "")
        if owner_id is None or get_member(session, org_id=org_id, user_id=owner_id) is None:
            problems.append(PeriodProblem("owner", "本组织没有该人员", "no such person in the organization"))
            owner_id = None
    period = ValidityPeriod(
        owner_id=owner_id, valid_from=dates["valid_from"], valid_until=dates["valid_until"]
    )
    try:
        period.check()
    except EvidenceError as error:
        problems.append(PeriodProblem("valid_until", error.message_zh, error.message_en))
    return period, problems


@dataclass(frozen=True)
class DataUse:
    """Data (not a record) that names a file: a month of production, measured parameters, activity data
    or a DQCP monthly filing."""

    kind: Text
    period: str
    link: str  # the page that shows it


def data_uses(session: Session, *, file: EvidenceFile) -> list[DataUse]:
    uses: list[DataUse] = []
    for table, kind, page in (
        (ProductionOutput, Text(zh="产量", en="Production"), "/emissions/production?year="),
        (MeasuredParameter, Text(zh="实测参数", en="Measured parameters"), "/emissions/measured?year="),
    ):
        for period in session.exec(
            select(table.period).where(table.evidence_sha256 == file.sha256).order_by(table.period)
        ).all():
            uses.append(DataUse(kind, period, page + period[:4]))
    months = session.exec(
        select(ActivityReading.period_start).where(ActivityReading.evidence_sha256 == file.sha256)
    ).all()
    for month in sorted({_china_month(moment) for moment in months}):
        uses.append(
            DataUse(Text(zh="活动数据", en="Activity data"), month, "/emissions/data?year=" + month[:4])
        )
    for period in session.exec(
        select(MonthlyFiling.period)
        .where(MonthlyFiling.proof_evidence_id == file.id)
        .order_by(MonthlyFiling.period)
    ).all():
        uses.append(
            DataUse(Text(zh="数据质量控制计划月度存证", en="DQCP monthly filing"), period, "/dqcp/filing")
        )
    return uses


def _china_month(moment: datetime) -> str:
    local = as_china_time(moment)
    assert local is not None
    return local.strftime("%Y-%m")
