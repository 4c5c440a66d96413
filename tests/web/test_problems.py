"""The JSON API's one error shape (RFC 9457 problem+json, checked against the schema /openapi.json
publishes) and its OpenAPI document: /api/v1 operations only, each behind the bearer scheme."""

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.web.conftest import BASE_URL, api_token, bearer_client, csrf_of
from tests.web.test_security import concrete, demo_object_ids

PROBLEM = "application/problem+json"


def matches(value: Any, schema: dict, components: dict, where: str = "") -> list[str]:
    """The parts of JSON Schema the published document uses: $ref, type, required, properties, items,
    anyOf. Returns what does not match."""
    if "$ref" in schema:
        return matches(value, components[schema["$ref"].rsplit("/", 1)[1]], components, where)
    if "anyOf" in schema:
        options = [matches(value, option, components, where) for option in schema["anyOf"]]
        return [] if any(not problems for problems in options) else [f"{where}: no anyOf option matches"]
    kinds = {"string": str, "integer": int, "array": list, "object": dict, "null": type(None)}
    kind = schema.get("type")
    if kind and not (isinstance(value, kinds[kind]) and not (kind == "integer" and isinstance(value, bool))):
        return [f"{where}: {value!r} is not {kind}"]
    found = []
    if kind == "object":
        found += [f"{where}.{name}: missing" for name in schema.get("required", []) if name not in value]
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                found += matches(value[name], sub, components, f"{where}.{name}")
    if kind == "array":
        for index, item in enumerate(value):
            found += matches(item, schema["items"], components, f"{where}[{index}]")
    return found


@pytest.fixture
def spec(web) -> dict:
    return web.client().get("/openapi.json").json()


def test_the_document_lists_the_api_only_each_operation_behind_the_bearer_scheme(spec):
    operations = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]
    assert len(operations) == 13
    assert all(path.startswith("/api/v1/") for path, _, _ in operations), [p for p, _, _ in operations]
    assert spec["components"]["securitySchemes"] == {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "tgn_…",
            "description": "个人访问令牌 / personal access token; each operation lists the scope it needs",
        }
    }
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "detail", "instance"}
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation["security"] in (
            [{"bearerAuth": ["read"]}],
            [{"bearerAuth": ["records:write"]}],
            [{"bearerAuth": ["meter:write"]}],
        ), where
        errors = {status: r for status, r in operation["responses"].items() if int(status) >= 400}
        assert {"401", "403", "500"} <= set(errors), where
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in errors, where
        for status, response in errors.items():
            content = response["content"]
            assert list(content) == [PROBLEM], (where, status)
            assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
            examples = content[PROBLEM]["examples"]
            assert set(examples) == {"zh_CN", "en"}, (where, status)
            for example in examples.values():
                assert matches(example["value"], {"$ref": "#/x/Problem"}, schemas) == [], (where, status)
                assert example["value"]["status"] == int(status)


def test_the_pages_stay_out_of_the_document(web, spec):
    from tests.web.routes import route_rules

    pages = {rule.path for rule in route_rules(web.app) if not rule.is_api}
    assert len(pages) > 30 and not pages & set(spec["paths"])


class Sweep:
    """Bad requests to every operation; every answer is checked against the published schema."""

    def __init__(self, web, spec: dict) -> None:
        self.web = web
        self.spec = spec
        self.schemas = spec["components"]["schemas"]
        self.checked: dict[int, int] = {}

    def check(self, response, *, status: int, path: str, operation: dict | None, locale: str = "zh") -> dict:
        where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
        assert response.status_code == status, (where, response.text)
        assert response.headers["content-type"] == PROBLEM, where
        body = response.json()
        assert matches(body, {"$ref": "#/x/Problem"}, self.schemas) == [], (where, body)
        assert body["status"] == status and body["instance"] == path, (where, body)
        assert body["type"].startswith("urn:tanguan:problem:") and body["title"] and body["detail"], where
        chinese = bool(re.search(r"[\u4e00-\u9fff]", body["title"] + body["detail"]))
        assert chinese == (locale == "zh"), (where, body)
        if operation is not None and status != 405:
            assert str(status) in operation["responses"], f"{where}: {status} is not documented"
        if status == 422:
            assert body["errors"] and all(error["field"] and error["message"] for error in body["errors"])
        self.checked[status] = self.checked.get(status, 0) + 1
        return body


