"""docs/production.md followed step by step on a fresh directory tree and a fresh PostgreSQL database
(issue 15: "the production guide is followed step by step on a fresh machine in a test"): every `sh` block,
in order, in one bash session, on the stand-in machine of tests/deploy/machine.py — then what the guide
promises is checked from outside: three instances and the scheduler up, nginx with TLS and HSTS in front,
the administrator `init` made signs in through it, port 80 redirects, a body over the limit stops at nginx.

What the test changes in the guide's text, and nothing else: the paths it installs to (under the
directory), the ports (free ones), the database's and role's name (unique on the shared server), and — to
keep the test to seconds — the install makes the new virtual environment borrow this one's dependencies
(the same constraints.txt pins) and installs Tanguan itself with `--no-deps`, still as a built package,
not from the source tree. TANGUAN_TEST_GUIDE_FULL_INSTALL=1 installs every dependency as written.
The backup block runs once `tanguan backup` exists (issue 15, item 3); until then it is skipped, and
said so."""

import os
import re
import site
import stat
import subprocess
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import postgres_admin_url
from tests.deploy.machine import Machine
from tests.nginx import sign_in
from tests.serving import TANGUAN, free_port

REPO = Path(__file__).parents[2]
GUIDE = REPO / "docs" / "production.md"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
NAMES_LINE = "DB_NAME=tanguan DB_USER=tanguan"
ADMIN = "admin@example.com"
ADMIN_PASSWORD = "Hunan-Group#2026-Carbon!"
GUIDE_TIMEOUT_S = 1200


def guide_script(machine: Machine, *, name: str, backup: bool) -> tuple[str, int, int]:
    """The guide's `sh` blocks as one script for the machine; how many blocks it runs and skips."""
    blocks = SH_BLOCK.findall(GUIDE.read_text())
    assert sum(NAMES_LINE in block for block in blocks) == 1, f"the guide no longer sets {NAMES_LINE!r}"
    script, skipped = ["set -eux -o pipefail", "PS4='+ $(date +%T) '"], 0
    for block in blocks:
        if "tanguan-admin backup" in block and not backup:
            skipped += 1
            continue
        block = machine.on_machine(block).replace(NAMES_LINE, f"DB_NAME={name} DB_USER={name}")
        if not os.environ.get("TANGUAN_TEST_GUIDE_FULL_INSTALL"):
            venv = f"python3 -m venv {machine.root}/opt/tanguan/venv"
            borrowed = f"{machine.root}/opt/tanguan/venv/lib/python3.*/site-packages/"
            block = block.replace(
                venv, f"{venv}\necho {site.getsitepackages()[0]} > $(echo {borrowed})guide-test-deps.pth"
            ).replace("/bin/pip install -q -c", "/bin/pip install -q --no-deps -c")
        script.append(block)
    return "\n".join(script) + "\n", len(blocks) - skipped, skipped


def has_backup_command() -> bool:
    return subprocess.run([TANGUAN, "backup", "--help"], capture_output=True).returncode == 0


def drop(name: str) -> None:
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{name}_owner"'))
    finally:
        admin.dispose()


def test_the_production_guide_step_by_step(tmp_path, capsys):
    server = make_url(postgres_admin_url())
    machine = Machine(
        root=str(tmp_path / "machine"),
        repo=str(REPO),
        ports=[free_port() for _ in range(3)],
        http_port=free_port(),
        https_port=free_port(),
        postgres_admin=server.set(drivername="postgresql").render_as_string(hide_password=False),
        postgres_address=f"{server.host or '127.0.0.1'}:{server.port or 5432}",
    )
    root = Path(machine.root)
    machine.prepare()
    _certificate_at_the_guides_paths(root)
    name = f"tanguan_guide_{uuid.uuid4().hex[:8]}"
    backup = has_backup_command()
    script, ran, skipped = guide_script(machine, name=name, backup=backup)
    (root / "guide.sh").write_text(script)
    env = {
        key: value
        for key, value in machine.env().items()
        if not key.startswith("TANGUAN_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    started = time.monotonic()
    try:
        followed = subprocess.run(
            ["bash", str(root / "guide.sh")], cwd=root, env=env, input=f"{ADMIN_PASSWORD}\n" * 2,
            capture_output=True, text=True, timeout=GUIDE_TIMEOUT_S, start_new_session=True,
        )  # fmt: skip
        seconds = time.monotonic() - started
        (root / "guide.log").write_text(followed.stdout + followed.stderr)
        assert followed.returncode == 0, f"{followed.stdout[-3000:]}\n{followed.stderr[-6000:]}"
        _check_what_the_guide_promises(machine, root, backup=backup)
    finally:
        machine.stop_all()
        drop(name)
    with capsys.disabled():
        print(
            f"\nproduction guide: {ran} blocks run in order, {skipped} skipped"
            f"{' (tanguan backup is not there yet)' if skipped else ''}, {seconds:.0f} s"
        )


def _certificate_at_the_guides_paths(root: Path) -> None:
    """What the administrator brings: a certificate and key where the site expects them."""
    certificate = root / "etc/ssl/certs/carbon.example.com.pem"
    key = root / "etc/ssl/private/carbon.example.com.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def _check_what_the_guide_promises(machine: Machine, root: Path, *, backup: bool) -> None:
    settings = root / "etc/tanguan/tanguan.env"
    assert stat.S_IMODE(settings.stat().st_mode) == 0o640
    key = re.search(r"^TANGUAN_SECRET_KEY=(\S+)$", settings.read_text(), re.M)
    assert key and len(key.group(1)) >= 32, "the guide did not put a key in the settings file"
    for port in machine.ports:
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30).json()
        assert ready["status"] == "ready" and ready["checks"]["database"]["dialect"] == "postgresql", ready
    assert "scheduler: this instance leads" in (root / "run/tanguan-scheduler.log").read_text()
    proxy = f"https://127.0.0.1:{machine.https_port}"
    with httpx.Client(base_url=proxy, verify=False, timeout=120) as browser:
        ping = browser.get("/ping")
        assert ping.status_code == 200
        assert ping.headers.get_list("strict-transport-security") == ["max-age=31536000; includeSubDomains"]
        signed_in = sign_in(browser, proxy, ADMIN, password=ADMIN_PASSWORD)
        assert signed_in.status_code == 303, signed_in.text[:500]
        assert signed_in.headers["set-cookie"].startswith("__Host-tanguan_session=")
        assert browser.get("/").status_code == 200
        too_big = browser.post("/login", content=b"x" * (27 * 1024 * 1024))
        assert too_big.status_code == 413 and "strict-transport-security" in too_big.headers
    redirect = httpx.get(f"http://127.0.0.1:{machine.http_port}/records", timeout=30)
    assert redirect.status_code == 301 and redirect.headers["location"].startswith("https://")
    if backup:
        assert list((root / "var/backups/tanguan").iterdir()), "the backup step wrote nothing"
