"""Read-and-acknowledge: one row per (version, person); the version is a workflow record."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from engine.models.base import OrgOwned, utcnow


class DocumentAcknowledgement(OrgOwned, table=True):
    __tablename__ = "document_acknowledgement"
    __table_args__ = (sa.UniqueConstraint("record_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    user_id: int = Field(foreign_key="user_account.id")
    acknowledged_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
