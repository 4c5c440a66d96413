"""The hostile-value sweep: every route — each API operation and each HTML form route — gets ids, years
and numbers at and past their limits, NUL and other control characters, bidi overrides, 1 MB strings and
values of the wrong type, in its path, its query and its body. No answer may be a server error; the
numbers of requests and routes are printed."""

import json
import os
import re
from collections import defaultdict
from contextlib import ExitStack
from functools import partial
from html.parser import HTMLParser
from urllib.parse import quote, quote_plus

from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import select

from demo.seed import DEMO_PASSWORD
from engine.audit import SYSTEM
from engine.identity.models import Organization
from engine.identity.users import get_user_by_email, grant_membership
from tests.web.conftest import ALL_ROLES, BASE_URL, api_token, csrf_of
from tests.web.routes import route_rules
from tests.web.test_security import concrete, demo_object_ids
from tests.web.test_visible_text import pages

ADMIN = "admin@xiangfeng.example"
MEGABYTE = "长" * (1024 * 1024 // 3)  # 1 MB of UTF-8
# The same string form-encoded once: encoding it afresh for every field took a third of the sweep's time.
MEGABYTE_FORM = quote_plus(MEGABYTE)
# One value of each kind in the suite; TANGUAN_FULL_SWEEP=1 adds more of each kind (≈ 1.7 × the requests).
TEXT_VALUES = (
    "", "0", "-1", "2147483648", "9223372036854775808", "1" * 40, "-34218", "1e309", "NaN", "Infinity",
    "😀", "a\x00b", "\u202eexe.txt", "\r\n=cmd|' /C calc'!A0", "2025-02-30", "9999-12-31", "2025-13",
    "' OR 1=1 --", "<script>alert(1)</script>",
)  # fmt: skip
if os.environ.get("TANGUAN_FULL_SWEEP"):
    TEXT_VALUES += (
        " ", "-1e309", "1e-400", "0x10", "١٢", "\x00", "\x1b[31m", "\u2066x\u2069", "0000-01-01",
        "../../etc/passwd", "{{7*7}}", "%00",
    )  # fmt: skip
PATH_VALUES = tuple(value for value in TEXT_VALUES if value) + ("x" * 5000,)
# On PostgreSQL (the second run of the sweep) the values whose handling differs by database: integer and
# bigint overflow, NUL (PostgreSQL's text refuses it), impossible and extreme dates, astral characters,
# and the 1 MB string; the parsing-only values are the SQLite run's. TANGUAN_FULL_SWEEP=1 sends all.
DATABASE_VALUES = {
    "",
    "-1",
    "2147483648",
    "9223372036854775808",
    "1e309",
    "a\x00b",
    "2025-02-30",
    "9999-12-31",
    "😀",
}
JSON_VALUES = (
    None, True, -1, 0, 2**31, 2**63, 2**64, -(2**63) - 1, 10**400, 1.5, 1e308, [], {}, [1, "a"], {"a": 1},
    "a\x00b", "\u202e", "😀", "1e309", "NaN", MEGABYTE,
)  # fmt: skip


class FormFinder(HTMLParser):
    """The post forms of a page: action → field names with their values as the page fills them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = defaultdict(dict)
        self.current: str | None = None

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        action = found.get("hx-post") or (found.get("action") if tag == "form" else None)
        if tag == "form" and (found.get("method") or "").lower() == "post" or found.get("hx-post"):
            self.current = action
        if tag in ("input", "select", "textarea", "button") and self.current and found.get("name"):
            self.forms[self.current].setdefault(found["name"], found.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None


def _admin_with_every_role(web) -> None:
    with web.db.unit_of_work(all_orgs=True) as uow:
        org = uow.session.exec(select(Organization).where(Organization.slug == "xiangfeng-cement")).one()
        user = get_user_by_email(uow.session, email=ADMIN)
        assert org.id is not None and user is not None
        grant_membership(uow.session, org_id=org.id, user=user, roles=ALL_ROLES, actor=SYSTEM)


def _forms_on_pages(client, paths) -> dict[str, dict[str, str]]:
    forms: dict[str, dict[str, str]] = defaultdict(dict)
    for path in paths:
        response = client.get(path)
        if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        finder = FormFinder()
        finder.feed(response.text)
        for action, fields in finder.forms.items():
            forms[(action or path).split("?")[0]].update(fields)
    return forms


def _declared_params(route: APIRoute) -> tuple[list[str], list[str]]:
    query, path = [], []
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        query += [param.name for param in dependant.query_params]
        path += [param.name for param in dependant.path_params]
        pending.extend(dependant.dependencies)
    return sorted(set(query)), sorted(set(path))


def _body_model(route: APIRoute) -> type[BaseModel] | None:
    for param in route.dependant.body_params:
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
    return None


def _route_of(app, method: str, path: str) -> APIRoute:
    for context in iter_route_contexts(app.routes):
        if (
            context.path == path
            and method in context.methods
            and isinstance(context.original_route, APIRoute)
        ):
            return context.original_route
    raise AssertionError(f"no route {method} {path}")


def _matches(template: str, path: str) -> bool:
    return re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), path) is not None


def _send(caller, method: str, token: str, path: str, *, params=None, data=None, body=None, raw=None):
    kwargs = {"params": params}
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        if body is not None:
            kwargs["json"] = body
        elif raw is not None:
            kwargs["content"] = raw
            kwargs["headers"] = {"Content-Type": "application/json"}
        elif data and MEGABYTE in data.values():  # the bytes httpx would send, with the 1 MB pre-encoded
            fields = {**data, "csrf_token": token}
            encoded = {k: MEGABYTE_FORM if v is MEGABYTE else quote_plus(v) for k, v in fields.items()}
            kwargs["content"] = "&".join(f"{quote_plus(k)}={v}" for k, v in encoded.items())
            kwargs["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
        else:
            kwargs["data"] = {**(data or {}), "csrf_token": token}
    return caller.request(method, path, **kwargs)


class Sweep:
    def __init__(self) -> None:
        self.requests = 0
        self.routes: set[str] = set()
        self.failures: list[str] = []

    def check(self, route: str, what: str, response) -> None:
        self.requests += 1
        self.routes.add(route)
        if response.status_code >= 500:
            self.failures.append(f"{route} {what!r:.120}: {response.status_code}")


def _for_the_database(url: str, values: tuple) -> tuple:
    if not url.startswith("postgresql") or os.environ.get("TANGUAN_FULL_SWEEP"):
        return values
    return tuple(v for v in values if not isinstance(v, str) or v in DATABASE_VALUES or len(v) > 1000)


def test_no_hostile_value_gets_a_server_error(web):
    # Clients held open: each keeps one event loop for all its requests instead of starting one per request.
    with ExitStack() as held:
        _sweep(web, partial(_held_client, held, web.app))


def _held_client(held: ExitStack, app, **kwargs) -> TestClient:
    return held.enter_context(
        TestClient(app, base_url=BASE_URL, follow_redirects=False, raise_server_exceptions=False, **kwargs)
    )


def _sweep(web, open_client) -> None:
    text_values, path_values = (
        _for_the_database(web.db.url, TEXT_VALUES),
        _for_the_database(web.db.url, PATH_VALUES),
    )
    json_values = _for_the_database(web.db.url, JSON_VALUES)
    _admin_with_every_role(web)
    ids = demo_object_ids(web)
    client = open_client()
    token = csrf_of(client.get("/login").text)
    assert client.post("/login", data={"email": ADMIN, "password": DEMO_PASSWORD, "csrf_token": token})
    token = csrf_of(client.get("/").text)
    client.headers["X-CSRF-Token"] = token
    api = open_client(headers={"Authorization": f"Bearer {api_token(web, ADMIN)}"})
    forms = _forms_on_pages(client, pages(web))
    forms["/login"] = {"email": ADMIN, "password": "", "next": "/"}
    anonymous = open_client()
    anonymous.headers["X-CSRF-Token"] = csrf_of(anonymous.get("/login").text)
    record_fields = {  # the fields of the API's record bodies: a record's start form and a transition's
        "/api/v1/records": sorted(forms["/records/nonconformity"]),
        "/api/v1/records/{record_id}/transitions/{trigger}": sorted(
            next(fields for action, fields in forms.items() if "/transition/" in action)
        ),
    }
    sweep = Sweep()
    for rule in route_rules(web.app):
        if rule.path.startswith(("/static", "/docs", "/redoc", "/openapi")) or rule.path in ("/logout",):
            continue
        route = _route_of(web.app, rule.method, rule.path)
        caller = api if rule.is_api else anonymous if rule.path == "/login" else client
        name = f"{rule.method} {rule.path}"
        query_names, path_names = _declared_params(route)
        valid_path = concrete(rule.path, ids)
        base_fields = {
            field: value
            for action, fields in forms.items()
            if _matches(rule.path, action)
            for field, value in fields.items()
        }
        base_fields.pop("csrf_token", None)

        send = partial(_send, caller, rule.method, token)

        for param in path_names:
            for value in path_values:
                path = rule.path
                for other in path_names:
                    replacement = quote(value, safe="") if other == param else str(ids[other])
                    path = path.replace("{" + other + "}", replacement)
                sweep.check(name, f"path {param}={value}", send(path, data=base_fields))
        for param in query_names:
            for value in text_values:
                sweep.check(name, f"query {param}={value}", send(valid_path, params={param: value}))
        if rule.method == "GET":
            continue
        model = _body_model(route)
        if model is not None:
            for field in model.model_fields:
                for value in json_values:
                    sweep.check(name, f"json {field}={value}", send(valid_path, body={field: value}))
            base = {"workflow": "nonconformity", "version": 1, "data": {}}
            for field in record_fields.get(rule.path, ()):
                for value in json_values:
                    body = {**base, "data": {field: value}}
                    sweep.check(name, f"json data.{field}={value}", send(valid_path, body=body))
            for raw in (b"", b"null", b"[]", b'{"a":', b"1e309", b"\x00", b'{"x": 1e999}'):
                sweep.check(name, f"raw {raw!r}", send(valid_path, raw=raw))
            continue
        for field in base_fields:
            for value in (*text_values, MEGABYTE):
                sweep.check(
                    name, f"form {field}={value}", send(valid_path, data={**base_fields, field: value})
                )
    _everything_accepted_still_renders(web, client, sweep)
    print(f"\nhostile sweep: {sweep.requests} requests over {len(sweep.routes)} routes, "
          f"{len(sweep.failures)} server errors")  # fmt: skip
    assert sweep.requests > 1000 and len(sweep.routes) >= 50
    assert not sweep.failures, "\n".join(sweep.failures[:200]) + f"\n… {len(sweep.failures)} in all"


def _everything_accepted_still_renders(web, client, sweep: Sweep) -> None:
    """Whatever the sweep managed to store shows on its page and in every export."""
    with web.db.engine.connect() as connection:
        records = connection.execute(text("SELECT id, workflow_key FROM record")).all()
    for record_id, _ in records:
        for template in ("/r/{record_id}", "/r/{record_id}/export.docx"):
            sweep.check(
                f"GET {template}", f"stored {record_id}", client.get(template.format(record_id=record_id))
            )
    for workflow_key in {key for _, key in records}:
        response = client.get(f"/records/{workflow_key}/export.xlsx")
        sweep.check("GET /records/{workflow_key}/export.xlsx", workflow_key, response)
    for path in ("/audit", "/emissions?year=2025", "/emissions/report.docx?year=2025", "/emissions/sources"):
        sweep.check(f"GET {path.split('?')[0]}", "after the sweep", client.get(path))


def test_the_form_finder_reads_post_forms_and_htmx_posts():
    finder = FormFinder()
    finder.feed(
        '<form method="post" action="/a?x=1"><input name="year" value="2025"><select name="s"></select>'
        '</form><form method="get" action="/b"><input name="q"></form>'
        '<button hx-post="/c" name="go" value="1">go</button>'
    )
    assert dict(finder.forms) == {"/a?x=1": {"year": "2025", "s": ""}, "/c": {"go": "1"}}
    assert json.dumps(finder.forms)  # plain data, printable in a failure
