"""Who is asking, in which organization, with which roles — resolved once per request — and the
dependencies routes use to declare what they need."""

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, params
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from pydantic import BeforeValidator
from sqlmodel import Session
from starlette.datastructures import FormData

from engine.audit import Actor
from engine.db import Database, UnitOfWork
from engine.forms.spec import Text
from engine.identity.auth import (
    Identity,
    load_identity,
    load_signed_in,
    resolve_api_token,
    touch_api_token,
    touch_session,
)
from engine.identity.models import Role, TokenScope
from engine.identity.organizations import list_org_units
from engine.notifications.service import unread_count
from engine.records.dashboard import count_open_tasks
from engine.values import Id, control_character_message, forbidden_character
from engine.workflow.access import ActorRef
from engine.workflow.loader import Workflow
from web.i18n import negotiate
from web.kept_pages import answer_if_kept, may_keep, page_key
from web.problems import ApiProblem
from web.security import (
    ANON_CSRF_COOKIE,
    UNSAFE_METHODS,
    csrf_token_for,
    same_origin,
    submitted_csrf_token,
)

API_PREFIX = "/api/"
PAGES_COUNTING_TASKS_THEMSELVES = frozenset({"/"})  # the dashboard counts them for its list
PAGES_COUNTING_UNREAD_THEMSELVES = frozenset({"/notifications"})  # the centre counts them anyway
SESSION_COOKIE = "tanguan_session"
SECURE_SESSION_COOKIE = "__Host-tanguan_session"
LOCALE_COOKIE = "tanguan_locale"


SIGNED_OUT_FORMS = frozenset({"/login", "/locale"})  # posted without a session, stale cookie or not


class NotAuthenticated(Exception):
    """No valid session or token: pages go to sign-in, the API answers 401."""


class PasswordChangeRequired(Exception):
    """A one-time password must be replaced before anything else."""


@dataclass(frozen=True)
class OrgChoice:
    id: int
    slug: str
    name: str


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    display_name: str
    locale: str | None
    must_change_password: bool
    org: OrgChoice | None
    roles: frozenset[str]
    memberships: tuple[OrgChoice, ...]
    session_token_hash: str | None  # None when authenticated by an API token
    token_scopes: frozenset[str] | None = None  # what an API token may do; None for a browser session

    def has_any(self, roles: frozenset[str]) -> bool:
        return not roles or bool(self.roles & roles)


def session_cookie_name(request: Request) -> str:
    return SECURE_SESSION_COOKIE if request.url.scheme == "https" else SESSION_COOKIE


def _principal(
    identity: Identity,
    *,
    org_id: int | None,
    token_hash: str | None,
    token_scopes: frozenset[str] | None = None,
) -> Principal:
    choices: dict[int | None, tuple[OrgChoice, tuple[str, ...]]] = {
        org: (OrgChoice(org, slug, name), roles) for org, slug, name, roles in identity.memberships
    }
    if org_id not in choices:
        org_id = next(iter(choices), None)
    org, roles = choices.get(org_id, (None, ()))
    return Principal(
        user_id=identity.user_id,
        email=identity.email,
        display_name=identity.display_name,
        locale=identity.locale,
        must_change_password=identity.must_change_password,
        org=org,
        roles=frozenset(roles),
        memberships=tuple(choice for choice, _ in choices.values()),
        session_token_hash=token_hash,
        token_scopes=token_scopes,
    )


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX)


