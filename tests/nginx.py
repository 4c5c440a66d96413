"""Debian's nginx as a real reverse proxy for tests: a throw-away certificate, a configuration of its own
(prefix, pid, logs and temp paths in a test directory, no root needed), run in the foreground until the
block ends, waited for by condition."""

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

STARTUP_TIMEOUT_S = 60


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return certificate, key


def nginx_conf(site: str, directory: Path, *, proxy_bind: str | None = None) -> Path:
    """``site`` (server and upstream blocks) inside an http block whose every path is under ``directory``;
    ``proxy_bind``: the address nginx connects to the app from (a proxy on "another machine")."""
    temp = directory / "nginx-temp"
    temp.mkdir(exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # workers must write the temp paths
        + f"daemon off; master_process on; pid {directory}/nginx.pid; error_log {directory}/error.log;\n"
        + "events {}\n"
        + "http { access_log off;\n"
        + (f"  proxy_bind {proxy_bind};\n" if proxy_bind else "")
        + "".join(
            f"  {kind}_temp_path {temp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + site
        + "}\n"
    )
    return conf


@contextmanager
def running_nginx(conf: Path, probe_url: str) -> Iterator[None]:
    """nginx in the foreground with ``conf`` until the block ends; ready once ``probe_url`` answers."""
    directory = conf.parent
    process = subprocess.Popen(
        ["nginx", "-p", str(directory), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_for(process, probe_url, directory / "error.log")
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for(process: subprocess.Popen, probe_url: str, error_log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            httpx.get(probe_url, verify=False, timeout=5)
            return
        except httpx.TransportError:
            log = error_log.read_text() if error_log.exists() else ""
            assert time.monotonic() < deadline, f"nginx did not answer:\n{log}"
            time.sleep(0.1)


def sign_in(
    client: httpx.Client,
    origin: str,
    email: str,
    *,
    password: str | None = None,
    resend_cookies: bool = False,
    **headers: str,
) -> httpx.Response:
    """As a browser does: the page, then the form posted with the page's Origin. ``resend_cookies``: the
    page's cookies go back even over plain HTTP (a proxy forwards what the browser sent over HTTPS);
    ``password``: the demo's unless given."""
    from demo.seed import DEMO_PASSWORD  # here: tests/deploy/machine.py's stand-ins import this module
    from tests.web.conftest import csrf_of

    page = client.get("/login")
    headers |= {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
    if resend_cookies:
        headers["Cookie"] = "; ".join(f"{cookie.name}={cookie.value}" for cookie in page.cookies.jar)
    data = {"email": email, "password": password or DEMO_PASSWORD, "csrf_token": csrf_of(page.text)}
    return client.post("/login", data=data, headers=headers)
