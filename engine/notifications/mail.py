"""Mail over SMTP: an escalation at once, everything else in a daily digest, each in the person's language
(their profile's, else the installation's default). Sending happens outside the database; a row is marked
mailed in the transaction that sent it, so a crash between the two can repeat a mail, never lose one."""

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from engine.config import Settings
from engine.forms.spec import Text
from engine.records.display import china_time


@dataclass(frozen=True)
class MailItem:
    subject: Text
    body: Text
    when: object  # an aware datetime
    record_id: int | None
    record_number: str | None


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    locale: str


def _lang(locale: str) -> str:
    return "zh" if locale.startswith("zh") else "en"


def _item_text(item: MailItem, locale: str, settings: Settings) -> str:
    lines = [f"{china_time(item.when)}  {item.subject.get(locale)}"]  # type: ignore[arg-type]
    if item.body.get(locale):
        lines.append(f"  {item.body.get(locale)}")
    if item.record_id is not None:
        label = "查看记录" if _lang(locale) == "zh" else "Open the record"
        link = f"{settings.public_url.rstrip('/')}/records/{item.record_id}"
        lines.append(f"  {label} {item.record_number or ''}: {link}")
    return "\n".join(lines)


def compose(
    *, recipient: Recipient, items: Sequence[MailItem], digest: bool, settings: Settings
) -> EmailMessage:
    zh = _lang(recipient.locale) == "zh"
    if digest:
        subject = (
            f"碳管：今日摘要（{len(items)} 条通知）"
            if zh
            else f"Tanguan: daily digest ({len(items)} notices)"
        )
    else:
        subject = f"碳管：{items[0].subject.zh}" if zh else f"Tanguan: {items[0].subject.en}"
    greeting = f"{recipient.name}，您好：" if zh else f"Dear {recipient.name},"
    footer = (
        f"在“通知”页面查看全部：{settings.public_url.rstrip('/')}/notifications\n如不想接收邮件，请在“个人资料”中修改通知设置。"
        if zh
        else f"All notices: {settings.public_url.rstrip('/')}/notifications\n"
        "To stop these mails, change the notification settings on your profile."
    )
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = formataddr(("碳管 Tanguan", settings.smtp_from))
    message["To"] = formataddr((recipient.name, recipient.email))
    message["Message-ID"] = make_msgid(domain="tanguan")
    body = "\n\n".join([greeting, *(_item_text(item, recipient.locale, settings) for item in items), footer])
    message.set_content(body + "\n")
    return message


def send(messages: Sequence[EmailMessage], *, settings: Settings) -> None:
    """Send over one SMTP connection (STARTTLS when ``smtp_tls``); raises OSError/SMTPException."""
    if not messages or not settings.smtp_host:
        return
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_tls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        for message in messages:
            smtp.send_message(message)
