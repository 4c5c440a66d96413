"""The two mail jobs: escalations at once (every run), and once a day after ``digest_hour`` (China time) a
digest of the rest. Each mail is claimed (job, org, person or notification, period) in the transaction
that marks its notifications mailed."""

from collections.abc import Iterator
from datetime import UTC

from sqlalchemy import update
from sqlmodel import col, select

from engine.identity.models import User
from engine.models.base import table_of
from engine.notifications.mail import MailItem, Recipient, compose, send
from engine.notifications.models import Notification, NotificationPreference
from engine.records.display import CHINA_TIME
from engine.scheduler.registry import JobContext
from engine.workflow.models import Record

_notifications = table_of(Notification)


def _pending(ctx: JobContext, *, urgent: bool) -> dict[int, list[tuple[Notification, str | None]]]:
    rows = ctx.session.exec(
        select(Notification, Record.number)
        .join(Record, col(Record.id) == Notification.record_id, isouter=True)
        .where(
            Notification.urgent == urgent,
            col(Notification.emailed_at).is_(None),
            col(Notification.org_id) == ctx.org_id,
        )
        .order_by(col(Notification.id))
    ).all()
    by_user: dict[int, list[tuple[Notification, str | None]]] = {}
    for row, number in rows:
        by_user.setdefault(row.user_id, []).append((row, number))
    return by_user


def _recipient(ctx: JobContext, user_id: int) -> tuple[Recipient | None, NotificationPreference]:
    user = ctx.session.get(User, user_id)
    preference = ctx.session.get(NotificationPreference, user_id) or NotificationPreference(user_id=user_id)
    if user is None or not user.is_active:
        return None, preference
    return Recipient(user.email, user.display_name, user.locale or ctx.settings.default_locale), preference


def _item(row: Notification, number: str | None) -> MailItem:
    from engine.forms.spec import Text

    return MailItem(
        subject=Text(zh=row.subject_zh, en=row.subject_en),
        body=Text(zh=row.body_zh, en=row.body_en),
        when=row.created_at,
        record_id=row.record_id,
        record_number=number,
    )


def _mark_mailed(ctx: JobContext, ids: list[int]) -> None:
    ctx.session.execute(
        update(_notifications).where(_notifications.c.id.in_(ids)).values(emailed_at=ctx.now.astimezone(UTC))
    )


def run_urgent_mail(ctx: JobContext) -> Iterator[str]:
    if not ctx.settings.smtp_host:
        return
    for user_id, rows in _pending(ctx, urgent=True).items():
        recipient, preference = _recipient(ctx, user_id)
        ids = [row.id for row, _ in rows if row.id is not None]
        if recipient is None or not preference.email_urgent:
            _mark_mailed(ctx, ids)  # not wanted by mail: shown in the app only
            continue
        messages = [
            compose(recipient=recipient, items=[_item(row, number)], digest=False, settings=ctx.settings)
            for row, number in rows
            if ctx.claim(f"notification:{row.id}", "mail")
        ]
        send(messages, settings=ctx.settings)
        _mark_mailed(ctx, ids)
        if messages:
            yield f"{len(messages)} 封邮件 mail(s) → {recipient.name} <{recipient.email}>"


def run_digest_mail(ctx: JobContext) -> Iterator[str]:
    local = ctx.now.astimezone(CHINA_TIME)
    if not ctx.settings.smtp_host or local.hour < ctx.settings.digest_hour:
        return
    for user_id, rows in _pending(ctx, urgent=False).items():
        recipient, preference = _recipient(ctx, user_id)
        ids = [row.id for row, _ in rows if row.id is not None]
        if recipient is None or not preference.email_digest:
            _mark_mailed(ctx, ids)
            continue
        if not ctx.claim(f"user:{user_id}", local.date().isoformat()):
            continue  # today's digest went out; the rest waits for tomorrow's
        items = [_item(row, number) for row, number in rows]
        send(
            [compose(recipient=recipient, items=items, digest=True, settings=ctx.settings)],
            settings=ctx.settings,
        )
        _mark_mailed(ctx, ids)
        yield f"{len(items)} 条通知的摘要 digest of {len(items)} → {recipient.name} <{recipient.email}>"
