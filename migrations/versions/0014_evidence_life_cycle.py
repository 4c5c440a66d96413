"""the evidence life cycle: owner, validity period, versions, withdrawal (a tombstone); record → evidence links

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_USER_COLUMNS = ("owner_id", "withdrawn_by")


def upgrade() -> None:
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("valid_until", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("superseded_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_by", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("withdrawn_reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_evidence_file_item_id"), ["item_id"], unique=False)
        for column in _USER_COLUMNS:
            batch_op.create_foreign_key(
                batch_op.f(f"fk_evidence_file_{column}_user_account"), "user_account", [column], ["id"]
            )
        batch_op.create_foreign_key(
            batch_op.f("fk_evidence_file_superseded_by_evidence_file"), "evidence_file", ["superseded_by"], ["id"]
        )
    # Every file uploaded so far is the first version of its own item, owned by its uploader.
    op.execute("UPDATE evidence_file SET item_id = id, owner_id = uploaded_by")
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.alter_column("version", server_default=None)
    op.create_table(
        "evidence_link",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organization.id"], name=op.f("fk_evidence_link_org_id_organization")),
        sa.ForeignKeyConstraint(["record_id"], ["record.id"], name=op.f("fk_evidence_link_record_id_record")),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence_file.id"], name=op.f("fk_evidence_link_evidence_id_evidence_file")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_link")),
        sa.UniqueConstraint("record_id", "evidence_id", name=op.f("uq_evidence_link_record_id_evidence_id")),
    )
    with op.batch_alter_table("evidence_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_link_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_link_record_id"), ["record_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_link_evidence_id"), ["evidence_id"], unique=False)


def downgrade() -> None:
    op.drop_table("evidence_link")
    with op.batch_alter_table("evidence_file", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_evidence_file_superseded_by_evidence_file"), type_="foreignkey")
        for column in _USER_COLUMNS:
            batch_op.drop_constraint(batch_op.f(f"fk_evidence_file_{column}_user_account"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_evidence_file_item_id"))
        for column in (
            "withdrawn_reason", "withdrawn_by", "withdrawn_at", "superseded_at", "superseded_by",
            "valid_until", "valid_from", "owner_id", "version", "item_id",
        ):  # fmt: skip
            batch_op.drop_column(column)
