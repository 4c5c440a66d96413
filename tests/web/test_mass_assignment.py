"""T16 mass assignment (RELIABILITY.md): every form of the app posted with forged protected fields.

The forms are the app's own: every page an administrator and a carbon manager can open is fetched, and
every ``<form method="post">`` on it is filled as a person would (hidden values kept, the first option
chosen, text, dates and numbers typed, the signature password given) — plus the create form of every
process and the panel of every transition open on a record of each — and posted with extra fields:
``tenant_id``/``org_id`` (another organization), ``state``, ``approved_by``, ``version`` (999),
``created_by`` (a stranger) and ``signature_*``. Unsafe page routes no page offers a form for are posted
the forged fields alone. After each post, nothing may carry a forged value: no row moved to or written
in the other organization, no record at version 999, created by the stranger or holding a forged key in
its data, no signature with a forged signer, time, meaning or hash, and every change of state an audited
transition the workflow file allows from that state."""

import json
import re
from collections import Counter
from urllib.parse import urlsplit

import lxml.html
from sqlalchemy import inspect, text

from demo.seed import DEMO_PASSWORD
from tests.web.conftest import CATALOG, OTHER_ORG_ADMIN, csrf_of
from tests.web.routes import route_rules
from tests.web.test_security import concrete, demo_object_ids

SKIPPED = {"/logout", "/password/change", "/org/switch", "/login"}  # would end or move the session
FORGED_SIGNER = "伪造者"
FORGED_TIME = "1999-12-31T23:59:59.000000Z"


def forged_fields(other_org: int, stranger: int) -> dict[str, str]:
    return {
        "tenant_id": str(other_org), "org_id": str(other_org), "state": "closed",
        "approved_by": str(stranger),
        "version": "999", "created_by": str(stranger), "signature_signer_id": str(stranger),
        "signature_signer_name": FORGED_SIGNER, "signature_signed_at": FORGED_TIME,
        "signature_meaning": "approved", "signature_content_hash": "0" * 64, "signature_seal": "f" * 64,
        "signature_id": "1",
    }  # fmt: skip


def filled(form) -> tuple[dict[str, list[str]], dict[str, tuple[str, bytes]]]:
    """What a person submitting the form sends: (fields, files)."""
    fields: dict[str, list[str]] = {}
    files: dict[str, tuple[str, bytes]] = {}
    number = 0
    for element in form.xpath(".//input|.//select|.//textarea"):
        name = element.get("name")
        if not name or element.get("disabled") is not None:
            continue
        number += 1
        kind = (element.get("type") or "text").lower() if element.tag == "input" else element.tag
        # The pages' date, month and number inputs are text inputs the browser's picker or keypad fills.
        kind = element.get("data-picker") or {"decimal": "number"}.get(element.get("inputmode") or "", kind)
        value = element.get("value") or ""
        match kind:
            case "file":
                files[name] = ("读数.csv", f"source,kWh\nM-{number},{1200 + number}\n".encode())
                continue
            case "checkbox" | "radio":
                if name in fields and kind == "radio":
                    continue
                value = value or "on"
            case "select":
                options = [o.get("value", o.text_content()) for o in element.xpath(".//option")]
                chosen = [o.get("value", o.text_content()) for o in element.xpath(".//option[@selected]")]
                value = (chosen or [o for o in options if o] or [""])[0]
            case "textarea":
                value = element.text_content() or f"说明{number}"
            case "password":
                value = DEMO_PASSWORD
            case "date":
                value = value or "2026-05-01"
            case "month":
                value = value or "2026-05"
            case "number":
                value = value or "12"
            case "email":
                value = value or f"new{number}@xiangfeng.example"
            case "hidden" | "submit" | "button":
                pass
            case _:
                value = value or f"测试{number}"
        fields.setdefault(name, []).append(value)
    return fields, files


