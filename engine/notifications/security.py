"""Security alerts (T14, docs/adr/0046): a sign-in limit reached raises one alert per window and account or
address, not one per refused attempt — an urgent notification to the administrators of the account's
organizations (mailed at once by the urgent-mail job), a JSON line at WARNING (``security.alert``) and
``tanguan_security_alerts_total{kind}``.

The alert is claimed with an idempotency row (``scheduler_claim`` of the installation, the time of the alert
as its period) in the sign-in's own transaction. Attempts for one account already queue for each other
(engine.identity.auth); an address spans accounts, so on PostgreSQL its alert takes an advisory lock of its
own (SQLite's write lock serialises everything). N worker processes therefore raise each alert once."""

from datetime import UTC, timedelta

from sqlalchemy import event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col
from sqlmodel import select as orm_select

from engine.audit import SYSTEM
from engine.events import policy
from engine.forms.spec import Text
from engine.identity.auth import SignInLimitReached
from engine.identity.models import Membership, Role, User
from engine.models.base import table_of, utc_iso
from engine.notifications.service import notify
from engine.observability import security_alert
from engine.records.display import china_time
from engine.scheduler.models import INSTALLATION, SchedulerClaim
from engine.scheduler.registry import insert_claim

ALERT_JOB = "security_alert"
ALERT_LOCK_SPACE = 7_141_002  # beside engine.identity.auth's LOGIN_LOCK_SPACE
_claims = table_of(SchedulerClaim)


def _subject(alert: SignInLimitReached) -> str:
    return f"{alert.kind}:{alert.email if alert.kind == 'account' else alert.ip}"[:200]


def _claim_window(session: Session, alert: SignInLimitReached) -> bool:
    """Whether this failure raises the window's alert: none was raised for the subject within the window;
    then the claim is written."""
    subject = _subject(alert)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:subject))"),
            {"space": ALERT_LOCK_SPACE, "subject": subject},
        )
    since = alert.at - timedelta(minutes=alert.window_minutes)
    raised = connection.execute(
        select(func.count())
        .select_from(_claims)
        .where(
            _claims.c.job == ALERT_JOB,
            _claims.c.org_id == INSTALLATION,
            _claims.c.subject == subject,
            _claims.c.done_at > since,
        )
    ).scalar_one()
    if raised:
        return False
    values = {
        "job": ALERT_JOB,
        "org_id": INSTALLATION,
        "subject": subject,
        "period": utc_iso(alert.at),
        "done_at": alert.at.astimezone(UTC),
    }
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return insert_claim(session, dialect, values)


def _message(alert: SignInLimitReached) -> tuple[Text, Text]:
    """Subject and body, Chinese first: who failed, how often in which window (China time), from where."""
    when, window, failures, limit = china_time(alert.at), alert.window_minutes, alert.failures, alert.limit
    if alert.kind == "account":
        who = Text(zh=f"账户 {alert.email}", en=f"the account {alert.email}")
        latest = Text(zh=f"最近一次来自地址 {alert.ip}", en=f"the latest attempt came from {alert.ip}")
        refused = Text(zh="该账户", en="of this account")
        advice = Text(
            zh="如非本人操作，请核查该地址，必要时停用该账户。",
            en="If this was not its owner, check the address and disable the account if needed.",
        )
        total = Text(zh="", en="")
    else:
        who = Text(zh=f"地址 {alert.ip}", en=f"the address {alert.ip}")
        latest = Text(zh=f"最近一次尝试的账户为 {alert.email}", en=f"the latest was for {alert.email}")
        refused = Text(zh="来自该地址", en="from this address")
        advice = Text(
            zh="请核查该地址是否在尝试猜测密码。", en="Check whether the address is guessing passwords."
        )
        total = Text(zh="（各账户合计）", en=" (all accounts together)")
    subject = Text(
        zh=f"安全警报：{who.zh} 登录失败次数达到上限",
        en=f"Security alert: sign-in limit reached for {who.en}",
    )
    body = Text(
        zh=f"截至 {when}（北京时间）的 {window} 分钟内，{who.zh} 登录失败 {failures} 次{total.zh}，达到上限 "
        f"{limit} 次；{latest.zh}。本时段内{refused.zh}的登录将被拒绝。{advice.zh}",
        en=f"In the {window} minutes to {when} (China time), {who.en} failed to sign in {failures} times"
        f"{total.en}, reaching the limit of {limit}; {latest.en}. Sign-ins {refused.en} are refused for the "
        f"rest of the window. {advice.en}",
    )
    return subject, body


def _administrators(session: Session, *, org_id: int) -> list[int]:
    rows = session.exec(
        orm_select(User.id, Membership.roles)
        .join(Membership, col(Membership.user_id) == User.id)
        .where(Membership.org_id == org_id, col(User.is_active))
    ).all()
    return sorted(user_id for user_id, roles in rows if user_id is not None and Role.admin in roles)


@policy(SignInLimitReached)
def alert_once_per_window(alert: SignInLimitReached, session: Session) -> None:
    if not _claim_window(session, alert):
        return
    subject, body = _message(alert)
    notified = 0
    for org_id in alert.org_ids:
        admins = _administrators(session, org_id=org_id)
        notify(
            session,
            user_ids=admins,
            kind="security",
            subject=subject,
            body=body,
            urgent=True,
            now=alert.at,
            actor=SYSTEM,
            org_id=org_id,
        )
        notified += len(admins)
    fields = {
        "level": "warning",
        "account": alert.email,
        "address": alert.ip,
        "failures": alert.failures,
        "limit": alert.limit,
        "window_minutes": alert.window_minutes,
        "at": utc_iso(alert.at),
        "org_ids": list(alert.org_ids),
        "administrators_notified": notified,
    }
    # Told once the sign-in's transaction has committed: a rolled-back claim raises nothing.
    event.listen(
        session, "after_commit", lambda _session: security_alert(kind=alert.kind, **fields), once=True
    )
