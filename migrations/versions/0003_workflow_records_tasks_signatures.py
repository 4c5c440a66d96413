"""workflow records tasks signatures

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 17:09:35.734256
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('workflow_definition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_definition')),
    sa.UniqueConstraint('key', 'version', name=op.f('uq_workflow_definition_key_version'))
    )
    op.create_table('number_sequence',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('series', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_number_sequence_org_id_organization')),
    sa.PrimaryKeyConstraint('org_id', 'series', name=op.f('pk_number_sequence'))
    )
    op.create_table('record',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workflow_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('workflow_version', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('participants', sa.JSON(), nullable=False),
    sa.Column('clause_refs', sa.JSON(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['user_account.id'], name=op.f('fk_record_assignee_id_user_account')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_record_created_by_user_account')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_record_org_id_organization')),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_record_owner_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record')),
    sa.UniqueConstraint('org_id', 'number', name=op.f('uq_record_org_id_number'))
    )
    with op.batch_alter_table('record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_record_org_id'), ['org_id'], unique=False)
        batch_op.create_index('ix_record_org_workflow_state', ['org_id', 'workflow_key', 'state'], unique=False)

    op.create_table('record_link',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('from_record_id', sa.Integer(), nullable=False),
    sa.Column('to_record_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.ForeignKeyConstraint(['from_record_id'], ['record.id'], name=op.f('fk_record_link_from_record_id_record')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_record_link_org_id_organization')),
    sa.ForeignKeyConstraint(['to_record_id'], ['record.id'], name=op.f('fk_record_link_to_record_id_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_record_link')),
    sa.UniqueConstraint('from_record_id', 'to_record_id', 'kind', name=op.f('uq_record_link_from_record_id_to_record_id_kind'))
    )
    with op.batch_alter_table('record_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_record_link_from_record_id'), ['from_record_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_record_link_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_record_link_to_record_id'), ['to_record_id'], unique=False)

    op.create_table('signature',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('meaning', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('signer_id', sa.Integer(), nullable=False),
    sa.Column('signer_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('signed_at', sqlmodel.sql.sqltypes.AutoString(length=27), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('seal', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_signature_org_id_organization')),
    sa.ForeignKeyConstraint(['record_id'], ['record.id'], name=op.f('fk_signature_record_id_record')),
    sa.ForeignKeyConstraint(['signer_id'], ['user_account.id'], name=op.f('fk_signature_signer_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signature'))
    )
    with op.batch_alter_table('signature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signature_org_id'), ['org_id'], unique=False)
        batch_op.create_index('ix_signature_record', ['record_id'], unique=False)

    op.create_table('task',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['user_account.id'], name=op.f('fk_task_assignee_id_user_account')),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], name=op.f('fk_task_org_id_organization')),
    sa.ForeignKeyConstraint(['record_id'], ['record.id'], name=op.f('fk_task_record_id_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task'))
    )
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_org_id'), ['org_id'], unique=False)
        batch_op.create_index('ix_task_org_open_role', ['org_id', 'closed_at', 'role'], unique=False)
        batch_op.create_index('ix_task_record', ['record_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index('ix_task_record')
        batch_op.drop_index('ix_task_org_open_role')
        batch_op.drop_index(batch_op.f('ix_task_org_id'))

    op.drop_table('task')
    with op.batch_alter_table('signature', schema=None) as batch_op:
        batch_op.drop_index('ix_signature_record')
        batch_op.drop_index(batch_op.f('ix_signature_org_id'))

    op.drop_table('signature')
    with op.batch_alter_table('record_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_record_link_to_record_id'))
        batch_op.drop_index(batch_op.f('ix_record_link_org_id'))
        batch_op.drop_index(batch_op.f('ix_record_link_from_record_id'))

    op.drop_table('record_link')
    with op.batch_alter_table('record', schema=None) as batch_op:
        batch_op.drop_index('ix_record_org_workflow_state')
        batch_op.drop_index(batch_op.f('ix_record_org_id'))

    op.drop_table('record')
    op.drop_table('number_sequence')
    op.drop_table('workflow_definition')
