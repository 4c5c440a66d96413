"""Signing in behind an HTTPS reverse proxy: the README's nginx site run by Debian's nginx in front of
`tanguan serve`, and the same headers sent straight to the server from a trusted and an untrusted address.

The proxy connects from 127.0.0.2 (``proxy_bind``), not from 127.0.0.1, which uvicorn trusts by default:
so the proxy is trusted only when `--forwarded-allow-ips` names it, as for a proxy on another machine."""

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.nginx import nginx_conf, running_nginx, self_signed_certificate, sign_in
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
    base_url = f"https://127.0.0.1:{port}"
    with running_nginx(nginx_conf(site, directory, proxy_bind=PROXY_ADDRESS), base_url + "/ping"):
        yield base_url


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
        signed_in = sign_in(browser, proxy, SIGNER)
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
        signed_in = sign_in(proxy, public, SIGNER, resend_cookies=True)
        assert signed_in.status_code == expected, signed_in.text[:300]
        if expected == 303:
            cookie = signed_in.headers["set-cookie"]
            assert cookie.startswith("__Host-tanguan_session=") and "Secure" in cookie
