"""Administration of the organization's users and memberships."""

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from engine.db import Database
from engine.identity.models import Role, User
from engine.identity.users import (
    UserError,
    admin_can_disable,
    get_member,
    get_user,
    grant_membership,
    invite_user,
    list_members,
    set_user_active,
)
from engine.passwords import PasswordPolicyError
from engine.values import Id
from web.deps import Admin, DatabaseDep, OrgSession, OrgUnitOfWork, Principal, actor_of
from web.templating import render

router = APIRouter(prefix="/admin")

ROLES = [role.value for role in Role]


@router.get("/users")
def users_page(request: Request, principal: Admin, session: OrgSession) -> Response:
    assert principal.org is not None
    members = list_members(session, org_id=principal.org.id)
    return render(
        request, "admin_users.html", {"members": members, "roles": ROLES, "invited": None, "error": None}
    )


@router.post("/users")
def invite(
    request: Request,
    principal: Admin,
    uow: OrgUnitOfWork,
    email: Annotated[str, Form(max_length=254)],
    display_name: Annotated[str, Form(max_length=120)],
    roles: Annotated[list[str], Form()],
) -> Response:
    assert principal.org is not None
    error = None
    invited = None
    try:
        user, password = invite_user(
            uow.session,
            org_id=principal.org.id,
            email=email,
            display_name=display_name,
            roles=roles,
            actor=actor_of(principal),
        )
        invited = {"email": user.email, "password": password}
    except (UserError, PasswordPolicyError) as exc:
        uow.session.rollback()
        error = str(exc)
    members = list_members(uow.session, org_id=principal.org.id)
    return render(
        request,
        "admin_users.html",
        {"members": members, "roles": ROLES, "invited": invited, "error": error},
        status_code=422 if error else 200,
    )


def _member_or_404(session: Session, principal: Principal, user_id: int) -> tuple[User, list[str]]:
    assert principal.org is not None
    member = get_member(session, org_id=principal.org.id, user_id=user_id)
    if member is None:
        raise HTTPException(404)
    return member


@router.get("/users/{user_id}")
def user_page(request: Request, principal: Admin, session: OrgSession, user_id: Id) -> Response:
    user, roles = _member_or_404(session, principal, user_id)
    return render(
        request, "admin_user.html", {"user": user, "member_roles": roles, "roles": ROLES, "error": None}
    )


@router.post("/users/{user_id}/roles")
def set_roles(
    principal: Admin,
    uow: OrgUnitOfWork,
    user_id: Id,
    roles: Annotated[list[str], Form()],
) -> Response:
    assert principal.org is not None
    user, _ = _member_or_404(uow.session, principal, user_id)
    try:
        grant_membership(
            uow.session, org_id=principal.org.id, user=user, roles=roles, actor=actor_of(principal)
        )
    except UserError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/users/{user_id}/disable")
def disable(
    principal: Admin,
    session: OrgSession,
    db: DatabaseDep,
    user_id: Id,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _set_active(db, session, principal, user_id, active=False, reason=reason)


@router.post("/users/{user_id}/enable")
def enable(principal: Admin, session: OrgSession, db: DatabaseDep, user_id: Id) -> Response:
    return _set_active(db, session, principal, user_id, active=True, reason=None)


def _set_active(
    db: Database, session: Session, principal: Principal, user_id: int, *, active: bool, reason: str | None
) -> Response:
    _member_or_404(session, principal, user_id)  # not a member here: 404, whatever exists elsewhere
    if user_id == principal.user_id:
        raise HTTPException(409, detail="self")
    # An account spans organizations, so this write is made across them — after the checks.
    with db.unit_of_work(all_orgs=True) as uow:
        if not admin_can_disable(uow.session, admin_user_id=principal.user_id, user_id=user_id):
            raise HTTPException(403, detail="other_org_admin")
        user = get_user(uow.session, user_id=user_id)
        assert user is not None
        set_user_active(
            uow.session, user=user, active=active, actor=actor_of(principal), reason=reason or None
        )
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)
