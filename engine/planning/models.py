"""6.3 tables: baselines, targets and carbon performance parameters."""

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Field

from engine.carbon_data.models import DecimalText
from engine.models.base import OrgOwned, utcnow


class EmissionBaseline(OrgOwned, table=True):
    """Carbon baseline: weighted periods ``[{year, weight}]`` and recorded adjustments
    ``[{reason, delta_tco2e}]`` (decimals as text)."""

    __tablename__ = "emission_baseline"
    __table_args__ = (sa.UniqueConstraint("org_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    periods: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    adjustments: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    created_by: int | None = Field(default=None, foreign_key="user_account.id")


class EmissionTarget(OrgOwned, table=True):
    """A reduction target: total emissions, or intensity per unit of ``product_id``."""

    __tablename__ = "emission_target"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # total | intensity (engine.emissions.TargetKind)
    base_year: int
    target_year: int
    reduction_pct: Decimal = Field(sa_type=DecimalText)
    product_id: int | None = Field(default=None, foreign_key="product.id")
    note: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    created_by: int | None = Field(default=None, foreign_key="user_account.id")


class PerformanceParameter(OrgOwned, table=True):
    """A carbon performance parameter (6.3): a formula over inventory quantities at one of four levels,
    with a unit, an owner and thresholds (a value above ``threshold_alarm`` is an alarm, above
    ``threshold_warn`` a warning: lower is better)."""

    __tablename__ = "performance_parameter"
    __table_args__ = (sa.UniqueConstraint("org_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    level: str = Field(max_length=16)  # enterprise | department | facility | product
    org_unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    product_id: int | None = Field(default=None, foreign_key="product.id")
    formula: str = Field(max_length=500)
    unit: str = Field(max_length=32)
    owner_id: int | None = Field(default=None, foreign_key="user_account.id")
    threshold_warn: Decimal | None = Field(default=None, sa_type=DecimalText)
    threshold_alarm: Decimal | None = Field(default=None, sa_type=DecimalText)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
