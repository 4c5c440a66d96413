"""Jinja2 rendering: one environment per locale (gettext installed new-style), autoescape on, and
htmx fragments — a page renders whole, or just one named block when htmx asks for it."""

from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from engine.emissions.labels import tier_label
from engine.forms.spec import Text
from web.deps import AUDIT_READERS, AUDIT_READING, CARBON_MANAGERS, DATA_EDITORS
from web.i18n import LOCALE_NAMES, LOCALES, format_datetime, format_number, translations
from web.kept_pages import keep
from web.security import ANON_CSRF_COOKIE

TEMPLATES_DIR = Path(__file__).with_name("templates")
MACRO_LIBRARIES = ("_macros.html", "_form.html")


@lru_cache
def environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the code; no stat() per render
    )
    # added to the environment by the jinja2.ext.i18n extension, which the stubs do not know
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["exact_number"] = lambda value: format_number(value, locale, exact=True)  # inputs as stored
    env.filters["datetime"] = lambda value, format="medium": format_datetime(value, locale, format=format)
    env.filters["number"] = lambda value: format_number(value, locale)
    env.globals["tier_label"] = lambda tier: tier_label(tier, locale)  # data tiers, factor tiers, grid levels
    env.globals.update(
        locale=locale,
        locales=LOCALES,
        locale_names=LOCALE_NAMES,
        audit_reader_roles=frozenset(role.value for role in AUDIT_READERS),
    )
    # Macros are globals, so a block rendered on its own (an htmx fragment) has them too.
    for library in MACRO_LIBRARIES:
        module = env.get_template(library).module
        env.globals.update({name: getattr(module, name) for name in dir(module) if not name.startswith("_")})
    return env


@lru_cache(maxsize=16)
def nav_sections(locale: str, workflow_nav: tuple[tuple[str, Text, str], ...]) -> Markup:
    """The PDCA menu, rendered once per language and set of workflows (autoescaped when rendered)."""
    return Markup(environment(locale).get_template("_nav_sections.html").render(workflow_nav=workflow_nav))


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def render(
    request: Request,
    template_name: str,
    context: dict[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    whole_page_only: bool = False,
) -> Response:
    """The page, or only ``block`` for an htmx request that targets it.

    A ``whole_page_only`` page runs scripts of its own (charts): swapped in by a boosted link or form, they
    would run under the previous page's CSP nonce and be blocked, so htmx is told to load it whole."""
    if whole_page_only and request.headers.get("HX-Boosted") == "true":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Response(status_code=200, headers={"HX-Redirect": here})
    locale = getattr(request.state, "locale", LOCALES[0])
    template = environment(locale).get_template(template_name)
    principal = getattr(request.state, "principal", None)
    values = {
        "request": request,
        "principal": principal,
        # What the page may offer this person: controls they cannot use are not shown.
        "may": {
            "edit_data": DATA_EDITORS.admits(principal),
            "manage_carbon": CARBON_MANAGERS.admits(principal),
            "read_audit": AUDIT_READING.admits(principal),  # the audit trail, the trust chain
        },
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "csp_nonce": getattr(request.state, "csp_nonce", ""),
        "task_count": getattr(request.state, "task_count", 0),
        "verifier_portal": getattr(request.state, "verifier_portal", False),  # the portal's own navbar
        "unread_count": getattr(request.state, "unread_count", 0),
        "nav_sections": nav_sections(locale, getattr(request.app.state, "workflow_nav", ())),
        **(context or {}),
    }
    headers = dict(headers or {})
    if block and is_htmx(request):
        body = "".join(template.blocks[block](template.new_context(values)))
        if status_code >= 400:
            headers["X-Tanguan-Fragment"] = "refusal"  # app.js swaps these in place
    else:
        body = template.render(values)
    response = HTMLResponse(body, status_code=status_code, headers=headers)
    if anonymous_csrf := getattr(request.state, "new_anon_csrf", None):
        response.set_cookie(
            ANON_CSRF_COOKIE, anonymous_csrf, httponly=True, samesite="lax",
            secure=request.url.scheme == "https", path="/",
        )  # fmt: skip
    keep(request, request.app.state.kept_pages, response)
    return response


def htmx_aware_redirect(request: Request, response: Response) -> Response:
    """htmx follows a 303 inside the fragment; tell it to navigate the whole page instead."""
    if request.headers.get("HX-Request") == "true":
        response.status_code = 200
        response.headers["HX-Redirect"] = response.headers["location"]
        del response.headers["location"]
    return response
