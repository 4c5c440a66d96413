"""Notifications shown in the app and mailed, and each person's choice of mail."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.models.base import OrgOwned, utcnow


class Notification(OrgOwned, table=True):
    """One message to one person, in both languages (their language is chosen when it is shown or mailed).
    ``urgent`` ones (escalations) are mailed at once, the others in the daily digest."""

    __table_args__ = (sa.Index("ix_notification_user_unread", "user_id", "read_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    kind: str = Field(max_length=32)
    urgent: bool = False
    subject_zh: str = Field(max_length=300)
    subject_en: str = Field(max_length=300)
    body_zh: str = Field(default="", max_length=2000)
    body_en: str = Field(default="", max_length=2000)
    record_id: int | None = Field(default=None, foreign_key="record.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    read_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    emailed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class NotificationPreference(SQLModel, table=True):
    """What a person wants by mail; no row means both."""

    __tablename__ = "notification_preference"

    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    email_urgent: bool = True
    email_digest: bool = True
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
