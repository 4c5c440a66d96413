"""The scheduler's one table: an idempotency row per action (ADR 0019)."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.models.base import utcnow

INSTALLATION = 0  # the org of a job that spans the installation (evidence cleanup, run slots)


class SchedulerClaim(SQLModel, table=True):
    """(job, org, subject, period) happened: written in the same transaction as its effect, so a sweep
    that runs again, on this instance or another, finds it and does nothing. ``org_id`` is no foreign
    key: 0 stands for the installation."""

    __tablename__ = "scheduler_claim"
    __table_args__ = (sa.UniqueConstraint("job", "org_id", "subject", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64)
    org_id: int
    subject: str = Field(max_length=200)
    period: str = Field(max_length=64)
    done_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
