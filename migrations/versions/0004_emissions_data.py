"""emissions data

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 17:39:58.929388
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen inventory is never changed or removed: the database refuses it, as for the audit trail.
FROZEN_SQLITE = [
    "CREATE TRIGGER inventory_snapshot_no_update BEFORE UPDATE ON inventory_snapshot "
    "BEGIN SELECT RAISE(ABORT, 'inventory_snapshot is frozen'); END",
    "CREATE TRIGGER inventory_snapshot_no_delete BEFORE DELETE ON inventory_snapshot "
    "BEGIN SELECT RAISE(ABORT, 'inventory_snapshot is frozen'); END",
]
FROZEN_POSTGRESQL = [
    """CREATE FUNCTION inventory_snapshot_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'inventory_snapshot is frozen'; END $$""",
    "CREATE TRIGGER inventory_snapshot_no_update_delete BEFORE UPDATE OR DELETE ON inventory_snapshot "
    "FOR EACH ROW EXECUTE FUNCTION inventory_snapshot_frozen()",
    "CREATE TRIGGER inventory_snapshot_no_truncate BEFORE TRUNCATE ON inventory_snapshot "
    "FOR EACH STATEMENT EXECUTE FUNCTION inventory_snapshot_frozen()",
]


def upgrade() -> None:
    op.create_table('emission_baseline',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('periods', sa.JSON(), nullable=False),
    sa.Column('adjustments', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_emission_baseline_created_by_user_account')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_emission_baseline_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emission_baseline')),
    sa.UniqueConstraint('org_id', 'name', name=op.f('uq_emission_baseline_org_id_name'))
    )
    with op.batch_alter_table('emission_baseline', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emission_baseline_org_id'), ['org_id'], unique=False)

    op.create_table('ingest_idempotency',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('request_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_ingest_idempotency_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_idempotency')),
    sa.UniqueConstraint('org_id', 'key', name=op.f('uq_ingest_idempotency_org_id_key'))
    )
    with op.batch_alter_table('ingest_idempotency', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_idempotency_org_id'), ['org_id'], unique=False)

    op.create_table('inventory_snapshot',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('factor_set', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('gwp_set', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('inputs_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('total_tco2e', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('frozen', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_inventory_snapshot_created_by_user_account')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_inventory_snapshot_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory_snapshot')),
    sa.UniqueConstraint('org_id', 'year', 'inputs_sha256', name=op.f('uq_inventory_snapshot_org_id_year_inputs_sha256'))
    )
    with op.batch_alter_table('inventory_snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inventory_snapshot_org_id'), ['org_id'], unique=False)

    op.create_table('reading_batch',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('inserted', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_reading_batch_created_by_user_account')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_reading_batch_org_id_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reading_batch'))
    )
    with op.batch_alter_table('reading_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reading_batch_org_id'), ['org_id'], unique=False)
        batch_op.create_index('ix_reading_batch_org_sha256', ['org_id', 'sha256'], unique=False)

    op.create_table('emission_source',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_unit_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('fuel_or_material', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('factor_choice', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('factor_value', sa.String(length=40), nullable=True),
    sa.Column('factor_unit', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('gas', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('meter', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('tier', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_emission_source_org_id_organization')),
    sa.ForeignKeyConstraint(['org_unit_id'], ['org_unit.id'], name=op.f('fk_emission_source_org_unit_id_org_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emission_source')),
    sa.UniqueConstraint('org_id', 'code', name=op.f('uq_emission_source_org_id_code'))
    )
    with op.batch_alter_table('emission_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emission_source_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_emission_source_org_unit_id'), ['org_unit_id'], unique=False)

    op.create_table('emission_target',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('base_year', sa.Integer(), nullable=False),
    sa.Column('target_year', sa.Integer(), nullable=False),
    sa.Column('reduction_pct', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_emission_target_created_by_user_account')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_emission_target_org_id_organization')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_emission_target_product_id_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emission_target'))
    )
    with op.batch_alter_table('emission_target', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emission_target_org_id'), ['org_id'], unique=False)

    op.create_table('production_output',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('output_value_10k_cny', sa.BigInteger(), nullable=True),
    sa.Column('evidence_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('entered_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entered_by'], ['user_account.id'], name=op.f('fk_production_output_entered_by_user_account')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_production_output_org_id_organization')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_production_output_product_id_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_production_output')),
    sa.UniqueConstraint('org_id', 'product_id', 'period', name=op.f('uq_production_output_org_id_product_id_period'))
    )
    with op.batch_alter_table('production_output', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_production_output_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_production_output_product_id'), ['product_id'], unique=False)

    op.create_table('activity_reading',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('tier', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('evidence_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('entered_by', sa.Integer(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['reading_batch.id'], name=op.f('fk_activity_reading_batch_id_reading_batch')),
    sa.ForeignKeyConstraint(['entered_by'], ['user_account.id'], name=op.f('fk_activity_reading_entered_by_user_account')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_activity_reading_org_id_organization')),
    sa.ForeignKeyConstraint(['source_id'], ['emission_source.id'], name=op.f('fk_activity_reading_source_id_emission_source')),
    sa.PrimaryKeyConstraint('org_id', 'source_id', 'period_start', name=op.f('pk_activity_reading')),
    sqlite_with_rowid=False
    )
    op.create_table('measured_parameter',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('ncv', sa.String(length=40), nullable=True),
    sa.Column('ncv_unit', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('carbon_content', sa.String(length=40), nullable=True),
    sa.Column('oxidation_rate', sa.String(length=40), nullable=True),
    sa.Column('evidence_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('entered_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entered_by'], ['user_account.id'], name=op.f('fk_measured_parameter_entered_by_user_account')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_measured_parameter_org_id_organization')),
    sa.ForeignKeyConstraint(['source_id'], ['emission_source.id'], name=op.f('fk_measured_parameter_source_id_emission_source')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_measured_parameter')),
    sa.UniqueConstraint('org_id', 'source_id', 'period', name=op.f('uq_measured_parameter_org_id_source_id_period'))
    )
    with op.batch_alter_table('measured_parameter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_measured_parameter_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_measured_parameter_source_id'), ['source_id'], unique=False)

    dialect = op.get_bind().dialect.name
    for statement in FROZEN_POSTGRESQL if dialect == "postgresql" else FROZEN_SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER inventory_snapshot_no_truncate ON inventory_snapshot")
        op.execute("DROP TRIGGER inventory_snapshot_no_update_delete ON inventory_snapshot")
        op.execute("DROP FUNCTION inventory_snapshot_frozen()")
    with op.batch_alter_table('measured_parameter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_measured_parameter_source_id'))
        batch_op.drop_index(batch_op.f('ix_measured_parameter_org_id'))

    op.drop_table('measured_parameter')
    op.drop_table('activity_reading')
    with op.batch_alter_table('production_output', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_production_output_product_id'))
        batch_op.drop_index(batch_op.f('ix_production_output_org_id'))

    op.drop_table('production_output')
    with op.batch_alter_table('emission_target', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_emission_target_org_id'))

    op.drop_table('emission_target')
    with op.batch_alter_table('emission_source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_emission_source_org_unit_id'))
        batch_op.drop_index(batch_op.f('ix_emission_source_org_id'))

    op.drop_table('emission_source')
    with op.batch_alter_table('reading_batch', schema=None) as batch_op:
        batch_op.drop_index('ix_reading_batch_org_sha256')
        batch_op.drop_index(batch_op.f('ix_reading_batch_org_id'))

    op.drop_table('reading_batch')
    with op.batch_alter_table('inventory_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inventory_snapshot_org_id'))

    op.drop_table('inventory_snapshot')
    with op.batch_alter_table('ingest_idempotency', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_idempotency_org_id'))

    op.drop_table('ingest_idempotency')
    with op.batch_alter_table('emission_baseline', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_emission_baseline_org_id'))

    op.drop_table('emission_baseline')