def post_forms(html: str, page_url: str) -> list:
    document = lxml.html.fromstring(html)
    forms = []
    for form in document.xpath("//form"):
        if (form.get("method") or "get").lower() != "post" and not form.get("hx-post"):
            continue
        action = form.get("action") or form.get("hx-post") or urlsplit(page_url).path
        forms.append((urlsplit(action).path, form))
    return forms


class Watch:
    """The protected fields of the database, read before and after each forged post."""

    def __init__(self, web, other_org: int, stranger: int) -> None:
        self.web = web
        self.other_org = other_org
        self.stranger = stranger
        with web.db.engine.connect() as connection:
            names = inspect(connection).get_table_names()
            self.org_tables = [
                t for t in names if "org_id" in {c["name"] for c in inspect(connection).get_columns(t)}
            ]

    def read(self) -> dict:
        with self.web.db.engine.connect() as connection:
            run = lambda sql, **p: connection.execute(text(sql), p).all()  # noqa: E731
            other = {t: run(f"SELECT count(*) FROM {t} WHERE org_id = :o", o=self.other_org)[0][0]
                     for t in self.org_tables}  # fmt: skip
            records = {
                row[0]: row[1:] for row in run("SELECT id, state, version, created_by, data FROM record")
            }
            signatures = run(
                "SELECT signer_id, signer_name, signed_at, meaning, content_hash FROM signature "
                "WHERE signer_id = :s OR signer_name = :n OR signed_at = :t OR content_hash = :h",
                s=self.stranger,
                n=FORGED_SIGNER,
                t=FORGED_TIME,
                h="0" * 64,
            )
            heads = dict(run("SELECT org_id, last_seq FROM audit_chain_head"))
        return {"other": other, "records": records, "signatures": signatures, "heads": heads}

    def violations(self, before: dict, after: dict) -> list[str]:
        found = []
        for table, count in after["other"].items():
            if count != before["other"][table]:
                found.append(f"{table}: rows of the other organization {before['other'][table]} → {count}")
        for record_id, (state, version, created_by, data) in after["records"].items():
            if version >= 999 or created_by == self.stranger:
                found.append(f"record {record_id}: version {version}, created_by {created_by}")
            keys = set(json.loads(data) if isinstance(data, str) else data)
            forged = keys & set(forged_fields(0, 0))
            if forged and (record_id not in before["records"] or before["records"][record_id][3] != data):
                found.append(f"record {record_id}: forged keys in its data {sorted(forged)}")
            old = before["records"].get(record_id)
            if old is not None and old[0] != state and not self._allowed(record_id, old[0], state, before):
                found.append(f"record {record_id}: state {old[0]} → {state} without an allowed transition")
        if after["signatures"] != before["signatures"]:
            found.append(f"forged signatures {after['signatures']}")
        return found

    def _allowed(self, record_id: int, old: str, new: str, before: dict) -> bool:
        with self.web.db.engine.connect() as connection:
            key = connection.execute(
                text("SELECT workflow_key FROM record WHERE id = :i"), {"i": record_id}
            ).scalar()
            events = connection.execute(
                text(
                    "SELECT org_id, seq, action, from_state, to_state FROM audit_event "
                    "WHERE subject_type = 'record' AND subject_id = :i"
                ),
                {"i": str(record_id)},
            ).all()
        spec = CATALOG.current[key].spec
        return any(
            seq > before["heads"].get(org_id, 0)
            and to_state == new
            and (transition := spec.transition(action, from_state)) is not None
            and transition.dest == to_state
            for org_id, seq, action, from_state, to_state in events
        )


