"""The append-only audit trail: one hash chain per organization.

``payload`` is the canonical JSON that was hashed; the other columns repeat some of it so that the
trail can be filtered with indexes. Verification checks that both agree.
"""

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.models.base import OrgOwned

GENESIS_HASH = "0" * 64


class AuditEvent(OrgOwned, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        sa.Index("ix_audit_event_org_subject", "org_id", "subject_type", "subject_id", "seq"),
        sa.Index("ix_audit_event_org_actor", "org_id", "actor_id", "seq"),
        # A period, newest first: time order is chain order (verify_chain checks it).
        sa.Index("ix_audit_event_org_ts", "org_id", "ts", "seq"),
        # Clustered on (org_id, seq) in SQLite: a chain is one contiguous range, read in order by verify.
        {"sqlite_with_rowid": False},
    )

    # An event is identified by its place in its organization's chain.
    org_id: int = Field(foreign_key="organization.id", primary_key=True)
    seq: int = Field(primary_key=True)
    ts: str = Field(max_length=27)
    actor_id: int | None = Field(default=None)
    actor_name: str = Field(max_length=200)
    subject_type: str = Field(max_length=64)
    subject_id: str = Field(max_length=64)
    action: str = Field(max_length=64)
    from_state: str | None = Field(default=None, max_length=64)
    to_state: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    signature_id: int | None = Field(default=None)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    payload: str = Field(sa_type=sa.Text)


class AuditChainHead(SQLModel, table=True):
    """The last link of each organization's chain; locking this row serializes appends."""

    __tablename__ = "audit_chain_head"

    org_id: int = Field(foreign_key="organization.id", primary_key=True)
    last_seq: int = 0
    last_hash: str = Field(default=GENESIS_HASH, max_length=64)


class AuditCheckpoint(OrgOwned, table=True):
    """A chain head signed with Ed25519 by a key derived from the installation key, which is never in the
    database (docs/adr/0032). Append-only like the trail: a rewritten or truncated chain no longer matches
    a checkpoint, and a checkpoint cannot be forged without the key."""

    __tablename__ = "audit_checkpoint"
    __table_args__ = (sa.Index("ix_audit_checkpoint_org_seq", "org_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    seq: int
    head_hash: str = Field(max_length=64)
    signed_at: str = Field(max_length=27)  # UTC ISO, as the events' ts: it is part of the signed message
    reason: str = Field(max_length=16)  # daily / pack / manual
    public_key: str = Field(max_length=64)
    signature: str = Field(max_length=128)
