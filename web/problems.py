"""The one error shape of the JSON API: RFC 9457 problem details (``application/problem+json``), in Chinese
or English by ``Accept-Language`` (else the language the app negotiated for the request).

``type`` is a URN naming the kind of problem (``urn:tanguan:problem:version-conflict``): an identifier to
branch on, not a page to fetch. ``instance`` is the request's path. A validation problem lists each field in
``errors``."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from engine.carbon_data.errors import DataIssue
from engine.forms.spec import Text
from engine.values import control_character_message
from engine.workflow.errors import (
    FormRefused,
    GuardRefused,
    NotAvailable,
    RoleRefused,
    SeparationRefused,
    SignatureRefused,
    TransitionRefused,
    VersionConflict,
)
from web.i18n import DEFAULT_LOCALE, negotiate, normalize_locale

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:tanguan:problem:"


class FieldProblem(BaseModel):
    """One invalid input."""

    field: str = Field(
        description="Where: a dotted path into the JSON body (`data.severity`, `readings.3.quantity`), "
        "a query, path or header name, or `body` for the body as a whole"
    )
    message: str = Field(description="What is wrong, in the response's language")
    row: int | None = Field(default=None, description="1-based position in a submitted list, when it has one")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="The kind of problem, a URN (`urn:tanguan:problem:…`)")
    title: str = Field(description="A short summary of the kind of problem, in the response's language")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong this time, in the response's language")
    instance: str = Field(description="The path of the request that had the problem")
    errors: list[FieldProblem] | None = Field(
        default=None, description="Each invalid field (validation problems only)"
    )


def _t(zh: str, en: str) -> Text:
    return Text(zh=zh, en=en)


TITLES = {
    400: _t("请求有误", "Bad request"),
    401: _t("未认证", "Not authenticated"),
    403: _t("禁止访问", "Forbidden"),
    404: _t("未找到", "Not found"),
    405: _t("不允许的请求方法", "Method not allowed"),
    409: _t("与当前状态冲突", "Conflict"),
    413: _t("请求内容过大", "Request body too large"),
    422: _t("请求内容无效", "Invalid request"),
    429: _t("请求过于频繁", "Too many requests"),
    500: _t("服务器内部错误", "Internal server error"),
}

# The problem code (the URN's last part) and the default detail of each refusal the app raises.
DETAILS = {
    "not-authenticated": _t(
        "需要有效的 API 令牌（Authorization: Bearer …）或登录会话；令牌可能已撤销或过期",
        "A valid API token (Authorization: Bearer …) or signed-in session is needed; "
        "the token may be revoked or expired",
    ),
    "password-change-required": _t(
        "请先在网页上修改一次性密码", "Change the one-time password on the web first"
    ),
    "role": _t("您的角色无权执行此操作", "Your roles do not allow this"),
    "no-membership": _t("您不属于任何组织", "You are not a member of any organization"),
    "csrf": _t(
        "浏览器会话调用接口须带 X-CSRF-Token 请求头",
        "A browser session calling the API must send the X-CSRF-Token header",
    ),
    "cross-site": _t("拒绝来自其他站点的请求", "Requests from other sites are refused"),
    "not-found": _t("请求的对象不存在", "The requested resource does not exist"),
    "method-not-allowed": _t("此地址不支持该请求方法", "This method is not allowed on this path"),
    "too-large": _t("请求内容超过上限", "The request body is over the limit"),
    "rate-limited": _t("请求过于频繁，请稍后再试", "Too many requests; try again later"),
    "server-error": _t(
        "服务器出错，错误已记录", "Something went wrong on our side; the error has been logged"
    ),
}
STATUS_CODES = {
    400: "bad-request",
    401: "not-authenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    422: "validation",
    429: "rate-limited",
    500: "server-error",
}
REFUSAL_CODES: dict[type[TransitionRefused], str] = {
    VersionConflict: "version-conflict",
    NotAvailable: "not-available",
    GuardRefused: "guard-refused",
    RoleRefused: "role",
    SeparationRefused: "separation-of-duties",
    SignatureRefused: "signature-refused",
    FormRefused: "validation",
}


@dataclass(frozen=True)
class FieldText:
    """An invalid field with its message in both languages (turned into a ``FieldProblem``)."""

    field: str
    message: Text
    row: int | None = None


class ApiProblem(Exception):
    """Raised by an API route or dependency; the app answers it as problem+json."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: Text | None = None,
        *,
        errors: Sequence[FieldText] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})


def problem_locale(headers: Mapping[str, str], fallback: str | None) -> str:
    """Accept-Language when it names a language we have; else the request's negotiated language."""
    header = headers.get("accept-language")
    if header and any(normalize_locale(part.split(";")[0]) for part in header.split(",")):
        return negotiate(user_locale=None, cookie_locale=None, accept_language=header)
    return fallback or DEFAULT_LOCALE


