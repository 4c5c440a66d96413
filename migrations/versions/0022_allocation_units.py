"""allocation units: the line or process that makes a product; allocation keys of shared electricity and heat

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_unit_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_product_org_unit_id_org_unit"), "org_unit", ["org_unit_id"], ["id"]
        )
    op.create_table(
        "allocation_key",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("basis", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["user_account.id"], name=op.f("fk_allocation_key_created_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_allocation_key_org_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["emission_source.id"], name=op.f("fk_allocation_key_source_id_emission_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_key")),
        sa.UniqueConstraint(
            "org_id", "source_id", "year", name=op.f("uq_allocation_key_org_id_source_id_year")
        ),
    )
    with op.batch_alter_table("allocation_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_key_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_allocation_key_source_id"), ["source_id"], unique=False)
    op.create_table(
        "allocation_share",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("metered_quantity", sa.BigInteger(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"], ["allocation_key.id"], name=op.f("fk_allocation_share_key_id_allocation_key")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_allocation_share_org_id_organization")
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"], ["org_unit.id"], name=op.f("fk_allocation_share_org_unit_id_org_unit")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_allocation_share_product_id_product")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_share")),
        sa.UniqueConstraint("key_id", "org_unit_id", name=op.f("uq_allocation_share_key_id_org_unit_id")),
    )
    with op.batch_alter_table("allocation_share", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_allocation_share_key_id"), ["key_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_allocation_share_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("allocation_share", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_share_org_id"))
        batch_op.drop_index(batch_op.f("ix_allocation_share_key_id"))
    op.drop_table("allocation_share")
    with op.batch_alter_table("allocation_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_key_source_id"))
        batch_op.drop_index(batch_op.f("ix_allocation_key_org_id"))
    op.drop_table("allocation_key")
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_product_org_unit_id_org_unit"), type_="foreignkey")
        batch_op.drop_column("org_unit_id")
