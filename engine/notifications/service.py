"""Notifications: created inside the transaction of what caused them (each one audited), listed, read,
and each person's mail preferences. Services take keyword-only arguments and never commit."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, update
from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.forms.spec import Text
from engine.models.base import table_of, utcnow
from engine.notifications.models import Notification, NotificationPreference
from engine.records.display import china_time
from engine.tenancy import TenantScopeError, session_org_id
from engine.workflow.models import Record

SCHEDULER = Actor(id=None, name="scheduler")
KINDS = {
    "reminder": Text(zh="提醒", en="Reminder"),
    "escalation": Text(zh="升级", en="Escalation"),
    "overdue": Text(zh="逾期", en="Overdue"),
    "review": Text(zh="定期评审", en="Periodic review"),
    "started": Text(zh="定期任务", en="Recurring work"),
    "evidence": Text(zh="证据到期", en="Evidence expiry"),
    "verification_return": Text(zh="核查退回", en="Returned by the verifier"),
    "security": Text(zh="安全警报", en="Security alert"),
}
_notifications = table_of(Notification)


def kind_label(kind: str) -> Text:
    return KINDS.get(kind, Text(zh="通知", en="Notice"))


def _org(session: Session) -> int:
    org_id = session_org_id(session)
    if not isinstance(org_id, int):
        raise TenantScopeError("notifications are read and written in one organization's session")
    return org_id


def notify(
    session: Session,
    *,
    user_ids: Iterable[int],
    kind: str,
    subject: Text,
    body: Text | None = None,
    record_id: int | None = None,
    urgent: bool = False,
    now: datetime | None = None,
    actor: Actor = SCHEDULER,
    org_id: int | None = None,
) -> list[Notification]:
    """One notification per person (each once), each written to the audit trail. ``org_id`` names the
    organization when the session is the installation's (all organizations), as at sign-in."""
    org_id = _org(session) if org_id is None else org_id
    body = body or Text(zh="", en="")
    created = []
    for user_id in dict.fromkeys(user_ids):
        row = Notification(
            org_id=org_id,
            user_id=user_id,
            kind=kind,
            urgent=urgent,
            subject_zh=subject.zh[:300],
            subject_en=subject.en[:300],
            body_zh=body.zh[:2000],
            body_en=body.en[:2000],
            record_id=record_id,
            # In UTC: SQLite keeps a moment's wall-clock time and drops its offset (a China-time ``now``
            # from the scheduler would read back eight hours late).
            created_at=(now or utcnow()).astimezone(UTC),
        )
        session.add(row)
        created.append(row)
    session.flush()
    for row in created:
        assert row.id is not None
        append_event(
            session,
            org_id=org_id,
            actor=actor,
            subject_type="notification",
            subject_id=row.id,
            action="notified",
            changes={"user_id": [None, row.user_id], "kind": [None, kind]},
            reason=subject.zh,
        )
    return created


@dataclass(frozen=True)
class NotificationView:
    id: int
    kind: Text
    urgent: bool
    subject: Text
    body: Text
    when: str  # China time
    created_at: datetime
    record_id: int | None
    record_number: str | None
    read: bool


# Counted for the navbar of every page: built once, run as Core on the session's connection.
_UNREAD = (
    select(func.count())
    .select_from(Notification)
    .where(
        col(Notification.org_id) == bindparam("org_id"),
        col(Notification.user_id) == bindparam("user_id"),
        col(Notification.read_at).is_(None),
    )
)


def unread_count(session: Session, *, user_id: int) -> int:
    org_id = session_org_id(session)
    if org_id is None:
        raise TenantScopeError("notifications are counted in one organization's scope")
    count: int = session.connection().execute(_UNREAD, {"org_id": org_id, "user_id": user_id}).scalar_one()
    return count


def notifications_of(
    session: Session, *, user_id: int, limit: int = 200, offset: int = 0
) -> list[NotificationView]:
    """The person's notifications, newest first; ``offset`` pages through them."""
    rows = session.exec(
        select(Notification, Record.number)
        .join(Record, col(Record.id) == Notification.record_id, isouter=True)
        .where(Notification.user_id == user_id)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [
        NotificationView(
            id=row.id or 0,
            kind=kind_label(row.kind),
            urgent=row.urgent,
            subject=Text(zh=row.subject_zh, en=row.subject_en),
            body=Text(zh=row.body_zh, en=row.body_en),
            when=china_time(row.created_at),
            created_at=row.created_at,
            record_id=row.record_id,
            record_number=number,
            read=row.read_at is not None,
        )
        for row, number in rows
    ]


def is_notification_of(session: Session, *, user_id: int, notification_id: int) -> bool:
    """Whether the notification exists in this organization and is the person's own."""
    return (
        session.exec(
            select(Notification.id).where(Notification.id == notification_id, Notification.user_id == user_id)
        ).first()
        is not None
    )


def mark_read(session: Session, *, user_id: int, notification_id: int | None = None) -> int:
    """Mark one (or, without an id, every) unread notification of the person read; how many were."""
    statement = (
        update(_notifications)
        .where(
            _notifications.c.org_id == _org(session),
            _notifications.c.user_id == user_id,
            _notifications.c.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    if notification_id is not None:
        statement = statement.where(_notifications.c.id == notification_id)
    return session.execute(statement).rowcount or 0  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Preferences:
    email_urgent: bool = True
    email_digest: bool = True


def preferences_of(session: Session, *, user_id: int) -> Preferences:
    row = session.get(NotificationPreference, user_id)
    return Preferences() if row is None else Preferences(row.email_urgent, row.email_digest)


def set_preferences(
    session: Session, *, user_id: int, org_id: int, email_urgent: bool, email_digest: bool, actor: Actor
) -> None:
    row = session.get(NotificationPreference, user_id)
    before = preferences_of(session, user_id=user_id)
    if row is None:
        row = NotificationPreference(user_id=user_id)
    row.email_urgent, row.email_digest, row.updated_at = email_urgent, email_digest, utcnow()
    session.add(row)
    session.flush()
    changes = {
        name: [getattr(before, name), value]
        for name, value in (("email_urgent", email_urgent), ("email_digest", email_digest))
        if getattr(before, name) != value
    }
    if changes:
        append_event(
            session,
            org_id=org_id,
            actor=actor,
            subject_type="user",
            subject_id=user_id,
            action="notification_preferences",
            changes=changes,
        )
