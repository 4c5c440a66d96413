"""The audit trail over the JSON API: pages of events, and the chain check."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from engine.audit import verify_chain
from engine.audit_trail.service import TrailFilter, list_events
from engine.identity.models import TokenScope
from engine.values import Id
from web.deps import AuditReader, DatabaseDep, OrgSession, needs_scope

router = APIRouter(prefix="/api/v1", tags=["api"])
READ = needs_scope(TokenScope.read)  # the chain check (a POST) writes nothing either


class AuditEventOut(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the stored payload stays out; its changes are a field

    seq: int
    ts: str
    actor_id: int | None
    actor_name: str
    subject_type: str
    subject_id: str
    action: str
    from_state: str | None
    to_state: str | None
    reason: str | None
    changes: dict[str, Any]
    hash: str


class AuditPageOut(BaseModel):
    events: list[AuditEventOut]
    next_before_seq: int | None


class ChainCheckOut(BaseModel):
    ok: bool
    events_checked: int
    broken_seq: int | None
    problem: str | None


@router.get("/audit-events", dependencies=[READ])
def audit_events(
    principal: AuditReader,
    session: OrgSession,
    subject_type: str | None = None,
    subject_id: str | None = None,
    actor_id: Id | None = None,
    before: Id | None = None,
) -> AuditPageOut:
    page = list_events(
        session,
        trail_filter=TrailFilter(subject_type=subject_type, subject_id=subject_id, actor_id=actor_id),
        before_seq=before,
    )
    return AuditPageOut(
        events=[AuditEventOut(**event.__dict__, changes=event.changes) for event in page.events],
        next_before_seq=page.next_before_seq,
    )


@router.post("/audit-events/verify", dependencies=[READ])
def verify_audit_chain(principal: AuditReader, db: DatabaseDep) -> ChainCheckOut:
    assert principal.org is not None
    with db.engine.connect() as connection:
        check = verify_chain(connection, org_id=principal.org.id)
    return ChainCheckOut(
        ok=check.ok, events_checked=check.events_checked, broken_seq=check.broken_seq, problem=check.problem
    )