@dataclass
class Call:
    """One operation with a body and query that pass validation; ``send`` varies them."""

    method: str
    path: str
    query: dict[str, str]
    body: Any

    def send(self, client, *, url: str | None = None, **overrides: Any):
        overrides.setdefault("params", self.query)
        overrides.setdefault("headers", {"Idempotency-Key": "sweep-0001"})
        if "content" not in overrides:
            overrides.setdefault("json", self.body)
        return client.request(self.method, url or self.path, **overrides)


def test_every_operation_answers_bad_requests_with_documented_problems(web, spec):
    ids = demo_object_ids(web)
    ids_missing = {"user_id": 987654, "record_id": 987654, "workflow_key": "no_such_process"}
    ids_wrong = {"user_id": "abc", "record_id": "abc", "workflow_key": "Not-a-key"}
    sweep = Sweep(web, spec)
    admin_token = api_token(web, "admin@xiangfeng.example", name="sweep")
    admin = bearer_client(web, admin_token)
    english = bearer_client(web, admin_token, **{"Accept-Language": "en-GB,en;q=0.9"})
    no_scope = bearer_client(web, api_token(web, "admin@xiangfeng.example", scopes=["meter:write"], name="m"))
    read_only = bearer_client(web, api_token(web, "admin@xiangfeng.example", scopes=["read"], name="r"))
    staff = bearer_client(web, api_token(web, "staff@xiangfeng.example", name="staff"))
    anonymous = TestClient(web.app, base_url=BASE_URL)
    session = web.as_role("admin")
    before = web.table_fingerprint()
    for template, item in spec["paths"].items():
        for method, operation in item.items():
            call = Call(
                method=method.upper(),
                path=concrete(template, ids),
                query={"workflow": "nonconformity"}
                if template == "/api/v1/records" and method == "get"
                else {},
                body={"version": 999, "data": {}, "workflow": "nonconformity"} if method == "post" else None,
            )
            path = call.path
            sweep.check(call.send(anonymous), status=401, path=path, operation=operation)
            sweep.check(
                call.send(bearer_client(web, "tgn_forged")), status=401, path=path, operation=operation
            )
            scope = operation["security"][0]["bearerAuth"][0]
            denied = no_scope if scope != "meter:write" else read_only
            sweep.check(call.send(denied), status=403, path=path, operation=operation)
            if call.method == "POST":  # a browser session without the CSRF header; more than the size limit
                sweep.check(call.send(session), status=403, path=path, operation=operation)
                huge = call.send(
                    admin, content=b" " * (3 * 1024 * 1024), headers={"Content-Type": "application/json"}
                )
                sweep.check(huge, status=413, path=path, operation=operation)
            if "requestBody" in operation:  # a body that is not JSON, one of the wrong shape
                json_type = {"Idempotency-Key": "sweep-0001", "Content-Type": "application/json"}
                broken = call.send(admin, content=b'{"version": ', headers=json_type)
                problem = sweep.check(broken, status=422, path=path, operation=operation)
                assert problem["errors"][0]["field"] == "body"
                sweep.check(
                    call.send(english, json=[]), status=422, path=path, operation=operation, locale="en"
                )
            if "{" in template:
                missing = concrete(template, {**ids, **ids_missing})
                sweep.check(call.send(admin, url=missing), status=404, path=missing, operation=operation)
                wrong = concrete(template, {**ids, **ids_wrong})
                problem = sweep.check(
                    call.send(admin, url=wrong), status=422, path=wrong, operation=operation
                )
                assert {error["field"] for error in problem["errors"]} & set(ids_missing)
            not_allowed = admin.request("DELETE", path, params=call.query)
            sweep.check(not_allowed, status=405, path=path, operation=operation)
    # The rest: a role refused, a stale version, an unknown workflow, bad query values, an illegal transition.
    users = spec["paths"]["/api/v1/users"]["get"]
    sweep.check(staff.get("/api/v1/users"), status=403, path="/api/v1/users", operation=users)
    records = spec["paths"]["/api/v1/records"]
    listed = sweep.check(
        admin.get("/api/v1/records"), status=422, path="/api/v1/records", operation=records["get"]
    )
    assert listed["errors"] == [{"field": "workflow", "message": "必填"}]
    unknown = admin.get("/api/v1/records", params={"workflow": "no-such"})
    sweep.check(unknown, status=404, path="/api/v1/records", operation=records["get"])
    events = spec["paths"]["/api/v1/audit-events"]["get"]
    bad_query = admin.get("/api/v1/audit-events", params={"before": "昨天"})
    assert sweep.check(bad_query, status=422, path="/api/v1/audit-events", operation=events)["errors"] == [
        {"field": "before", "message": "应为整数"}
    ]
    fire_path = concrete("/api/v1/records/{record_id}/transitions/{trigger}", ids)
    fire = spec["paths"]["/api/v1/records/{record_id}/transitions/{trigger}"]["post"]
    stale = admin.post(fire_path, json={"version": 999, "data": {}})
    assert sweep.check(stale, status=409, path=fire_path, operation=fire)["type"].endswith("version-conflict")
    meter = spec["paths"]["/api/v1/meter-readings"]["post"]
    no_key = admin.post("/api/v1/meter-readings", json={"readings": []})
    assert (
        sweep.check(no_key, status=422, path="/api/v1/meter-readings", operation=meter)["errors"][0]["field"]
        == "idempotency-key"
    )
    bad_rows = admin.post(
        "/api/v1/meter-readings",
        json={"readings": [{"source_id": 1, "period_start": "不是时间", "quantity": "1"}]},
        headers={"Idempotency-Key": "sweep-rows"},
    )
    row_problem = sweep.check(bad_rows, status=422, path="/api/v1/meter-readings", operation=meter)
    assert row_problem["errors"][0]["row"] == 1
    after = web.table_fingerprint()
    after.pop("user_session"), before.pop("user_session")
    assert after == before
    total = sum(sweep.checked.values())
    print(f"\nproblem+json sweep: {total} error answers, by status {sorted(sweep.checked.items())}")
    assert set(sweep.checked) == {401, 403, 404, 405, 409, 413, 422}


