"""A grid emission factor an organization entered from a newly published notice: one row per version. A
correction is a new version with its reason; the earlier one is kept, marked superseded. No row is ever
deleted or changed otherwise (ADR 0039)."""

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field

from engine.carbon_data.models import DecimalText
from engine.models.base import OrgOwned, utcnow


class PublishedGridFactor(OrgOwned, table=True):
    __tablename__ = "published_grid_factor"
    __table_args__ = (sa.UniqueConstraint("org_id", "caliber", "region", "data_year", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    region: str = Field(max_length=20)  # normalized: 湖南, 华中, 全国
    data_year: int  # the year the factor describes, not the year it was published or used for
    caliber: str = Field(max_length=40)  # engine.emissions.factors.GRID_CALIBERS
    version: int
    value: Decimal = Field(sa_type=DecimalText)  # tCO2/MWh
    document: str = Field(max_length=300)  # the publishing document, e.g. 公告2026年第N号
    published_on: date | None = None
    evidence_id: int = Field(foreign_key="evidence_file.id")  # the notice, in the evidence store
    reason: str | None = Field(default=None, max_length=1000)  # required from version 2 on
    entered_by: int | None = Field(default=None, foreign_key="user_account.id")
    entered_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    superseded_by: int | None = Field(default=None, foreign_key="published_grid_factor.id")
    superseded_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))

    @property
    def current(self) -> bool:
        return self.superseded_at is None
