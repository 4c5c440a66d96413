"""Request observability (docs/adr/0038): an ``X-Request-ID`` on every response, one JSON log line and one
latency observation per request, and the probes ``/healthz`` (the process answers), ``/readyz`` (database,
schema, evidence store, clock against NTP) and ``/metrics`` (Prometheus text, for the local machine or a
bearer token)."""

import hmac
import logging
import re
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.clock_check import CachedClockCheck
from engine.config import Settings, ntp_server_list
from engine.db import Database
from engine.observability import (
    REGISTRY,
    REQUEST_LOG,
    REQUEST_SECONDS,
    ClockOffset,
    OutboxBacklog,
    OverdueTasks,
    configure_logging,
    json_line,
    readiness,
)

REQUEST_ID_HEADER = b"x-request-id"
# Taken from the request when it is a plain token (a proxy's or a client's id), else generated.
WELL_FORMED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=-]{7,127}")
UNMATCHED = "(unmatched)"  # one label for every path no route answers: the label set stays bounded
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})  # plain routes: they leave no route in the scope
LOCAL_CLIENTS = frozenset({"127.0.0.1", "::1"})
STATUS_CLASSES = {code: f"{code // 100}xx" for code in range(100, 600)}


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            return text if WELL_FORMED_ID.fullmatch(text) else None
    return None


ON_REQUEST_END = "on_request_end"  # request state: callables run once the request is over, however it ended


class ObservabilityMiddleware:
    """Outermost of the app's middleware: it sees the final status and times everything inside."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        header = (REQUEST_ID_HEADER, request_id.encode())
        status = 500  # unless a response starts: an exception escaped to the server-error handler

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            for finish in state.pop(ON_REQUEST_END, ()):  # whatever the answer was (web/kept_pages.py)
                finish()
            seconds = time.perf_counter() - started
            path = scope["path"]
            route = getattr(scope.get("route"), "path", None) or (path if path in PROBES else UNMATCHED)
            method = scope["method"]
            REQUEST_SECONDS.labels(route, method, STATUS_CLASSES.get(status, "other")).observe(seconds)
            if REQUEST_LOG.isEnabledFor(logging.INFO):
                principal = state.get("principal")
                org = getattr(principal, "org", None)
                REQUEST_LOG.info(
                    json_line(
                        "request",
                        request_id=request_id,
                        user_id=getattr(principal, "user_id", None),
                        org=getattr(org, "slug", None),
                        route=route,
                        method=method,
                        status=status,
                        duration_ms=round(seconds * 1000, 2),
                    )
                )


def may_read_metrics(request: Request, settings: Settings) -> bool:
    """The local machine (a scraper beside the instance; a request through the proxy carries the outside
    client's address), or anyone with ``TANGUAN_METRICS_TOKEN`` as a bearer token."""
    if request.client is not None and request.client.host in LOCAL_CLIENTS:
        return True
    token = settings.metrics_token
    offered = request.headers.get("authorization", "")
    return bool(token) and hmac.compare_digest(offered.encode(), f"Bearer {token}".encode())


def add_observability(app: FastAPI, db: Database, settings: Settings) -> None:
    configure_logging()
    per_app = CollectorRegistry(auto_describe=False)  # nothing is queried until scraped
    per_app.register(OverdueTasks(db))
    per_app.register(OutboxBacklog(db))
    clock = CachedClockCheck(ntp_server_list(settings.ntp_servers))
    per_app.register(ClockOffset(clock))
    app.add_middleware(ObservabilityMiddleware)

    # Plain routes, outside the app-wide dependencies: a probe needs no session, language or CSRF token,
    # and a bearer token here is the metrics token, not an API token.
    def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def readyz(_request: Request) -> JSONResponse:
        ready, report = readiness(
            db, settings.evidence_store, clock=clock, max_clock_offset_s=settings.max_clock_offset_s
        )
        return JSONResponse(report, status_code=200 if ready else 503)

    def metrics(request: Request) -> Response:
        if not may_read_metrics(request, settings):
            return PlainTextResponse(
                "指标仅限本机或持有令牌者读取 / metrics: local machine or TANGUAN_METRICS_TOKEN only",
                status_code=403,
            )
        body = generate_latest(REGISTRY) + generate_latest(per_app)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.add_route("/healthz", healthz, include_in_schema=False)
    app.add_route("/readyz", readyz, include_in_schema=False)
    app.add_route("/metrics", metrics, include_in_schema=False)

    @app.get("/ping", include_in_schema=False)
    def ping() -> PlainTextResponse:
        return PlainTextResponse("pong")