def test_a_server_error_is_a_problem_too(web, spec):
    def boom() -> None:
        raise RuntimeError("a bug")

    web.app.add_api_route("/api/v1/test-boom", boom)  # this app instance only
    client = TestClient(web.app, base_url=BASE_URL, raise_server_exceptions=False)
    token = api_token(web, "gm@xiangfeng.example", name="boom")
    response = client.get("/api/v1/test-boom", headers={"Authorization": f"Bearer {token}"})
    body = Sweep(web, spec).check(response, status=500, path="/api/v1/test-boom", operation=None)
    assert body["type"] == "urn:tanguan:problem:server-error" and "a bug" not in response.text


def test_a_password_change_and_a_csrf_refusal_are_problems(web, spec):
    with web.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE user_account SET must_change_password = TRUE WHERE email LIKE 'gm@%'")
        )
    token = api_token(web, "gm@xiangfeng.example", name="pending")
    response = bearer_client(web, token).get("/api/v1/me")
    operation = spec["paths"]["/api/v1/me"]["get"]
    body = Sweep(web, spec).check(response, status=403, path="/api/v1/me", operation=operation)
    assert body["type"] == "urn:tanguan:problem:password-change-required"
    session = web.as_role("internal_auditor")
    verify = spec["paths"]["/api/v1/audit-events/verify"]["post"]
    refused = session.post("/api/v1/audit-events/verify")
    assert (
        Sweep(web, spec)
        .check(refused, status=403, path="/api/v1/audit-events/verify", operation=verify)["type"]
        .endswith(":csrf")
    )
    accepted = session.post(
        "/api/v1/audit-events/verify", headers={"X-CSRF-Token": csrf_of(session.get("/").text)}
    )
    assert accepted.status_code == 200 and accepted.json()["ok"] is True
