"""Personal access tokens for the JSON API: a member's own, and every token of the organization for an
administrator; create one (its secret is shown once) and revoke."""

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from engine.identity.auth import (
    Revocation,
    TokenError,
    create_api_token,
    list_api_tokens,
    revoke_api_token_by_id,
    token_expiry,
)
from engine.identity.models import Role, TokenScope
from engine.identity.users import get_user
from engine.values import Id
from web.deps import DatabaseDep, Member, OrgSession, OrgUnitOfWork, Principal, actor_of
from web.i18n import DISPLAY_TIMEZONE
from web.templating import render

router = APIRouter(prefix="/tokens")

SCOPES = [scope.value for scope in TokenScope]


def _sees_every_token(principal: Principal) -> bool:
    return Role.admin.value in principal.roles


def _page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    created: dict[str, str] | None = None,
    error: TokenError | None = None,
    asked: dict[str, object] | None = None,
) -> Response:
    assert principal.org is not None
    every = _sees_every_token(principal)
    tokens = list_api_tokens(session, org_id=principal.org.id, owner_id=None if every else principal.user_id)
    context = {
        "tokens": tokens,
        "scopes": SCOPES,
        "show_owner": every,
        "created": created,
        "error": error,
        "asked": asked or {"name": "", "scopes": [TokenScope.read.value], "expires_on": ""},
    }
    return render(request, "api_tokens.html", context, status_code=422 if error else 200)


@router.get("")
def tokens_page(request: Request, principal: Member, session: OrgSession) -> Response:
    return _page(request, session, principal)


@router.post("")
def create(
    request: Request,
    principal: Member,
    db: DatabaseDep,
    name: Annotated[str, Form(max_length=500)] = "",
    scopes: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    expires_on: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    assert principal.org is not None
    created: dict[str, str] | None = None
    error: TokenError | None = None
    try:
        expires_at = token_expiry(expires_on, timezone=ZoneInfo(DISPLAY_TIMEZONE))
        with db.unit_of_work(org_id=principal.org.id) as uow:
            user = get_user(uow.session, user_id=principal.user_id)
            assert user is not None  # the signed-in principal's own account
            secret = create_api_token(
                uow.session,
                user=user,
                org_id=principal.org.id,
                name=name,
                scopes=scopes,
                expires_at=expires_at,
            )
        created = {"name": name.strip(), "secret": secret}
    except TokenError as refused:
        error = refused
    asked: dict[str, object] | None = (
        {"name": name, "scopes": scopes, "expires_on": expires_on} if error else None
    )
    with db.read_session(org_id=principal.org.id) as session:
        return _page(request, session, principal, created=created, error=error, asked=asked)


@router.post("/{token_id}/revoke")
def revoke(principal: Member, uow: OrgUnitOfWork, token_id: Id) -> Response:
    assert principal.org is not None
    outcome = revoke_api_token_by_id(
        uow.session,
        token_id=token_id,
        org_id=principal.org.id,
        actor=actor_of(principal),
        owner_only=not _sees_every_token(principal),
    )
    if outcome is Revocation.not_found:
        raise HTTPException(404)  # another member's token is not shown to a non-administrator either
    if outcome is Revocation.already_revoked:
        raise HTTPException(409)
    return RedirectResponse("/tokens", status_code=303)
