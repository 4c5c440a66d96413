"""Workflow records and what hangs off them: links, tasks, signatures, definitions, numbering.

The tables know nothing of any particular workflow: a record is (workflow key, pinned version, state,
form data as JSON) and the workflow files say what those mean.
"""

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel

from engine.models.base import OrgOwned, utcnow


class WorkflowDefinition(SQLModel, table=True):
    """Every version of every workflow file ever loaded: records stay pinned to theirs."""

    __tablename__ = "workflow_definition"
    __table_args__ = (sa.UniqueConstraint("key", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64)
    version: int
    sha256: str = Field(max_length=64)
    spec: dict[str, Any] = Field(sa_type=JSON)
    loaded_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Record(OrgOwned, table=True):
    __table_args__ = (
        sa.UniqueConstraint("org_id", "number"),
        sa.Index("ix_record_org_workflow_state", "org_id", "workflow_key", "state"),
        # The dashboard's records a person follows, newest change first (engine.records.dashboard).
        sa.Index("ix_record_org_created_by", "org_id", "created_by", "updated_at"),
        sa.Index("ix_record_org_owner", "org_id", "owner_id", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workflow_key: str = Field(max_length=64)
    workflow_version: int
    number: str = Field(max_length=64)
    title: str = Field(max_length=300)
    state: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # Who fired which trigger (the last time): separation-of-duties rules read it.
    participants: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    clause_refs: list[str] = Field(default_factory=list, sa_type=JSON)
    owner_id: int | None = Field(default=None, foreign_key="user_account.id")
    assignee_id: int | None = Field(default=None, foreign_key="user_account.id")
    due_date: date | None = None
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    version: int = 1  # optimistic lock: every change bumps it


class RecordLink(OrgOwned, table=True):
    __tablename__ = "record_link"
    __table_args__ = (sa.UniqueConstraint("from_record_id", "to_record_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    from_record_id: int = Field(foreign_key="record.id", index=True)
    to_record_id: int = Field(foreign_key="record.id", index=True)
    kind: str = Field(default="related", max_length=32)


class Task(OrgOwned, table=True):
    """Who must act on which record by when: derived from the state's owner role and the assignee, and from
    the rows of the record's tables that are tasks (``row_tasks``)."""

    __table_args__ = (
        sa.Index("ix_task_org_open_role", "org_id", "closed_at", "role"),
        sa.Index("ix_task_record", "record_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id")
    state: str = Field(max_length=64)
    role: str | None = Field(default=None, max_length=32)
    assignee_id: int | None = Field(default=None, foreign_key="user_account.id")
    due_date: date | None = None
    # A task from a row of the record's table (a corrective action): what the row says must be done.
    detail: str | None = Field(default=None, max_length=300)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class Signature(OrgOwned, table=True):
    """An electronic signature: printed name, UTC time, meaning and the hash of the exact content signed
    (``hash_scheme`` says what that content was: engine.workflow.signing, ADR 0012). ``seal`` is an HMAC
    with the installation key, so a row copied or forged in the database fails."""

    __table_args__ = (sa.Index("ix_signature_record", "record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id")
    record_version: int
    trigger: str = Field(max_length=64)
    meaning: str = Field(max_length=32)
    signer_id: int = Field(foreign_key="user_account.id")
    signer_name: str = Field(max_length=120)
    signed_at: str = Field(max_length=27)
    content_hash: str = Field(max_length=64)
    hash_scheme: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    seal: str = Field(max_length=64)


class NumberSequence(OrgOwned, table=True):
    """The last number handed out per organization and series (e.g. ``NC-2026``)."""

    __tablename__ = "number_sequence"

    org_id: int = Field(foreign_key="organization.id", primary_key=True)
    series: str = Field(max_length=64, primary_key=True)
    last: int = 0
