"""JSON API for integrations (``/api/v1``): the same authorization rules as the pages. Authenticated
by a personal access token (``Authorization: Bearer …``) or by the browser session."""

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from engine.identity.models import TokenScope
from engine.identity.users import get_member, list_members
from engine.values import Id
from web.deps import Admin, Member, OrgSession, needs_scope

router = APIRouter(prefix="/api/v1", tags=["api"])
READ = needs_scope(TokenScope.read)


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


class MemberOut(BaseModel):
    id: int
    email: str
    display_name: str
    is_active: bool
    roles: list[str]


@router.get("/me", dependencies=[READ])
def me(principal: Member) -> MeOut:
    assert principal.org is not None
    org = principal.org
    return MeOut(
        id=principal.user_id,
        email=principal.email,
        display_name=principal.display_name,
        organization=OrganizationOut(id=org.id, slug=org.slug, name=org.name),
        roles=sorted(principal.roles),
    )


@router.get("/users", dependencies=[READ])
def users(principal: Admin, session: OrgSession) -> list[MemberOut]:
    assert principal.org is not None
    return [
        MemberOut(id=u.id, email=u.email, display_name=u.display_name, is_active=u.is_active, roles=roles)
        for u, roles in list_members(session, org_id=principal.org.id)
    ]


@router.get("/users/{user_id}", dependencies=[READ])
def user(principal: Admin, session: OrgSession, user_id: Id) -> MemberOut:
    assert principal.org is not None
    member = get_member(session, org_id=principal.org.id, user_id=user_id)
    if member is None:
        raise HTTPException(404)
    u, roles = member
    return MemberOut(id=u.id, email=u.email, display_name=u.display_name, is_active=u.is_active, roles=roles)
