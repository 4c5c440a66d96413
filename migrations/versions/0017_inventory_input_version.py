"""inventory input versions: a counter per organization and year, the key of cached inventories

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 15:20:00.000000
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inventory_input_version",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("stamp", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_inventory_input_version_org_id_organization")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_input_version")),
        sa.UniqueConstraint("org_id", "year", name=op.f("uq_inventory_input_version_org_id_year")),
    )
    with op.batch_alter_table("inventory_input_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inventory_input_version_org_id"), ["org_id"], unique=False)
    # Existing data has no version yet: an "every year" row per organization makes its inventories cacheable.
    connection = op.get_bind()
    table = sa.table(
        "inventory_input_version",
        sa.column("org_id", sa.Integer()),
        sa.column("year", sa.Integer()),
        sa.column("version", sa.Integer()),
        sa.column("stamp", sa.String()),
    )
    org_ids = connection.execute(sa.text("SELECT id FROM organization")).scalars().all()
    if org_ids:
        connection.execute(
            table.insert(),
            [{"org_id": org_id, "year": 0, "version": 1, "stamp": uuid.uuid4().hex} for org_id in org_ids],
        )


def downgrade() -> None:
    with op.batch_alter_table("inventory_input_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_input_version_org_id"))
    op.drop_table("inventory_input_version")
