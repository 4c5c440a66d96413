"""What admins, verifiers and the enterprise do: grant access, declare independence, record a verified
value, return for supplement, close (locking the year), and unlock with two people. Every action and
every page a verifier reads is an event in the organization's audit chain."""

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.clauses.library import clause_library, falls_under
from engine.forms.spec import Text
from engine.identity.models import Membership, Role, User
from engine.identity.users import (
    UserError,
    create_user,
    get_user_by_email,
    grant_membership,
    one_time_password,
)
from engine.models.base import utcnow
from engine.notifications.service import notify
from engine.verification.errors import VerificationError
from engine.verification.locks import open_lock
from engine.verification.models import VerificationGrant, VerificationReturn, VerifiedValue, YearLock
from engine.verification.registry import month_process
from engine.verification.scope import month_records, reported_figures
from engine.workflow.access import ActorRef
from engine.workflow.computed import CHINA_TIME
from engine.workflow.errors import TransitionRefused

VERIFIER_ROLE = Role.external_auditor.value
UNLOCKERS = frozenset({Role.admin.value, Role.carbon_manager.value, Role.top_management.value})
NOTIFIED = (Role.carbon_manager.value, Role.top_management.value)  # who hears of a return
MAX_COMMENT = 2000


def _error(field: str, zh: str, en: str) -> VerificationError:
    return VerificationError(field, Text(zh=zh, en=en))


def _required(field: str, value: str, zh_name: str, en_name: str, *, limit: int = MAX_COMMENT) -> str:
    value = (value or "").strip()
    if not value:
        raise _error(field, f"请填写{zh_name}", f"{en_name} is required")
    if len(value) > limit:
        raise _error(field, f"{zh_name}不能超过 {limit} 个字符", f"{en_name} is at most {limit} characters")
    return value


def _day(field: str, value: str, zh_name: str, en_name: str) -> date:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        raise _error(
            field, f"{zh_name}应为日期（年-月-日）", f"{en_name} must be a date (YYYY-MM-DD)"
        ) from None


def _clauses(text: str) -> list[str]:
    refs = [ref for ref in re.split(r"[\s,，、;；]+", text or "") if ref]
    if not refs:
        raise _error(
            "clauses", "请填写核查范围内的条款（如 8.6, 9.1）", "Give the clauses in scope (e.g. 8.6, 9.1)"
        )
    numbers = [clause.number for clause in clause_library()]
    unknown = [ref for ref in refs if not any(falls_under(number, ref) for number in numbers)]
    if unknown:
        listed = "、".join(unknown)
        raise _error(
            "clauses", f"标准中没有条款 {listed}", f"The standard has no clause {', '.join(unknown)}"
        )
    return sorted(set(refs), key=lambda ref: [int(part) for part in ref.split(".") if part.isdigit()])


def _year(value: str | int) -> int:
    try:
        year = int(str(value).strip())
    except ValueError:
        raise _error("year", "报告年度应为四位年份", "The reporting year must be a four-digit year") from None
    if not 2000 <= year <= 2100:
        raise _error(
            "year", "报告年度应在 2000–2100 之间", "The reporting year must be between 2000 and 2100"
        )
    return year


def china_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=CHINA_TIME).astimezone(UTC)


