"""Signing in behind an HTTPS reverse proxy: the README's nginx site run by Debian's nginx in front of
`tanguan serve`, and the same headers sent straight to the server from a trusted and an untrusted address.

The proxy connects from 127.0.0.2 (``proxy_bind``), not from 127.0.0.1, which uvicorn trusts by default:
so the proxy is trusted only when `--forwarded-allow-ips` names it, as for a proxy on another machine."""

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from demo.seed import DEMO_PASSWORD
from tests.serving import free_port, run_tanguan, serving, tanguan_env
from tests.web.conftest import csrf_of

README = Path(__file__).parents[2] / "README.md"
PROXY_ADDRESS = "127.0.0.2"
UNTRUSTED_ADDRESS = "127.0.0.3"
SIGNER = "carbon@xiangfeng.example"
KEY = "proxy-test-installation-key-0123456789"


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory) -> dict[str, str]:
    env = tanguan_env(tmp_path_factory.mktemp("proxy") / "var", TANGUAN_SECRET_KEY=KEY)
    run_tanguan("demo", env=env)
    return env


def readme_nginx_site() -> str:
    blocks = re.findall(r"```nginx\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1, "the README shows one nginx site"
    return blocks[0]


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return certificate, key


@contextmanager
def nginx_in_front_of(app_port: int, directory: Path) -> Iterator[str]:
    """The README's site with this machine's ports and a throw-away certificate; yields its HTTPS URL."""
    certificate, key = self_signed_certificate(directory)
    port = free_port()
    site = readme_nginx_site()
    for old, new in (
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("/etc/ssl/certs/carbon.example.com.pem", str(certificate)),
        ("/etc/ssl/private/carbon.example.com.key", str(key)),
        ("http://127.0.0.1:8000", f"http://127.0.0.1:{app_port}"),
    ):
        assert old in site, f"the README's nginx site no longer has {old!r}"
        site = site.replace(old, new)
    temp = directory / "nginx-temp"
    temp.mkdir()
    (directory / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # workers must write the temp paths
        + f"daemon off; master_process on; pid {directory}/nginx.pid; error_log {directory}/error.log;\n"
        + "events {}\n"
        + f"http {{ access_log off; proxy_bind {PROXY_ADDRESS};\n"
        + "".join(
            f"  {kind}_temp_path {temp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + site
        + "}\n"
    )
    process = subprocess.Popen(
        ["nginx", "-p", str(directory), "-c", str(directory / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base_url = f"https://127.0.0.1:{port}"
    try:
        _wait_for_https(process, base_url, directory / "error.log")
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for_https(process: subprocess.Popen, base_url: str, error_log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            httpx.get(base_url + "/ping", verify=False, timeout=5)
            return
        except httpx.TransportError:
            log = error_log.read_text() if error_log.exists() else ""
            assert time.monotonic() < deadline, f"nginx did not answer:\n{log}"
            time.sleep(0.1)


def sign_in(client: httpx.Client, origin: str, *, resend_cookies: bool = False) -> httpx.Response:
    """As a browser does: the page, then the form posted with the page's Origin. ``resend_cookies``: the
    page's cookies go back even over plain HTTP (a proxy forwards what the browser sent over HTTPS)."""
    page = client.get("/login")
    headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
    if resend_cookies:
        headers["Cookie"] = "; ".join(f"{cookie.name}={cookie.value}" for cookie in page.cookies.jar)
    data = {"email": SIGNER, "password": DEMO_PASSWORD, "csrf_token": csrf_of(page.text)}
    return client.post("/login", data=data, headers=headers)


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (apt-get install nginx)")
@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl is not installed (apt-get install openssl)"
)
@pytest.mark.parametrize("trusted", [True, False], ids=["proxy-trusted", "proxy-not-trusted"])
def test_sign_in_through_nginx_over_https(tmp_path, demo_env, trusted):
    port = free_port()
    options = ["--forwarded-allow-ips", PROXY_ADDRESS] if trusted else []
    with (
        serving(demo_env, tmp_path / "serve.log", *options, port=port),
        nginx_in_front_of(port, tmp_path) as proxy,
        httpx.Client(base_url=proxy, verify=False, timeout=60) as browser,
    ):
        signed_in = sign_in(browser, origin=proxy)
        if not trusted:  # the symptom: uvicorn does not believe X-Forwarded-Proto, so the origin differs
            assert signed_in.status_code == 403 and "__Host-" not in signed_in.headers.get("set-cookie", "")
            return
        assert signed_in.status_code == 303, signed_in.text[:300]
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith("__Host-tanguan_session=") and "Secure" in cookie and "HttpOnly" in cookie
        dashboard = browser.get("/")
        assert dashboard.status_code == 200 and "李娜" in dashboard.text
        logout = browser.post(
            "/logout",
            data={"csrf_token": csrf_of(dashboard.text)},
            headers={"Origin": proxy, "Sec-Fetch-Site": "same-origin"},
        )
        assert logout.status_code == 303 and logout.headers["location"] == "/login"


@pytest.mark.parametrize(
    ("client_address", "expected"),
    [(PROXY_ADDRESS, 303), (UNTRUSTED_ADDRESS, 403)],
    ids=["trusted", "untrusted"],
)
def test_x_forwarded_proto_counts_only_from_the_trusted_proxy(tmp_path, demo_env, client_address, expected):
    """Without nginx: the proxy's headers sent straight to the server, from a trusted and another address."""
    port = free_port()
    public = f"https://127.0.0.1:{port}"  # what the browser sees: the proxy's scheme, the same host
    transport = httpx.HTTPTransport(local_address=client_address)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    with (
        serving(demo_env, tmp_path / "serve.log", "--forwarded-allow-ips", PROXY_ADDRESS, port=port),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport, headers=forwarded) as proxy,
    ):
        signed_in = sign_in(proxy, origin=public, resend_cookies=True)
        assert signed_in.status_code == expected, signed_in.text[:300]
        if expected == 303:
            cookie = signed_in.headers["set-cookie"]
            assert cookie.startswith("__Host-tanguan_session=") and "Secure" in cookie
