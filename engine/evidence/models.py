"""Evidence files: one row per organization and content hash; the bytes live in the evidence store
(``TANGUAN_DATA_DIR/evidence``), named by the hash."""

from datetime import datetime

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
