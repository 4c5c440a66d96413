"""carbon performance parameters

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 18:40:38.234018
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('performance_parameter',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('formula', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('threshold_warn', sa.String(length=40), nullable=True),
    sa.Column('threshold_alarm', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_performance_parameter_org_id_organization')),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_performance_parameter_org_unit_id_org_unit')),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_performance_parameter_owner_id_user_account')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_performance_parameter_product_id_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_performance_parameter')),
    sa.UniqueConstraint('org_id', 'code', name=op.f('uq_performance_parameter_org_id_code'))
    )
    with op.batch_alter_table('performance_parameter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_performance_parameter_org_id'), ['org_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('performance_parameter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_performance_parameter_org_id'))

    op.drop_table('performance_parameter')
