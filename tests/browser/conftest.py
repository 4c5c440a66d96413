"""Browser fixtures: the real app served over HTTP by `tanguan serve` on a demo-seeded SQLite database,
driven by Debian's Chromium through Playwright's sync API (never a downloaded browser).

Every browser context records Content-Security-Policy violations (``securitypolicyviolation`` events,
pushed into ``window.__csp`` and reported to Python through a binding, so full-page navigations do not
lose them) and console errors that mention the CSP; a test fails at teardown if any page it visited
had one.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.serving import stop_process

DEMO_PASSWORD = "Xiangfeng#2026"
MAIN_ORG = "湖南湘峰水泥有限公司"
OTHER_ORG = "湖南湘峰骨料有限公司"
VIEWPORT = {"width": 1366, "height": 900}
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_S = 30
# How long an expectation keeps retrying before it fails: long enough for a page that loads slowly on a
# busy 2-core machine (a redirect after a POST, then the page), never a fixed sleep.
EXPECT_TIMEOUT_MS = 30_000

CSP_INIT_SCRIPT = """
(() => {
  window.__csp = window.__csp || [];
  document.addEventListener("securitypolicyviolation", (event) => {
    const record = {
      directive: event.effectiveDirective || event.violatedDirective,
      blocked: event.blockedURI,
      source: event.sourceFile,
      line: event.lineNumber,
      sample: event.sample,
      page: location.href,
    };
    window.__csp.push(record);
    if (typeof window.__reportCsp === "function") {
      window.__reportCsp(record);
    }
  });
})();
"""


@dataclass
class CspLog:
    """What the pages of one browser context reported."""

    violations: list[dict] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    def problems(self) -> list:
        return [*self.violations, *self.console_errors]

    def clear(self) -> None:
        self.violations.clear()
        self.console_errors.clear()


@dataclass
class Server:
    base_url: str
    data_dir: Path
    log_path: Path  # the server's output, for a failing test's report


def _tanguan() -> str:
    return str(Path(sys.executable).with_name("tanguan"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_env(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TANGUAN_")}
    env["TANGUAN_DATA_DIR"] = str(data_dir)  # SQLite in the data dir: no TANGUAN_DATABASE_URL
    env["TANGUAN_DEMO"] = "1"  # the demo's key stays in the data dir (ADR 0017)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # our own loopback server
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def server(chromium_path) -> Iterator[Server]:
    """`tanguan db upgrade`, `tanguan demo`, then `tanguan serve` on a free port until the session ends."""
    with tempfile.TemporaryDirectory(prefix="tanguan-browser-") as tmp:
        root = Path(tmp)
        data_dir = root / "var"
        env = _server_env(data_dir)
        for command in (["db", "upgrade"], ["demo"]):
            done = subprocess.run(
                [_tanguan(), *command], cwd=root, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"tanguan {' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
        port = _free_port()
        log_path = root / "serve.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [_tanguan(), "serve", "--port", str(port)],
                cwd=root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                base_url = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + STARTUP_TIMEOUT_S
                while not _healthy(base_url + "/healthz"):
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"tanguan serve did not become healthy:\n{log_path.read_text()[-3000:]}")
                    time.sleep(0.1)
                yield Server(base_url=base_url, data_dir=data_dir, log_path=log_path)
            finally:
                stop_process(process)


@pytest.fixture(scope="session")
def chromium(chromium_path) -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Contexts:
    """Opens fresh browser contexts (own cookies, own storage) that record CSP problems."""

    def __init__(self, browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.opened: list[tuple[object, CspLog]] = []

    def new(self, *, browser_locale: str = "zh-CN"):
        log = CspLog()
        context = self.browser.new_context(
            base_url=self.base_url, viewport=VIEWPORT, locale=browser_locale, timezone_id="Asia/Shanghai"
        )
        context.set_default_timeout(10_000)

        def report(record: dict) -> None:
            log.violations.append(record)

        context.expose_function("__reportCsp", report)
        context.add_init_script(CSP_INIT_SCRIPT)

        def watch(page) -> None:
            def on_console(message) -> None:
                if message.type == "error" and "Content Security Policy" in message.text:
                    log.console_errors.append(message.text)

            page.on("console", on_console)
            page.on("framenavigated", lambda frame: frame == page.main_frame and log.pages.append(frame.url))

        context.on("page", watch)
        context.csp_log = log
        self.opened.append((context, log))
        return context

    def close_all(self) -> list[tuple[list[str], list]]:
        found = []
        for context, log in self.opened:
            if log.problems():
                found.append((log.pages, log.problems()))
            context.close()
        return found


@pytest.fixture
def contexts(server, chromium) -> Iterator[Contexts]:
    opened = Contexts(chromium, server.base_url)
    try:
        yield opened
    finally:
        found = opened.close_all()
    assert not found, f"Content-Security-Policy violations on visited pages: {found}"


@pytest.fixture
def page(contexts):
    """A page in a fresh context: nobody signed in."""
    return contexts.new().new_page()


def htmx_settled(page) -> None:
    """Wait until htmx has finished a request, its swap and its settle. New content is visible ~20 ms
    before htmx processes it (boosting its links and forms): a click in that window is a plain one."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def sign_in(page, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_load_state()


def sign_out(page) -> None:
    page.hover("#user-menu")
    page.click("#logout")
    page.wait_for_url("**/login")
