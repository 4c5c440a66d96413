"""deploy/nginx/tanguan.conf as the tests run it: this machine's free ports, a throw-away certificate, the
upstream naming the instances the test started; every other line as shipped."""

import re
from pathlib import Path

DEPLOY = Path(__file__).parents[2] / "deploy"
UPSTREAM_SERVER = re.compile(r"^    server 127\.0\.0\.1:\d+ (.*);$", re.M)


def deploy_site(
    text: str, *, instance_ports: list[int], https_port: int, http_port: int, certificate: Path, key: Path
) -> str:
    servers = UPSTREAM_SERVER.findall(text)
    assert servers, "the nginx site has no upstream `server 127.0.0.1:PORT …;` lines"
    text = UPSTREAM_SERVER.sub("", text)
    upstream = "".join(f"    server 127.0.0.1:{port} {servers[0]};\n" for port in instance_ports)
    text = text.replace("upstream tanguan {\n", "upstream tanguan {\n" + upstream, 1)
    text = "".join(line for line in text.splitlines(keepends=True) if "listen [::]:" not in line)
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("/etc/ssl/certs/carbon.example.com.pem", str(certificate)),
        ("/etc/ssl/private/carbon.example.com.key", str(key)),
    ):
        assert old in text, f"the nginx site no longer has {old!r}"
        text = text.replace(old, new)
    return text