def _bearer_token(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    return authorization[7:].strip() if authorization.lower().startswith("bearer ") else None


def _resolve_principal(request: Request, db: Database) -> Principal | None:
    """From a bearer token (pinned to its organization; the JSON API only) or the session cookie."""
    bearer = _bearer_token(request)
    if bearer is None:
        return _session_principal(request, db)
    if not is_api_path(request.url.path):
        # A token opens the API only: never a page, whatever cookie comes with it.
        raise HTTPException(403, detail="token_outside_api")
    with db.engine.connect() as connection:
        live = resolve_api_token(connection, token=bearer)
        identity = load_identity(connection, user_id=live.user_id) if live else None
    if live is None or identity is None or live.org_id not in {m[0] for m in identity.memberships}:
        raise NotAuthenticated()
    if live.needs_touch:  # last used, written at most once a minute
        with db.write_engine.begin() as connection:
            touch_api_token(connection, token_id=live.id)
    return _principal(identity, org_id=live.org_id, token_hash=None, token_scopes=live.scopes)


def _session_principal(request: Request, db: Database) -> Principal | None:
    """One prebuilt query, and a write of last seen at most once a minute. For a page that may be kept
    (web.kept_pages), the write generation comes with it, read before any of the page's data."""
    cookie = request.cookies.get(session_cookie_name(request))
    if not cookie:
        return None
    with db.one_statement_engine.connect() as connection:
        signed_in = load_signed_in(connection, token=cookie, settings=request.app.state.settings)
    if signed_in is None or signed_in.identity is None:
        return None
    live = signed_in.session
    if live.needs_touch:
        with db.write_engine.begin() as connection:
            touch_session(connection, session_id=live.id)
    if may_keep(request):
        request.state.write_generation = signed_in.write_generation
    return _principal(signed_in.identity, org_id=live.org_id, token_hash=live.token_hash)


async def request_context(request: Request) -> None:
    """Resolve the principal, the locale and the CSRF token for this request (app-wide dependency)."""
    db: Database = request.app.state.db
    principal = _resolve_principal(request, db)
    request.state.principal = principal
    request.state.locale = negotiate(
        user_locale=principal.locale if principal else None,
        cookie_locale=request.cookies.get(LOCALE_COOKIE),
        accept_language=request.headers.get("accept-language"),
    )
    if principal and principal.session_token_hash:
        binding = "s:" + principal.session_token_hash
    else:
        anonymous = request.cookies.get(ANON_CSRF_COOKIE)
        if not anonymous:
            anonymous = secrets.token_urlsafe(24)
            request.state.new_anon_csrf = anonymous  # set on the response by render()
        binding = "a:" + anonymous
    request.state.csrf_binding = binding
    request.state.csrf_token = csrf_token_for(request.app.state.secret_key, binding)


async def kept_page_or_navbar(request: Request) -> None:
    """For a signed-in page view: answer with the kept page if there is one (raises ServeKeptPage), else
    count what the navbar shows. Runs after the other app-wide checks."""
    principal: Principal | None = request.state.principal
    wants_page = request.method == "GET" and not request.url.path.startswith((API_PREFIX, "/static/"))
    if not (principal and principal.org and wants_page):
        return
    generation = getattr(request.state, "write_generation", None)
    if generation is not None and (key := page_key(request, generation=generation)) is not None:
        await answer_if_kept(request, request.app.state.kept_pages, key)
    _count_for_navbar(request, request.app.state.db, principal)


def _count_for_navbar(request: Request, db: Database, principal: Principal) -> None:
    """The navbar's open tasks and unread notifications, in one read session; a page that counts them
    itself is left to do so."""
    assert principal.org is not None
    path = request.url.path
    tasks, unread = path not in PAGES_COUNTING_TASKS_THEMSELVES, path not in PAGES_COUNTING_UNREAD_THEMSELVES
    if not (tasks or unread):
        return
    with db.read_session(org_id=principal.org.id) as session:
        if tasks:
            request.state.task_count = count_open_tasks(
                session, user_id=principal.user_id, roles=principal.roles
            )
        if unread:
            request.state.unread_count = unread_count(session, user_id=principal.user_id)


async def csrf_protect(request: Request) -> None:
    """Unsafe methods need a same-origin request and the token bound to the session (app-wide)."""
    if request.method not in UNSAFE_METHODS:
        return
    if is_api_path(request.url.path) and (
        _bearer_token(request) is not None or request.state.principal is None
    ):
        # A token is no ambient credential (a browser never sends it on its own); without any credential
        # there is nothing to protect, and the API answers 401.
        return
    if not same_origin(request):
        raise HTTPException(403, detail="cross_site")
    if (
        request.state.principal is None
        and request.url.path not in SIGNED_OUT_FORMS
        and request.headers.get("HX-Request") == "true"
        and request.cookies.get(session_cookie_name(request))
    ):
        # The session ended while the page was open: its token is stale, and the answer is to sign in
        # again (the whole page), not a refusal htmx would swallow. Nothing is done with the request.
        raise NotAuthenticated()
    submitted = await submitted_csrf_token(request)
    if not submitted or not _csrf_token_matches(request, submitted):
        raise HTTPException(403, detail="csrf")


async def refuse_control_characters(request: Request) -> None:
    """No path segment, query value or form field may carry a control or bidi override character (app-wide;
    JSON bodies are checked by their models, an uploaded file's name is cleaned where it is stored): 422
    naming where it is."""
    found: list[tuple[str, str, str]] = [
        ("path", name, value) for name, value in request.path_params.items() if isinstance(value, str)
    ]
    found += [("query", name, value) for name, value in request.query_params.multi_items()]
    if request.method in UNSAFE_METHODS and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        found += [
            ("body", name, item)
            for name, item in (await request.form()).multi_items()
            if isinstance(item, str)
        ]
    errors = [
        {
            "type": "control_character",
            "loc": (place, name),
            "msg": control_character_message(character)[1],
            "input": "",
            "ctx": {"character": character},
        }
        for place, name, value in found
        if (character := forbidden_character(value))
    ]
    if errors:
        raise RequestValidationError(errors)


def _csrf_token_matches(request: Request, submitted: str) -> bool:
    """The token of the signing key, or of a key rotated out (a form opened before the rotation)."""
    if secrets.compare_digest(submitted, request.state.csrf_token):
        return True
    binding = request.state.csrf_binding
    return any(
        secrets.compare_digest(submitted, csrf_token_for(key, binding))
        for key in request.app.state.old_secret_keys
    )


class RoleRequirement:
    """A dependency that lets a signed-in member through when they hold one of ``roles`` (any member when
    empty). The roles stay readable on the route, so tests can walk every route's rule."""

    def __init__(self, *roles: Role, allow_pending_password: bool = False, needs_org: bool = True) -> None:
        self.roles = frozenset(role.value for role in roles)
        self.allow_pending_password = allow_pending_password
        self.needs_org = needs_org

    async def __call__(self, request: Request) -> Principal:  # no I/O: no thread hand-off
        principal: Principal | None = request.state.principal
        if principal is None:
            raise NotAuthenticated()
        if principal.must_change_password and not self.allow_pending_password:
            raise PasswordChangeRequired()
        if self.needs_org and principal.org is None:
            raise HTTPException(403, detail="no_membership")
        if not principal.has_any(self.roles):
            raise HTTPException(403, detail="role")
        return principal

    def admits(self, principal: Principal | None) -> bool:
        """Whether the page should offer what this requirement guards (no exception, no password check)."""
        return bool(principal and principal.org and principal.has_any(self.roles))


API_BEARER = HTTPBearer(
    auto_error=False,  # a missing token is answered by the role check (401), a browser session may call too
    scheme_name="bearerAuth",
    bearerFormat="tgn_…",
    description="个人访问令牌 / personal access token; each operation lists the scope it needs",
)


async def token_scope(
    request: Request,
    security_scopes: SecurityScopes,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(API_BEARER)],
) -> None:
    """An API token must hold the scope its route declares; a browser session is limited by roles alone."""
    principal: Principal | None = request.state.principal
    if principal is None or principal.token_scopes is None:
        return
    missing = [scope for scope in security_scopes.scopes if scope not in principal.token_scopes]
    if missing:
        listed = ", ".join(missing)
        raise ApiProblem(
            403, "scope", Text(zh=f"此令牌没有 {listed} 权限范围", en=f"This token lacks the {listed} scope")
        )


