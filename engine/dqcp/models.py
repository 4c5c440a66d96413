"""One row per (plan row, month): the month's filing obligation — its task, the proof filed, and a value
substituted under the row's missing-data rule. The plan itself is a record (workflow file ``dqcp``); its
rows live in the record's data, keyed by their ``code``, which stays the same across revisions."""

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field

from engine.carbon_data.models import DecimalText
from engine.models.base import OrgOwned, utcnow


class MonthlyFiling(OrgOwned, table=True):
    __tablename__ = "dqcp_monthly_filing"
    __table_args__ = (sa.UniqueConstraint("org_id", "row_code", "period", name="uq_dqcp_filing_row_period"),)

    id: int | None = Field(default=None, primary_key=True)
    row_code: str = Field(max_length=64)
    period: str = Field(max_length=7)  # YYYY-MM
    due_date: date
    task_id: int | None = Field(default=None, foreign_key="task.id")
    proof_evidence_id: int | None = Field(default=None, foreign_key="evidence_file.id")
    filed_by: int | None = Field(default=None, foreign_key="user_account.id")
    filed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # A gap filled with the row's missing-data rule: which rule, the value it gave, and why.
    substitution_rule: str | None = Field(default=None, max_length=32)
    substituted_value: Decimal | None = Field(default=None, sa_type=DecimalText)
    substitution_reason: str | None = Field(default=None, max_length=1000)
    substituted_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