def title_of(status: int) -> Text:
    if status in TITLES:
        return TITLES[status]
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return Text(zh=phrase, en=phrase)


def problem_document(
    *,
    status: int,
    code: str,
    locale: str,
    instance: str,
    detail: Text | None = None,
    errors: Sequence[FieldText] = (),
) -> dict[str, Any]:
    """The problem as JSON-ready data (validated by the published model)."""
    title = title_of(status)
    detail = detail or DETAILS.get(code) or title
    problem = Problem(
        type=PROBLEM_TYPE_PREFIX + code,
        title=title.get(locale),
        status=status,
        detail=detail.get(locale),
        instance=instance,
        errors=[FieldProblem(field=e.field, message=e.message.get(locale), row=e.row) for e in errors]
        if errors or code == "validation"
        else None,
    )
    return problem.model_dump(exclude_none=True)


def problem_response(request: Request, problem: ApiProblem) -> JSONResponse:
    locale = problem_locale(request.headers, getattr(request.state, "locale", None))
    document = problem_document(
        status=problem.status,
        code=problem.code,
        locale=locale,
        instance=request.url.path,
        detail=problem.detail,
        errors=problem.errors,
    )
    headers = {**problem.headers, "Content-Language": "zh-CN" if locale == "zh_CN" else "en"}
    return JSONResponse(document, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_bytes(*, status: int, code: str, headers: Mapping[str, str], path: str, detail: Text) -> bytes:
    """A problem for code outside FastAPI (the request-size middleware)."""
    locale = problem_locale(headers, None)
    document = problem_document(status=status, code=code, locale=locale, instance=path, detail=detail)
    return json.dumps(document, ensure_ascii=False).encode()


# ------------------------------------------------------------------ from the app's own errors


def from_http_error(status: int, detail: Any) -> ApiProblem:
    """An HTTPException: its detail is a code of ours (``role``, ``csrf``…) or Starlette's phrase."""
    code = detail.replace("_", "-") if isinstance(detail, str) else ""
    if code in DETAILS:
        return ApiProblem(status, code)
    return ApiProblem(status, STATUS_CODES.get(status, "http-error"))


# A form's fields are posted under the body's `data` (and named so); these sit beside it.
TRANSITION_BODY_FIELDS = frozenset({"comment", "signature_password"})


def from_refusal(refused: TransitionRefused) -> ApiProblem:
    code = next((code for kind, code in REFUSAL_CODES.items() if isinstance(refused, kind)), "conflict")
    errors = [
        FieldText(field if field in TRANSITION_BODY_FIELDS else f"data.{field}", Text(**message))
        for field, message in refused.field_errors.items()
    ]
    return ApiProblem(refused.status, code, refused.reason, errors=errors)


def from_data_issues(issues: Sequence[DataIssue]) -> ApiProblem:
    errors = [FieldText(i.field, Text(zh=i.message_zh, en=i.message_en), row=i.row) for i in issues]
    return ApiProblem(422, "validation", invalid_count(len(errors)), errors=errors)


def from_validation_errors(errors: Sequence[Mapping[str, Any]]) -> ApiProblem:
    fields = [FieldText(_field_of(error), validation_message(error)) for error in errors]
    return ApiProblem(422, "validation", invalid_count(len(fields)), errors=fields)


def invalid_count(count: int) -> Text:
    return Text(zh=f"请求中有 {count} 处错误，见 errors", en=f"The request has {count} error(s): see errors")


def _field_of(error: Mapping[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ())]
    if error.get("type") == "json_invalid" or len(location) < 2:
        return location[0] if location else "body"
    return ".".join(location[1:])


# Pydantic's error types in Chinese; its own English message is kept for English.
VALIDATION_ZH = {
    "missing": "必填",
    "json_invalid": "不是有效的 JSON",
    "json_type": "应为 JSON",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "decimal_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为文本",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应不小于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应不大于 {le}",
    "dict_type": "应为 JSON 对象",
    "model_attributes_type": "应为 JSON 对象",
    "list_type": "应为列表",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "datetime_parsing": "应为日期时间（ISO 8601）",
    "datetime_from_date_parsing": "应为日期时间（ISO 8601）",
    "enum": "应为以下之一：{expected}",
    "literal_error": "应为以下之一：{expected}",
    "extra_forbidden": "不允许的字段",
    "control_character": control_character_message("{character}")[0],
}


def validation_message(error: Mapping[str, Any]) -> Text:
    """The message of one of pydantic's errors in both languages (its own English, our Chinese)."""
    english = str(error.get("msg", "invalid"))
    template = VALIDATION_ZH.get(str(error.get("type")))
    try:
        chinese = template.format(**error.get("ctx", {})) if template else f"无效的值（{english}）"
    except (KeyError, IndexError):
        chinese = f"无效的值（{english}）"
    return Text(zh=chinese, en=english)
