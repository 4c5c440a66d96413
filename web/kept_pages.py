"""Whole pages kept in this process under the database's write generation (docs/adr/0048).

The most visited pages (the dashboard, record lists, record pages, the audit trail, the notification
centre) are pure reads: what they show changes only when a transaction commits a change, or when the
clock moves (overdue marks, today's date). So a page rendered for a session is kept under a key that names
everything it was made from — the generation read before any of its data, the China minute, the session
(and with it the person, their roles and the CSRF token), the organization, the language, the path with
its query and the htmx headers — and served again while the key holds. The session is checked on every
request before a kept page is looked up; a kept page skips only the page's own queries and rendering.

The CSP nonce is per response: a kept page holds a marker where the nonce was and gets the request's own.
One render per key: requests that arrive while a page is being rendered (a new minute or a write, with many
people on the same page) wait for it instead of rendering it too.
"""

import asyncio
import contextlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from prometheus_client import Counter

from engine.identity.models import Role
from engine.observability import REGISTRY
from web.observability import ON_REQUEST_END

KEPT_ROUTES = frozenset({"/", "/records/{workflow_key}", "/r/{record_id}", "/audit", "/notifications"})
HTMX_HEADERS = ("hx-request", "hx-boosted", "hx-target")  # a fragment and a whole page differ
MAX_PAGES = 256
MAX_BYTES = 64 * 1024 * 1024
WAIT_FOR_RENDER_S = 2.0  # then render it too: the first request may have failed or gone
_NONCE_MARK = f"tanguan-nonce-{secrets.token_hex(8)}".encode()  # cannot be guessed into a page's data

KEPT_PAGES = Counter(
    "tanguan_kept_pages",
    "Page views answered from a kept page (hit) or rendered and kept (miss)",
    ["outcome"],
    registry=REGISTRY,
)


@dataclass(frozen=True)
class KeptPage:
    body: bytes  # the nonce replaced by the marker
    headers: tuple[tuple[str, str], ...]
    media_type: str | None


class ServeKeptPage(Exception):
    """Raised by the app-wide checks when the page is kept: the handler answers it, the route does not run."""

    def __init__(self, response: Response) -> None:
        self.response = response


class PageStore:
    """A small LRU bounded by count and by bytes; thread-safe (pages render on the thread pool)."""

    def __init__(self, *, max_pages: int = MAX_PAGES, max_bytes: int = MAX_BYTES) -> None:
        self._pages: OrderedDict[Hashable, KeptPage] = OrderedDict()
        self._rendering: dict[Hashable, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._bytes = 0
        self._max_pages, self._max_bytes = max_pages, max_bytes
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> KeptPage | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: Hashable, page: KeptPage) -> None:
        if len(page.body) > self._max_bytes // 8:
            return
        with self._lock:
            old = self._pages.pop(key, None)
            self._bytes += len(page.body) - (len(old.body) if old else 0)
            self._pages[key] = page
            while len(self._pages) > self._max_pages or self._bytes > self._max_bytes:
                _, evicted = self._pages.popitem(last=False)
                self._bytes -= len(evicted.body)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._bytes = 0

    def claim(self, key: Hashable) -> asyncio.Event | None:
        """None: the caller renders the page (and ``release``s it); otherwise the event of the render under
        way. Called on the event loop."""
        with self._lock:
            if key in self._rendering:
                return self._rendering[key][1]
            self._rendering[key] = (asyncio.get_running_loop(), asyncio.Event())
            return None

    def rendering(self) -> int:
        """How many keys are being rendered now."""
        with self._lock:
            return len(self._rendering)

    def release(self, key: Hashable) -> None:
        """The render of ``key`` is over (kept or not): wake who waits for it. From any thread."""
        with self._lock:
            claimed = self._rendering.pop(key, None)
        if claimed is not None:
            loop, done = claimed
            loop.call_soon_threadsafe(done.set)


def may_keep(request: Request) -> bool:
    """A GET of a kept route; whether the person qualifies is decided once they are known (``page_key``)."""
    route = request.scope.get("route")
    return request.method == "GET" and getattr(route, "path", None) in KEPT_ROUTES


def page_key(request: Request, *, generation: int) -> Hashable | None:
    """The key of the page asked for, or None when it must be rendered: no session (an API token), no
    organization, a password to change, or a verifier (the gate decides their every view by the clock)."""
    principal = request.state.principal
    if (
        principal is None
        or principal.session_token_hash is None
        or principal.org is None
        or principal.must_change_password
        or Role.external_auditor.value in principal.roles
    ):
        return None
    url = request.url
    return (
        generation,
        int(time.time() // 60),
        principal.session_token_hash,
        principal.org.id,
        request.state.locale,
        url.scheme,
        url.netloc,
        url.path,
        url.query,
        tuple(request.headers.get(name) for name in HTMX_HEADERS),
    )


async def answer_if_kept(request: Request, store: PageStore | None, key: Hashable) -> None:
    """Raise ServeKeptPage with the kept page under ``key``; otherwise note the key for ``keep``. Without
    a store (TANGUAN_KEEP_PAGES=false) every view renders."""
    if store is None:
        return
    page = store.get(key)
    if page is None:
        rendering = store.claim(key)
        if rendering is None:  # this request renders it: released when kept, or when the request ends
            request.scope["state"].setdefault(ON_REQUEST_END, []).append(lambda: store.release(key))
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rendering.wait(), WAIT_FOR_RENDER_S)
            page = store.get(key)
    if page is None:
        KEPT_PAGES.labels("miss").inc()
        request.state.page_key = key
        return
    KEPT_PAGES.labels("hit").inc()
    body = page.body.replace(_NONCE_MARK, request.state.csp_nonce.encode())
    raise ServeKeptPage(Response(body, headers=dict(page.headers), media_type=page.media_type))


def keep(request: Request, store: PageStore | None, response: Response) -> None:
    """Keep a page rendered under a noted key (a whole 200 answer; no redirect, no cookie)."""
    key = getattr(request.state, "page_key", None)
    if store is None or key is None:
        return
    try:
        if response.status_code == 200 and not {"hx-redirect", "set-cookie"} & set(response.headers):
            _put(request, store, key, response)
    finally:
        store.release(key)


def _put(request: Request, store: PageStore, key: Hashable, response: Response) -> None:
    nonce = request.state.csp_nonce.encode()
    headers = tuple(
        (name, value)
        for name, value in response.headers.items()
        if name not in ("content-length", "content-type")
    )
    store.put(key, KeptPage(bytes(response.body).replace(nonce, _NONCE_MARK), headers, response.media_type))