def needs_scope(scope: TokenScope) -> params.Security:
    """The scope an /api/v1 route needs from a token; it is listed in the OpenAPI document too."""
    requirement: params.Security = Security(token_scope, scopes=[scope.value])
    return requirement


AUDIT_READERS = (
    Role.admin,
    Role.carbon_manager,
    Role.quality_manager,
    Role.top_management,
    Role.internal_auditor,
    Role.external_auditor,
)

# The roles that may change the carbon data, and those that manage it (sources, targets, snapshots): the
# routes require them, and the pages show their controls only to whom they admit.
DATA_EDITORS = RoleRequirement(Role.admin, Role.carbon_manager, Role.process_owner, Role.staff)
CARBON_MANAGERS = RoleRequirement(Role.admin, Role.carbon_manager)

Member = Annotated[Principal, Depends(RoleRequirement())]
DataEditor = Annotated[Principal, Depends(DATA_EDITORS)]
CarbonManager = Annotated[Principal, Depends(CARBON_MANAGERS)]
AnySignedIn = Annotated[Principal, Depends(RoleRequirement(allow_pending_password=True, needs_org=False))]
Admin = Annotated[Principal, Depends(RoleRequirement(Role.admin))]
AUDIT_READING = RoleRequirement(*AUDIT_READERS)
AuditReader = Annotated[Principal, Depends(AUDIT_READING)]


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


