"""An organization's Word template for one report type: one row per uploaded version, the bytes kept in the
row with their SHA-256. A new version supersedes the one in use; going back to the built-in layout retires
it with a reason. No row is ever deleted (ADR 0034, ADR 0036)."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from engine.models.base import OrgOwned, utcnow


class ReportTemplate(OrgOwned, table=True):
    __tablename__ = "report_template"
    __table_args__ = (sa.UniqueConstraint("org_id", "report_type", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    report_type: str = Field(max_length=60)
    version: int
    filename: str = Field(max_length=200)  # shown and offered as the download name; never a path
    sha256: str = Field(max_length=64)
    size_bytes: int
    content: bytes = Field(sa_type=sa.LargeBinary)
    placeholders: list[Any] = Field(default_factory=list, sa_type=sa.JSON)  # the names it uses
    note: str | None = Field(default=None, max_length=500)
    uploaded_by: int | None = Field(default=None, foreign_key="user_account.id")
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    superseded_by: int | None = Field(default=None, foreign_key="report_template.id")
    superseded_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    retired_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    retired_by: int | None = Field(default=None, foreign_key="user_account.id")
    retired_reason: str | None = Field(default=None, max_length=1000)

    @property
    def in_use(self) -> bool:
        return self.superseded_at is None and self.retired_at is None
