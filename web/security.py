"""Security headers with a per-request CSP nonce, the request-size limit, and CSRF.

The middleware is plain ASGI (no BaseHTTPMiddleware): it sits on every request, including the
benchmarked ones.
"""

import hashlib
import hmac
import re
import secrets
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.forms.spec import Text
from web.problems import PROBLEM_MEDIA_TYPE, problem_bytes

MAX_BODY_BYTES = 2 * 1024 * 1024  # forms and JSON; the upload paths get the evidence limit
MULTIPART_OVERHEAD = 64 * 1024  # the other fields and boundaries of an upload form
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
ANON_CSRF_COOKIE = "tanguan_csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


INLINE_STYLE_FLAG = b"x-csp-allow-inline-style"  # set by the one page that needs it (Mermaid's SVG styles)
SANDBOX_FLAG = b"x-csp-sandbox"  # set by downloads of uploaded files: the policy gains ``sandbox``


def content_security_policy(nonce: str, *, inline_styles: bool = False, sandbox: bool = False) -> str:
    style = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        f"style-src {style}; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        + ("; sandbox" if sandbox else "")
    )


STATIC_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeadersMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        upload_paths: tuple[str, ...] = (),
        max_upload_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Paths (regular expressions) whose forms carry files get the upload limit.
        self.upload_paths = re.compile("|".join(f"(?:{path})" for path in upload_paths) or "(?!)")
        self.max_upload_bytes = max_upload_bytes + MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        is_static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                original = message.get("headers", [])
                flags = {k.lower() for k, _ in original if k.lower() in (INLINE_STYLE_FLAG, SANDBOX_FLAG)}
                headers = [
                    (k, v)
                    for k, v in original
                    if k.lower() not in (b"content-security-policy", INLINE_STYLE_FLAG, SANDBOX_FLAG)
                ]
                headers += STATIC_HEADERS
                policy = content_security_policy(
                    nonce, inline_styles=INLINE_STYLE_FLAG in flags, sandbox=SANDBOX_FLAG in flags
                )
                headers.append((b"content-security-policy", policy.encode()))
                if not is_static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        limit = self.max_upload_bytes if self.upload_paths.fullmatch(scope["path"]) else self.max_body_bytes
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send_with_headers, limit, scope)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, "request body too large")
            return message

        await self.app(scope, limited_receive, send_with_headers)


async def _too_large(send: Send, limit: int, scope: Scope) -> None:
    kib = limit // 1024
    if scope["path"].startswith("/api/"):  # the API's one error shape, before the app is reached
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        detail = Text(zh=f"请求内容过大（上限 {kib} KiB）", en=f"Request body too large (limit {kib} KiB)")
        body = problem_bytes(status=413, code="too-large", headers=headers, path=scope["path"], detail=detail)
        content_type = PROBLEM_MEDIA_TYPE.encode()
    else:
        body = f"请求内容过大（上限 {kib} KiB） / Request body too large (limit {kib} KiB)".encode()
        content_type = b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def csrf_token_for(secret: str, binding: str) -> str:
    """The token bound to a session (or to the anonymous CSRF cookie before sign-in)."""
    return hmac.new(secret.encode(), binding.encode(), hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        ours = f"{request.url.scheme}://{request.url.netloc}"
        parsed = urlsplit(origin)
        return f"{parsed.scheme}://{parsed.netloc}" == ours
    return origin != "null"


async def submitted_csrf_token(request: Request) -> str:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # cached on the request: the endpoint reads it again for free
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""
