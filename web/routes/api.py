"""JSON API for integrations (``/api/v1``): the same authorization rules as the pages. Authenticated
by a personal access token (``Authorization: Bearer …``) or by the browser session."""

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict

from engine.audit import verify_chain
from engine.audit_trail.service import TrailFilter, list_events
from engine.identity.users import get_member, list_members
from web.deps import Admin, AuditReader, DatabaseDep, Member, OrgSession

router = APIRouter(prefix="/api/v1", tags=["api"])


class OrganizationOut(BaseModel):
    id: int
    slug: str
    name: str


class MeOut(BaseModel):
    id: int
    email: str
    display_name: str
    organization: OrganizationOut
    roles: list[str]


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
    changes: dict
    hash: str


class AuditPageOut(BaseModel):
    events: list[AuditEventOut]
    next_before_seq: int | None


class ChainCheckOut(BaseModel):
    ok: bool
    events_checked: int
    broken_seq: int | None
    problem: str | None


class MemberOut(BaseModel):
    id: int
    email: str
    display_name: str
    is_active: bool
    roles: list[str]


@router.get("/me")
def me(principal: Member) -> MeOut:
    org = principal.org
    return MeOut(
        id=principal.user_id,
        email=principal.email,
        display_name=principal.display_name,
        organization=OrganizationOut(id=org.id, slug=org.slug, name=org.name),
        roles=sorted(principal.roles),
    )


@router.get("/audit-events")
def audit_events(
    principal: AuditReader,
    session: OrgSession,
    subject_type: str | None = None,
    subject_id: str | None = None,
    actor_id: int | None = None,
    before: int | None = None,
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


@router.post("/audit-events/verify")
def verify_audit_chain(principal: AuditReader, db: DatabaseDep) -> ChainCheckOut:
    with db.engine.connect() as connection:
        check = verify_chain(connection, org_id=principal.org.id)
    return ChainCheckOut(
        ok=check.ok, events_checked=check.events_checked, broken_seq=check.broken_seq, problem=check.problem
    )


@router.get("/users")
def users(principal: Admin, session: OrgSession) -> list[MemberOut]:
    return [
        MemberOut(id=u.id, email=u.email, display_name=u.display_name, is_active=u.is_active, roles=roles)
        for u, roles in list_members(session, org_id=principal.org.id)
    ]


@router.get("/users/{user_id}")
def user(principal: Admin, session: OrgSession, user_id: int) -> MemberOut:
    member = get_member(session, org_id=principal.org.id, user_id=user_id)
    if member is None:
        raise HTTPException(404)
    u, roles = member
    return MemberOut(id=u.id, email=u.email, display_name=u.display_name, is_active=u.is_active, roles=roles)
