"""Sign-in, sign-out, the forced password change, and the language switch."""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from engine.identity.auth import (
    LoginRefused,
    attempt_login,
    change_password,
    default_org_id,
    end_session,
    start_session,
)
from engine.identity.users import get_user, set_user_locale
from engine.passwords import PasswordPolicyError
from web.deps import LOCALE_COOKIE, AnySignedIn, DatabaseDep, session_cookie_name
from web.i18n import normalize_locale
from web.templating import htmx_aware_redirect, render

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Only a path on this site; never an absolute URL (open redirect). Browsers read a backslash as a
    slash, so ``/\\evil.example`` would be ``//evil.example``."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or urlsplit(target).netloc
    ):
        return "/"
    return target


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    if request.state.principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "error": None, "email": ""})


@router.post("/login")
def login(
    request: Request,
    db: DatabaseDep,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    ip = client_ip(request)
    with db.unit_of_work(all_orgs=True) as uow:
        result = attempt_login(
            uow.session, email=email, password=password, ip=ip, settings=request.app.state.settings
        )
        if result.user is not None:
            presented = request.state.principal
            if presented is not None and presented.session_token_hash:
                # The session id rotates at sign-in: the one this browser held ends with the new one's start.
                end_session(uow.session, token_hash=presented.session_token_hash)
            token = start_session(
                uow.session,
                user=result.user,
                org_id=default_org_id(uow.session, user=result.user),
                ip=ip,
                user_agent=request.headers.get("user-agent", ""),
            )
    if result.user is None:
        return render(
            request,
            "login.html",
            {"next": safe_next(next), "error": result.refusal, "email": email},
            status_code=429 if result.refusal == "throttled" else 401,
        )
    target = "/password/change" if result.user.must_change_password else safe_next(next)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        session_cookie_name(request),
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, db: DatabaseDep, principal: AnySignedIn) -> Response:
    if principal.session_token_hash:
        with db.unit_of_work(all_orgs=True) as uow:
            end_session(uow.session, token_hash=principal.session_token_hash)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(session_cookie_name(request), path="/")
    return htmx_aware_redirect(request, response)


@router.get("/password/change")
def password_change_page(request: Request, principal: AnySignedIn) -> Response:
    return render(request, "password_change.html", {"error": None, "forced": principal.must_change_password})


@router.post("/password/change")
def password_change(
    request: Request,
    db: DatabaseDep,
    principal: AnySignedIn,
    new_password: Annotated[str, Form(max_length=1024)],
    confirm_password: Annotated[str, Form(max_length=1024)],
    current_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    error = None
    if new_password != confirm_password:
        error = "mismatch"
    else:
        try:
            with db.unit_of_work(all_orgs=True) as uow:
                user = get_user(uow.session, user_id=principal.user_id)
                assert user is not None
                # A one-time password was just typed at sign-in: no need to ask for it again.
                current = None if principal.must_change_password else current_password
                change_password(uow.session, user=user, current=current, new=new_password)
        except LoginRefused:
            error = "wrong_current"
        except PasswordPolicyError as policy:
            error = policy.code
    if error:
        return render(
            request,
            "password_change.html",
            {"error": error, "forced": principal.must_change_password},
            status_code=422,
        )
    return RedirectResponse("/?password_changed=1", status_code=303)


@router.post("/locale")
def switch_locale(
    request: Request,
    db: DatabaseDep,
    locale: Annotated[str, Form(max_length=16)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    chosen = normalize_locale(locale)
    if chosen is None:
        raise HTTPException(422, detail="locale")
    principal = request.state.principal
    if principal is not None:
        with db.unit_of_work(all_orgs=True) as uow:
            set_user_locale(uow.session, user_id=principal.user_id, locale=chosen)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LOCALE_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="lax", httponly=True, path="/"
    )
    return response
