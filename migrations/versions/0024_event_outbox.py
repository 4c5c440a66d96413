"""event outbox: every domain event written in the transaction that causes it; subscribers' receipts

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_event_outbox_org_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_outbox")),
    )
    with op.batch_alter_table("event_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_outbox_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            "ix_event_outbox_dispatched_at_created_at", ["dispatched_at", "created_at"], unique=False
        )
    op.create_table(
        "event_receipt",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("consumer", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event_outbox.id"], name=op.f("fk_event_receipt_event_id_event_outbox")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_event_receipt_org_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_receipt")),
        sa.UniqueConstraint("event_id", "consumer", name=op.f("uq_event_receipt_event_id_consumer")),
    )
    with op.batch_alter_table("event_receipt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_receipt_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_table("event_receipt")
    op.drop_table("event_outbox")
