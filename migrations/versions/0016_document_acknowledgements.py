"""controlled documents: who acknowledged reading which version

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 11:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document_acknowledgement",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "user_id"),
    )
    op.create_index("ix_document_acknowledgement_org_id", "document_acknowledgement", ["org_id"])
    op.create_index("ix_document_acknowledgement_record_id", "document_acknowledgement", ["record_id"])


def downgrade() -> None:
    op.drop_index("ix_document_acknowledgement_record_id", table_name="document_acknowledgement")
    op.drop_index("ix_document_acknowledgement_org_id", table_name="document_acknowledgement")
    op.drop_table("document_acknowledgement")
