"""Evidence files: one row per organization and content hash; the bytes live in the evidence store
(``TANGUAN_DATA_DIR/evidence``), named by the hash. Each row is one version of an evidence item
(``item_id``: the first version's id): a new version supersedes the one before, both are kept. A row is
never deleted: one uploaded by mistake is withdrawn (a tombstone with its reason, ADR 0034)."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field

from engine.models.base import OrgOwned, utcnow


class EvidenceFile(OrgOwned, table=True):
    __tablename__ = "evidence_file"
    __table_args__ = (sa.UniqueConstraint("org_id", "sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64)
    filename: str = Field(max_length=200)  # shown and offered as the download name; never a path
    content_type: str = Field(max_length=100)
    size_bytes: int = Field(sa_type=sa.BigInteger)
    uploaded_by: int | None = Field(default=None, foreign_key="user_account.id")
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    item_id: int | None = Field(default=None, index=True)  # None until flushed: then the row's own id
    version: int = 1
    owner_id: int | None = Field(default=None, foreign_key="user_account.id")
    valid_from: date | None = None
    valid_until: date | None = None  # the last day it is valid; None: it does not expire
    superseded_by: int | None = Field(default=None, foreign_key="evidence_file.id")
    superseded_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    withdrawn_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    withdrawn_by: int | None = Field(default=None, foreign_key="user_account.id")
    withdrawn_reason: str | None = Field(default=None, max_length=1000)


class EvidenceLink(OrgOwned, table=True):
    """A record whose data names an evidence file (kept as the record is written): the coverage map and
    the evidence page read it instead of every record's data."""

    __tablename__ = "evidence_link"
    __table_args__ = (sa.UniqueConstraint("record_id", "evidence_id"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    evidence_id: int = Field(foreign_key="evidence_file.id", index=True)
