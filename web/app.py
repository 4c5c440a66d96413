"""The FastAPI application factory."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.audit_trail.labels import TrailLabels
from engine.config import Settings, get_settings
from engine.db import Database
from engine.migrate import schema_status
from engine.records.event_starts import subscribe_installation
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
from web.deps import (
    LOCALE_COOKIE,
    NotAuthenticated,
    PasswordChangeRequired,
    csrf_protect,
    is_api_path,
    kept_page_or_navbar,
    refuse_control_characters,
    request_context,
)
from web.i18n import negotiate
from web.kept_pages import PageStore, ServeKeptPage
from web.observability import add_observability
from web.openapi import api_openapi
from web.problems import (
    ApiProblem,
    from_http_error,
    from_validation_errors,
    problem_response,
    validation_message,
)
from web.routes.audit_trail import api as audit_api
from web.routes.audit_trail import pages as audit_pages
from web.routes.carbon_data import grid, imports, inputs, inventory, sources, units, year_settings
from web.routes.documents import pages as document_pages
from web.routes.dqcp import pages as dqcp_pages
from web.routes.evaluation import coverage as clause_coverage
from web.routes.evaluation import pack as evidence_pack
from web.routes.evidence import pages as evidence_pages
from web.routes.factor_library import pages as factor_library_pages
from web.routes.home import dashboard
from web.routes.identity import admin, auth, profile, tokens
from web.routes.identity import api as identity_api
from web.routes.improvement import pages as improvement_pages
from web.routes.instruments import pages as instrument_pages
from web.routes.internal_audit import pages as internal_audit_pages
from web.routes.leadership import responsibilities
from web.routes.notifications import pages as notification_pages
from web.routes.operation import pages as operation_pages
from web.routes.organization import tree as org_tree
from web.routes.planning import reviews, risks, targets
from web.routes.records import api as records_api
from web.routes.records import imports as record_imports
from web.routes.records import pages as record_pages
from web.routes.records import workflows_api
from web.routes.report_templates import pages as report_template_pages
from web.routes.review import pages as review_pages
from web.routes.support import pages as support_pages
from web.routes.trust_chain import pages as trust_chain_pages
from web.routes.verification import pages as verification_pages
from web.security import SecurityHeadersMiddleware
from web.templating import render
from web.verifier_gate import PORTAL, GoToPortal, verifier_gate

STATIC_DIR = Path(__file__).with_name("static")
log = logging.getLogger("tanguan.web")


async def app_wide_checks(request: Request) -> None:
    """What every route depends on, in this order, as one dependency: resolving four took FastAPI more time
    than /ping's own work."""
    await request_context(request)
    await verifier_gate(request)
    await csrf_protect(request)
    await refuse_control_characters(request)
    await kept_page_or_navbar(request)  # last: a kept page only for a request every check let through


def create_app(
    *, settings: Settings | None = None, db: Database | None = None, catalog: WorkflowCatalog | None = None
) -> FastAPI:
    """The app. An invalid workflow or form file stops it here, naming the file and the problem."""
    settings = settings or get_settings()
    db = db or Database.from_settings(settings)
    catalog = catalog or WorkflowCatalog.load()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        status = schema_status(db.engine)  # refuses a newer schema than this code
        if not status.up_to_date:
            raise RuntimeError("the database schema is not up to date: run `tanguan db upgrade`")
        with db.unit_of_work(all_orgs=True) as uow:
            catalog.register(uow.session)
        yield
        db.dispose()

    app = FastAPI(
        title="碳管 Tanguan API",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(app_wide_checks)],
    )
    app.state.settings = settings
    app.state.db = db
    keys = settings.key_ring()  # signing key first, then the rotated-out ones that still verify
    app.state.secret_key, app.state.old_secret_keys = keys.signing, keys.old
    app.state.catalog = catalog
    app.state.trail_labels = TrailLabels(catalog)
    app.state.kept_pages = PageStore() if settings.keep_pages else None
    db.session_info[PROCESS_CONTEXT] = ProcessContext(catalog, app.state.secret_key)
    subscribe_installation(db, catalog)  # workflows that start on another workflow's event
    app.state.workflow_nav = tuple(
        (w.key, w.spec.title, w.spec.clause)
        for w in sorted(catalog.current.values(), key=lambda w: w.spec.clause)
    )
    modules: tuple[ModuleType, ...] = (
        auth,
        dashboard,
        profile,
        admin,
        tokens,
        audit_pages,
        record_pages,
        identity_api,
        audit_api,
        records_api,
        workflows_api,
    )
    modules += (inventory, year_settings, sources, grid, imports, inputs, units, targets)
    modules += (dqcp_pages, instrument_pages, notification_pages, record_imports, org_tree)
    modules += (responsibilities, operation_pages)
    modules += (risks, improvement_pages)
    modules += (reviews,)  # 6.2.3 carbon review
    modules += (trust_chain_pages,)
    modules += (support_pages, document_pages)
    modules += (clause_coverage, evidence_pack, internal_audit_pages, review_pages)
    modules += (evidence_pages,)
    modules += (verification_pages,)  # B9 the external verifier's portal
    modules += (report_template_pages,)  # organizations' own Word templates
    modules += (factor_library_pages,)  # the factor library (issue 14 item 5)
    app.add_middleware(
        SecurityHeadersMiddleware,
        upload_paths=tuple(path for module in modules for path in getattr(module, "UPLOAD_PATHS", ())),
        max_upload_bytes=settings.evidence_max_bytes,
    )
    # Outermost middleware (added last of them): times and logs everything inside. Its probes and /ping are
    # the first routes, so that a probe is not matched against every page's path first.
    add_observability(app, db, settings)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in modules:
        app.include_router(module.router)
    app.openapi = lambda: api_openapi(app)  # type: ignore[method-assign]  # /api/v1 only
    _add_error_handlers(app)
    return app