# A query parameter a form sends empty (a filter left blank) means "not given", not a bad value.
BlankIsNone = BeforeValidator(_blank_is_none)


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DatabaseDep = Annotated[Database, Depends(get_db)]


async def posted_form(request: Request) -> FormData:
    """The request's form, read on the event loop (Starlette caches it), so that a route taking it can be a
    plain function, run in the thread pool: its transaction and password checks never block the loop."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]


async def org_session(request: Request, db: DatabaseDep) -> AsyncIterator[Session]:
    """A read session scoped to the principal's organization. Opened and closed on the event loop: a
    session's own set-up and release cost less than two hand-offs to the thread pool."""
    principal: Principal | None = request.state.principal
    if principal is None or principal.org is None:
        raise NotAuthenticated()
    with db.read_session(org_id=principal.org.id) as session:
        yield session


OrgSession = Annotated[Session, Depends(org_session)]


def unit_of_org(session: OrgSession, unit_id: Id) -> int:
    """The path's unit id when it is one of the organization's (else 404, before the form is looked at)."""
    if all(unit.id != unit_id for unit in list_org_units(session)):
        raise HTTPException(404)
    return unit_id


OrgUnitId = Annotated[int, Depends(unit_of_org)]


def org_unit_of_work(request: Request, db: DatabaseDep) -> Iterator[UnitOfWork]:
    """A write transaction scoped to the principal's organization, committed after the endpoint."""
    principal: Principal | None = request.state.principal
    if principal is None or principal.org is None:
        raise NotAuthenticated()
    with db.unit_of_work(org_id=principal.org.id) as uow:
        yield uow


OrgUnitOfWork = Annotated[UnitOfWork, Depends(org_unit_of_work)]


def actor_of(principal: Principal) -> Actor:
    """The principal as the services' actor (its roles go along, for the policies acting on its behalf)."""
    return Actor(principal.user_id, principal.display_name, principal.roles)


def actor_ref(principal: Principal) -> ActorRef:
    return ActorRef(id=principal.user_id, name=principal.display_name, roles=principal.roles)


def workflow_or_404(request: Request, key: str) -> Workflow:
    workflow: Workflow | None = request.app.state.catalog.get(key)
    if workflow is None:
        raise HTTPException(404)
    return workflow


def may_create(workflow: Workflow, principal: Principal) -> bool:
    """Whether the principal's roles may start a record of the workflow (by hand, on a page or in bulk)."""
    return not workflow.spec.start.roles or principal.has_any(frozenset(workflow.spec.start.roles))


def reporting_year(year: int | None) -> int:
    return year or date.today().year - 1  # the last complete year is what gets reported
