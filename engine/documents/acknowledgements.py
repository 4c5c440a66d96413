"""Who has acknowledged reading which version of a document. Which people must read a version is the
process's rule (its distribution); this module only records and reports, audited in the same transaction."""

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.documents.models import DocumentAcknowledgement
from engine.models.base import utcnow


def acknowledged(session: Session, *, record_ids: Iterable[int]) -> dict[int, dict[int, datetime]]:
    """Version id → {user id → when}, for the session's organization."""
    wanted = sorted(set(record_ids))
    if not wanted:
        return {}
    rows = session.exec(
        select(DocumentAcknowledgement).where(col(DocumentAcknowledgement.record_id).in_(wanted))
    ).all()
    found: dict[int, dict[int, datetime]] = {}
    for row in rows:
        found.setdefault(row.record_id, {})[row.user_id] = row.acknowledged_at
    return found


def acknowledged_by(session: Session, *, user_id: int, record_ids: Iterable[int]) -> set[int]:
    """Which of these versions the person has acknowledged."""
    wanted = sorted(set(record_ids))
    if not wanted:
        return set()
    return set(
        session.exec(
            select(DocumentAcknowledgement.record_id).where(
                DocumentAcknowledgement.user_id == user_id, col(DocumentAcknowledgement.record_id).in_(wanted)
            )
        ).all()
    )


def acknowledge(
    session: Session, *, org_id: int, record_id: int, actor: Actor, now: datetime | None = None
) -> tuple[DocumentAcknowledgement, bool]:
    """Record that ``actor`` has read the version; (the row, whether it is new). Acknowledging twice
    keeps the first time."""
    assert actor.id is not None
    existing = session.exec(
        select(DocumentAcknowledgement).where(
            DocumentAcknowledgement.record_id == record_id, DocumentAcknowledgement.user_id == actor.id
        )
    ).first()
    if existing is not None:
        return existing, False
    row = DocumentAcknowledgement(
        org_id=org_id, record_id=record_id, user_id=actor.id, acknowledged_at=now or utcnow()
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="record",
        subject_id=record_id,
        action="acknowledged",
        changes={"acknowledged_by": [None, actor.id]},
    )
    return row, True