def grant_access(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    email: str,
    display_name: str,
    body: str,
    year: str | int,
    clauses: str,
    valid_from: str,
    valid_until: str,
) -> tuple[VerificationGrant, str | None]:
    """A grant for an existing user or a new one (then with a one-time password, returned once)."""
    year_value = _year(year)
    refs = _clauses(clauses)
    first = _day("valid_from", valid_from, "生效日期", "Valid from")
    last = _day("valid_until", valid_until, "截止日期", "Valid until")
    if last < first:
        raise _error("valid_until", "截止日期不能早于生效日期", "Valid until cannot be before valid from")
    body = (body or "").strip()[:200]
    try:
        user = get_user_by_email(session, email=email)
    except UserError:
        raise _error("email", "电子邮箱格式不正确", "Not an e-mail address") from None
    password = None
    if user is None:
        name = _required("display_name", display_name, "核查人员姓名", "The verifier's name", limit=120)
        password = one_time_password()
        user = create_user(
            session, email=email, display_name=name, password=password, must_change_password=True
        )
    assert user.id is not None
    membership = session.exec(
        select(Membership).where(Membership.org_id == org_id, Membership.user_id == user.id)
    ).first()
    roles = set(membership.roles) if membership else set()
    grant_membership(session, org_id=org_id, user=user, roles=sorted(roles | {VERIFIER_ROLE}), actor=actor)
    grant = VerificationGrant(
        org_id=org_id,
        user_id=user.id,
        year=year_value,
        clauses=refs,
        valid_from=china_midnight(first),
        valid_until=china_midnight(last + timedelta(days=1)),
        body=body,
        granted_by=actor.id,
    )
    session.add(grant)
    session.flush()
    assert grant.id is not None
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="verification_grant",
        subject_id=grant.id,
        action="granted",
        changes={
            "user_id": [None, user.id],
            "year": [None, year_value],
            "clauses": [None, refs],
            "valid_from": [None, first.isoformat()],
            "valid_until": [None, last.isoformat()],
        },
    )
    return grant, password


PAGES = {
    "portal": "核查门户",
    "record": "记录",
    "download": "证据文件下载",
    "trace": "数据追溯",
}  # the event's reason, as read


def audit_view(session: Session, *, grant: VerificationGrant, actor: Actor, page: str, subject: str) -> None:
    """One event per page a verifier reads or file they download: who, which page and subject, when."""
    append_event(
        session,
        org_id=grant.org_id,
        actor=actor,
        subject_type="verification_view",
        subject_id=subject[:120],
        action="downloaded" if page == "download" else "viewed",
        reason=PAGES.get(page, page),
    )


def _open(grant: VerificationGrant, *, needs_coi: bool = True) -> None:
    if grant.closed_at is not None:
        raise _error(
            "grant", "本次核查已关闭，不能再记录", "This verification is closed: nothing more can be recorded"
        )
    if needs_coi and grant.coi_declared_at is None:
        raise _error(
            "coi",
            "请先签署利益冲突声明，之后才能进行其他核查操作",
            "Declare your conflict of interest first: no other verification action before it",
        )


def declare_coi(
    session: Session, *, grant: VerificationGrant, actor: Actor, independent: bool, statement: str
) -> None:
    _open(grant, needs_coi=False)
    if grant.coi_declared_at is not None:
        raise _error("coi", "利益冲突声明已签署", "The conflict-of-interest declaration is already recorded")
    if not independent:
        raise _error(
            "independent",
            "须确认与受核查企业不存在利益冲突；存在冲突时不能承担本次核查",
            "Confirm you have no conflict of interest with the organization; with one you cannot verify it",
        )
    grant.coi_declared_at = utcnow()
    grant.coi_statement = (statement or "").strip()[:MAX_COMMENT]
    session.add(grant)
    assert grant.id is not None
    append_event(
        session,
        org_id=grant.org_id,
        actor=actor,
        subject_type="verification_grant",
        subject_id=grant.id,
        action="coi_declared",
        reason=grant.coi_statement or "无利益冲突",
    )


def _period(grant: VerificationGrant, value: str) -> str:
    period = (value or "").strip()
    if period == str(grant.year) or re.fullmatch(rf"{grant.year}-(0[1-9]|1[0-2])", period):
        return period
    raise _error(
        "period",
        f"只能核查 {grant.year} 年度（全年或某月）",
        f"Only {grant.year} is in scope (the year or one of its months)",
    )


