"""A verifier's grant of access, the values and returns they record, and the years their close locks."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import JSON, Field

from engine.models.base import OrgOwned, utcnow


class VerificationGrant(OrgOwned, table=True):
    """Access granted by an admin: one verifier, one reporting year, some clauses, a window in time."""

    __tablename__ = "verification_grant"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    year: int
    clauses: list[str] = Field(default_factory=list, sa_type=JSON)
    valid_from: datetime = Field(sa_type=sa.DateTime(timezone=True))
    valid_until: datetime = Field(sa_type=sa.DateTime(timezone=True))
    body: str = Field(default="", max_length=200)  # the verifier's organization (核查机构 / 认证机构)
    granted_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    coi_declared_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    coi_statement: str | None = Field(default=None, max_length=2000)
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class VerifiedValue(OrgOwned, table=True):
    """The verifier's value beside the reported one: a month (YYYY-MM, its data batch) or a year (YYYY)."""

    __tablename__ = "verified_value"

    id: int | None = Field(default=None, primary_key=True)
    grant_id: int = Field(foreign_key="verification_grant.id", index=True)
    period: str = Field(max_length=7)
    record_id: int | None = Field(default=None, foreign_key="record.id")
    reported_tco2e: str = Field(max_length=40)
    verified_tco2e: str = Field(max_length=40)
    comment: str = Field(max_length=2000)
    recorded_by: int = Field(foreign_key="user_account.id")
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class VerificationReturn(OrgOwned, table=True):
    """A batch (a month) or the year's report sent back for supplement, with the verifier's comment."""

    __tablename__ = "verification_return"

    id: int | None = Field(default=None, primary_key=True)
    grant_id: int = Field(foreign_key="verification_grant.id", index=True)
    period: str = Field(max_length=7)
    record_id: int | None = Field(default=None, foreign_key="record.id")
    comment: str = Field(max_length=2000)
    returned_by: int = Field(foreign_key="user_account.id")
    returned_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class YearLock(OrgOwned, table=True):
    """A reporting year closed by a verification; it stays locked until a second person confirms an unlock
    someone else asked for with a reason. A new close after an unlock is a new row."""

    __tablename__ = "year_lock"

    id: int | None = Field(default=None, primary_key=True)
    year: int
    grant_id: int | None = Field(default=None, foreign_key="verification_grant.id")
    locked_by: int = Field(foreign_key="user_account.id")
    locked_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    unlock_reason: str | None = Field(default=None, max_length=2000)
    unlock_requested_by: int | None = Field(default=None, foreign_key="user_account.id")
    unlock_requested_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    unlocked_by: int | None = Field(default=None, foreign_key="user_account.id")
    unlocked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
