"""The transactional outbox of domain events (docs/adr/0045): a row per ``record_event``, written in the
transaction that causes the event, so a committed change always has its event, whatever happens to the
process after COMMIT. ``dispatched_at`` is set once every subscriber has taken the event."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Field

from engine.models.base import OrgOwned


class EventOutbox(OrgOwned, table=True):
    __tablename__ = "event_outbox"
    # The undispatched rows by age (redelivery) and the dispatched ones by age (clean-up): one range each.
    __table_args__ = (sa.Index("ix_event_outbox_dispatched_at_created_at", "dispatched_at", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)  # e.g. "nonconformity.assess"
    payload: dict[str, Any] = Field(sa_type=JSON)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    dispatched_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    attempts: int = 0
    # When a dispatcher last took the row: the scheduler leaves it alone for a grace period after that.
    attempted_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_error: str | None = Field(default=None, sa_type=sa.Text)


class EventReceipt(OrgOwned, table=True):
    """A subscriber's effect of one event happened: written in the subscriber's own transaction, so the
    event delivered again (at least once) finds it and does nothing."""

    __tablename__ = "event_receipt"
    __table_args__ = (sa.UniqueConstraint("event_id", "consumer"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event_outbox.id")
    consumer: str = Field(max_length=120)
    done_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