def record_verified_value(
    session: Session,
    *,
    grant: VerificationGrant,
    actor: Actor,
    period: str,
    verified: str,
    comment: str,
) -> VerifiedValue:
    _open(grant)
    period = _period(grant, period)
    try:
        value = Decimal((verified or "").strip().replace(",", ""))
    except InvalidOperation:
        raise _error(
            "verified_value", "核查值应为数字（tCO₂e）", "The verified value must be a number (tCO₂e)"
        ) from None
    if not value.is_finite() or value < 0:
        raise _error("verified_value", "核查值应为非负数", "The verified value must not be negative")
    comment = _required("comment", comment, "核查说明", "A comment")
    total, months = reported_figures(session, org_id=grant.org_id, year=grant.year)
    record = None
    if len(period) == 7:
        record = month_records(session, grant=grant).get(period)
        if record is None:
            raise _error(
                "period", f"{period} 没有在核查范围内的数据批次", f"{period} has no data batch in scope"
            )
    reported = total if len(period) == 4 else months.get(period)
    if reported is None:
        raise _error("period", f"{period} 没有报告值可供比对", f"{period} has no reported value to compare")
    row = VerifiedValue(
        org_id=grant.org_id,
        grant_id=grant.id or 0,
        period=period,
        record_id=record.id if record else None,
        reported_tco2e=str(reported),
        verified_tco2e=str(value),
        comment=comment,
        recorded_by=actor.id or 0,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    append_event(
        session,
        org_id=grant.org_id,
        actor=actor,
        subject_type="verified_value",
        subject_id=row.id,
        action="verified_value_recorded",
        changes={
            "period": [None, period],
            "reported_tco2e": [None, str(reported)],
            "verified_tco2e": [None, str(value)],
        },
        reason=comment,
    )
    return row


def return_for_supplement(
    session: Session, *, grant: VerificationGrant, actor: Actor, period: str, comment: str
) -> VerificationReturn:
    """Send a month's batch (back to where it is corrected) or the year's report back, with a comment
    the enterprise reads on the record, on the verification page and in the responsible people's inbox."""
    _open(grant)
    period = _period(grant, period)
    comment = _required("comment", comment, "退回意见", "The reason for the return")
    record = None
    if len(period) == 7:
        record = month_records(session, grant=grant).get(period)
        if record is None:
            raise _error(
                "period", f"{period} 没有在核查范围内的数据批次", f"{period} has no data batch in scope"
            )
        process = month_process()
        assert process is not None  # month_records found the record through it
        try:
            process.send_back(session, record, ActorRef.of(actor), comment)
        except TransitionRefused as refused:
            raise VerificationError("period", refused.reason) from None
    row = VerificationReturn(
        org_id=grant.org_id,
        grant_id=grant.id or 0,
        period=period,
        record_id=record.id if record else None,
        comment=comment,
        returned_by=actor.id or 0,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    append_event(
        session,
        org_id=grant.org_id,
        actor=actor,
        subject_type="verification_return",
        subject_id=row.id,
        action="returned_for_supplement",
        changes={"period": [None, period]},
        reason=comment,
    )
    what = (
        Text(zh=f"{record.number}（{period}）", en=f"{record.number} ({period})")
        if record
        else Text(zh=f"{period} 年度排放报告", en=f"the {period} emissions report")
    )
    notify(
        session,
        user_ids=_responsible(session, org_id=grant.org_id, creator=record.created_by if record else None),
        kind="verification_return",
        subject=Text(
            zh=f"核查机构退回 {what.zh}，请补充", en=f"The verifier returned {what.en} for supplement"
        ),
        body=Text(zh=f"退回意见：{comment}", en=f"Reason: {comment}"),
        record_id=record.id if record else None,
        urgent=True,
        actor=actor,
    )
    return row


def _responsible(session: Session, *, org_id: int, creator: int | None) -> list[int]:
    members = session.exec(select(Membership).where(Membership.org_id == org_id)).all()
    ids = [m.user_id for m in members if set(m.roles) & set(NOTIFIED)]
    return ([creator] if creator else []) + ids


def close_verification(session: Session, *, grant: VerificationGrant, actor: Actor) -> YearLock:
    """The verification ends; its reporting year is locked."""
    _open(grant)
    if open_lock(session, org_id=grant.org_id, year=grant.year) is not None:
        raise _error("year", f"{grant.year} 年度已锁定", f"{grant.year} is locked already")
    now = utcnow()
    grant.closed_at = now
    session.add(grant)
    lock = YearLock(
        org_id=grant.org_id, year=grant.year, grant_id=grant.id, locked_by=actor.id or 0, locked_at=now
    )
    session.add(lock)
    session.flush()
    assert lock.id is not None and grant.id is not None
    append_event(
        session,
        org_id=grant.org_id,
        actor=actor,
        subject_type="verification_grant",
        subject_id=grant.id,
        action="verification_closed",
    )
    append_event(
        session,
        org_id=grant.org_id,
        actor=actor,
        subject_type="year_lock",
        subject_id=lock.id,
        action="year_locked",
        changes={"year": [None, grant.year]},
    )
    return lock


def _lock_of(session: Session, *, org_id: int, year: str | int) -> YearLock:
    lock = open_lock(session, org_id=org_id, year=_year(year))
    if lock is None:
        raise _error("year", "该年度未锁定", "This year is not locked")
    return lock


def _unlocker(actor: Actor) -> None:
    if not actor.roles & UNLOCKERS:
        raise VerificationError(
            "year",
            Text(
                zh="只有系统管理员、碳管理员或最高管理者可以申请或确认解锁",
                en="Only an administrator, a carbon manager or top management may ask for or confirm it",
            ),
            status=403,
        )


def request_unlock(session: Session, *, org_id: int, actor: Actor, year: str | int, reason: str) -> YearLock:
    _unlocker(actor)
    lock = _lock_of(session, org_id=org_id, year=year)
    if lock.unlock_requested_at is not None:
        raise _error(
            "year",
            "已有解锁申请，等待另一人确认",
            "An unlock is already asked for and awaits a second person",
        )
    lock.unlock_reason = _required("reason", reason, "解锁原因", "The reason for unlocking")
    lock.unlock_requested_by = actor.id
    lock.unlock_requested_at = utcnow()
    session.add(lock)
    assert lock.id is not None
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="year_lock",
        subject_id=lock.id,
        action="unlock_requested",
        reason=lock.unlock_reason,
    )
    return lock


def confirm_unlock(session: Session, *, org_id: int, actor: Actor, year: str | int) -> YearLock:
    _unlocker(actor)
    lock = _lock_of(session, org_id=org_id, year=year)
    if lock.unlock_requested_at is None:
        raise _error("year", "尚无解锁申请", "Nobody has asked for an unlock yet")
    if lock.unlock_requested_by == actor.id:
        raise VerificationError(
            "year",
            Text(
                zh="解锁须由另一人确认，申请人不能自行确认",
                en="A second person must confirm: not whoever asked",
            ),
            status=403,
        )
    lock.unlocked_by = actor.id
    lock.unlocked_at = utcnow()
    session.add(lock)
    assert lock.id is not None
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="year_lock",
        subject_id=lock.id,
        action="year_unlocked",
        reason=lock.unlock_reason,
    )
    return lock


def locks_of(session: Session, *, org_id: int) -> list[YearLock]:
    query = select(YearLock).where(YearLock.org_id == org_id).order_by(col(YearLock.year))
    return list(session.exec(query).all())


def grants_listing(session: Session, *, org_id: int) -> list[tuple[VerificationGrant, User | None]]:
    grants = session.exec(select(VerificationGrant).where(VerificationGrant.org_id == org_id)).all()
    return [(grant, session.get(User, grant.user_id)) for grant in sorted(grants, key=lambda g: -(g.id or 0))]
