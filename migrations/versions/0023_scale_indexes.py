"""indexes for a group-sized organization: the audit trail by period, the records a person follows

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 19:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A period of the trail is one range of this index, newest first (bench.scale: a month of 1 M events).
    op.create_index("ix_audit_event_org_ts", "audit_event", ["org_id", "ts", "seq"])
    # The dashboard's records a person created or owns, newest change first: one range each.
    op.create_index("ix_record_org_created_by", "record", ["org_id", "created_by", "updated_at"])
    op.create_index("ix_record_org_owner", "record", ["org_id", "owner_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_record_org_owner", table_name="record")
    op.drop_index("ix_record_org_created_by", table_name="record")
    op.drop_index("ix_audit_event_org_ts", table_name="audit_event")