async def _resolve_context(request: Request) -> None:
    """Unmatched paths skip the app-wide dependencies: resolve the user and language for the error page."""
    if hasattr(request.state, "locale"):
        return
    try:
        await request_context(request)
        await kept_page_or_navbar(request)
    except Exception:  # an error page must render even when the context cannot be resolved
        request.state.locale = negotiate(
            user_locale=None,
            cookie_locale=request.cookies.get(LOCALE_COOKIE),
            accept_language=request.headers.get("accept-language"),
        )


def _add_error_handlers(app: FastAPI) -> None:
    """The API answers every error as problem+json (web/problems.py); pages get the error page."""

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, problem: ApiProblem) -> Response:
        return problem_response(request, problem)

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, _exc: NotAuthenticated) -> Response:
        if is_api_path(request.url.path):
            return problem_response(
                request, ApiProblem(401, "not-authenticated", headers={"WWW-Authenticate": "Bearer"})
            )
        target = "/login?next=" + request.url.path if request.method == "GET" else "/login"
        if request.headers.get("HX-Request") == "true":
            # A sign-in page swapped into a fragment would be wrong: navigate the whole page.
            return Response(status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(ServeKeptPage)
    async def serve_kept_page(_request: Request, kept: ServeKeptPage) -> Response:
        return kept.response

    @app.exception_handler(GoToPortal)
    async def go_to_portal(_request: Request, _exc: GoToPortal) -> Response:
        return RedirectResponse(PORTAL, status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    async def password_change_required(request: Request, _exc: PasswordChangeRequired) -> Response:
        if is_api_path(request.url.path):
            return problem_response(request, ApiProblem(403, "password-change-required"))
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=200, headers={"HX-Redirect": "/password/change"})
        return RedirectResponse("/password/change", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_api_path(request.url.path):
            problem = from_http_error(exc.status_code, exc.detail)
            problem.headers.update(exc.headers or {})
            return problem_response(request, problem)
        await _resolve_context(request)
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "detail": exc.detail if isinstance(exc.detail, str) else ""},
            status_code=exc.status_code,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if is_api_path(request.url.path):
            return problem_response(request, from_validation_errors(exc.errors()))
        await _resolve_context(request)
        errors = [
            {
                "field": ".".join(str(part) for part in error["loc"][1:]),
                "message": validation_message(error).get(request.state.locale),
            }
            for error in exc.errors()
        ]
        return render(request, "error.html", {"status": 422, "detail": "", "errors": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", "-")  # the same id as the request's JSON line
        log.exception(
            "unhandled error on %s %s (request %s)",
            request.method,
            request.url.path,
            request_id,
            exc_info=exc,
        )
        if is_api_path(request.url.path):
            return problem_response(request, ApiProblem(500, "server-error"))
        await _resolve_context(request)
        return render(request, "error.html", {"status": 500, "detail": ""}, status_code=500)