def test_forged_protected_fields_change_nothing_on_any_form(web):
    ids = demo_object_ids(web)
    with web.db.engine.connect() as connection:
        other_org = connection.execute(text("SELECT id FROM organization WHERE slug = 'other-co'")).scalar()
        stranger = connection.execute(
            text("SELECT id FROM user_account WHERE email = :e"), {"e": OTHER_ORG_ADMIN}
        ).scalar()
    forged = forged_fields(other_org, stranger)
    watch = Watch(web, other_org, stranger)
    rules = route_rules(web.app)
    pages = []
    for rule in rules:
        if (
            rule.method == "GET"
            and not rule.is_api
            and not re.search(r"download|export|docx|xlsx|zip", rule.path)
        ):
            try:
                pages.append(concrete(rule.path, ids))
            except AssertionError:  # a parameter with no demo value: reached through the pages instead
                continue
    pages += [f"/records/{key}/new" for key in sorted(CATALOG.current)]
    posts = Counter()
    statuses = Counter()
    routes_filled: set[str] = set()
    routes_bare: set[str] = set()
    violations: list[str] = []

    def forged_post(client, path: str, fields: dict[str, list[str]], files, route: str) -> None:
        body = {name: list(values) for name, values in fields.items()}
        for name, value in forged.items():  # extra fields: a field the form has keeps its own value
            body.setdefault(name, [value])
        if "csrf_token" not in body:  # a page's form carries its own; a bare post takes the session's
            body["csrf_token"] = [csrf_of(client.get("/").text)]
        before = watch.read()
        response = client.post(path, data=body, files=files or None)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (path, response.status_code, response.text[:400])
        violations.extend(f"{route}: {v}" for v in watch.violations(before, watch.read()))
        posts[route] += 1
        (routes_filled if fields else routes_bare).add(route)

    unsafe = {r.path: r for r in rules if r.is_unsafe and not r.is_api and r.path not in SKIPPED}
    patterns = {path: re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$") for path in unsafe}

    def route_of(path: str) -> str | None:
        return next((p for p, pattern in patterns.items() if pattern.match(path)), None)

    for role in ("admin", "carbon_manager"):
        client = web.as_role(role)
        seen_pages = set()
        posted_shapes: set[tuple[str, tuple[str, ...]]] = set()
        queue = list(dict.fromkeys(pages))
        while queue:
            page = queue.pop(0)
            if page in seen_pages:
                continue
            seen_pages.add(page)
            response = client.get(page)
            if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
                continue
            # Transition panels open from the record page's buttons.
            for trigger in re.findall(r'hx-get="(/r/\d+/transition/\w+)"', response.text):
                queue.append(trigger)
            for action, form in post_forms(response.text, page):
                route = route_of(action)
                fields, files = filled(form)
                shape = (action, () if action == "/locale" else tuple(sorted(fields)))
                if route is None or shape in posted_shapes:  # the language switch is on every page
                    continue
                posted_shapes.add(shape)
                forged_post(client, action, fields, files, route)
        # Records created by the forms above: open each one's transition panels too.
        with web.db.engine.connect() as connection:
            fresh = (
                connection.execute(
                    text("SELECT max(id) FROM record GROUP BY workflow_key ORDER BY workflow_key")
                )
                .scalars()
                .all()
            )
        for record_id in fresh:
            page = client.get(f"/r/{record_id}")
            for panel in re.findall(r'hx-get="(/r/\d+/transition/\w+)"', page.text):
                html = client.get(panel).text
                for action, form in post_forms(html, panel):
                    if action.startswith(panel):  # the panel's own form (the page around it is posted above)
                        forged_post(client, action, *filled(form), route_of(action))
    for route in sorted(set(unsafe) - routes_filled):  # no page offers its form: the forged fields alone
        forged_post(web.as_role("admin"), concrete(route, ids), {}, {}, route)
    total = sum(posts.values())
    print(
        f"\nT16 forged posts: {total} over {len(posts)}/{len(unsafe)} form routes "
        f"({len(routes_filled)} with a filled form), answers {dict(sorted(statuses.items()))}; "
        f"protected fields changed: {len(violations)}"
    )
    for violation in violations[:20]:
        print("  ", violation)
    assert violations == []
    assert len(posts) == len(unsafe) and total >= 100
