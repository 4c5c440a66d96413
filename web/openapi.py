"""The OpenAPI document of the JSON API: only ``/api/v1`` operations (pages are left out in create_app),
the bearer security scheme with the scope each operation needs, and the problem+json error responses with
examples in both languages."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts

from engine.forms.spec import Text
from web.deps import is_api_path
from web.problems import (
    PROBLEM_MEDIA_TYPE,
    STATUS_CODES,
    FieldText,
    Problem,
    invalid_count,
    problem_document,
    title_of,
)

DESCRIPTION = """\
碳管的 JSON 接口。以个人访问令牌认证（`Authorization: Bearer tgn_…`，在“API 令牌”页面或
`tanguan token create` 创建）；每个操作需要令牌具有其声明的权限范围：`read`、`records:write`、`meter:write`。
令牌只能用于 `/api/v1`，不能打开网页。所有错误都以 `application/problem+json`（RFC 9457）返回，
语言按 `Accept-Language`（中文或英文）。

The JSON API of Tanguan. Authenticate with a personal access token (`Authorization: Bearer tgn_…`, made on
the API tokens page or with `tanguan token create`); each operation needs the scope it declares: `read`,
`records:write` or `meter:write`. Tokens work on `/api/v1` only, never on the pages. Every error is answered
as `application/problem+json` (RFC 9457), in Chinese or English by `Accept-Language`.
"""

ALWAYS = (401, 403, 500)  # no or a bad token, a role or scope refused, our own failure


# (problem code, detail, field errors) of each status's example; None: the default detail.
EXAMPLES: dict[int, tuple[str, Text | None, list[FieldText]]] = {
    401: ("not-authenticated", None, []),
    403: (
        "scope",
        Text(zh="此令牌没有 records:write 权限范围", en="This token lacks the records:write scope"),
        [],
    ),
    404: ("not-found", None, []),
    409: (
        "version-conflict",
        Text(
            zh="记录已被他人修改（您看到的是第 1 版，当前为第 2 版），请刷新后重试",
            en="The record was changed by someone else (you saw version 1, it is now 2); "
            "reload and try again",
        ),
        [],
    ),
    413: ("too-large", None, []),
    422: ("validation", invalid_count(1), [FieldText("data.severity", Text(zh="必填", en="Field required"))]),
    500: ("server-error", None, []),
}


def _problem_response(status: int, path: str) -> dict[str, Any]:
    code, detail, errors = EXAMPLES.get(status, (STATUS_CODES.get(status, "http-error"), None, []))
    examples = {
        locale: {
            "summary": "中文" if locale == "zh_CN" else "English",
            "value": problem_document(
                status=status, code=code, locale=locale, instance=path, detail=detail, errors=errors
            ),
        }
        for locale in ("zh_CN", "en")
    }
    return {
        "description": title_of(status).en,
        "content": {
            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}, "examples": examples}
        },
    }


def _error_statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    declared = {int(status) for status in operation["responses"] if status.isdigit() and int(status) >= 400}
    statuses = declared | set(ALWAYS)
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses.add(400)  # a body that cannot be read at all (not UTF-8, not JSON)
    if method in ("post", "put", "patch"):
        statuses.add(413)  # the size limit holds for any body, declared or not
    if "{" in path:
        statuses.add(404)
    return statuses


def api_openapi(app: FastAPI) -> dict[str, Any]:
    """Built once. The pages are left out here, in one place, rather than flagged route by route."""
    if app.openapi_schema:
        return app.openapi_schema
    api_routes = [route for route in iter_route_contexts(app.routes) if is_api_path(route.path or "")]
    schema = get_openapi(title=app.title, version=app.version, description=DESCRIPTION, routes=api_routes)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for replaced in ("HTTPValidationError", "ValidationError"):  # FastAPI's own 422 shape is not ours
        schemas.pop(replaced, None)
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status in sorted(_error_statuses(path, method, operation)):
                operation["responses"][str(status)] = _problem_response(status, path)
    app.openapi_schema = schema
    return schema
