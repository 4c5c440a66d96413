"""The `tanguan` command, run as a real process against a real database."""

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

TANGUAN = str(Path(sys.executable).with_name("tanguan"))


def run(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([TANGUAN, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


@pytest.fixture
def env(tmp_path, database_url) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("TANGUAN_")}
    values["TANGUAN_DATA_DIR"] = str(tmp_path / "var")
    values["TANGUAN_DATABASE_URL"] = database_url
    values["TANGUAN_SECRET_KEY"] = "test-cli-installation-key-0123456789"
    return values


INIT = (
    "init", "--org-slug", "acme", "--org-name", "湘江化工", "--admin-email", "boss@acme.example",
    "--admin-name", "老板", "--admin-password", "Correct-Horse-42",
)  # fmt: skip


def test_init_demo_and_verify_twice_are_harmless(env):
    first = run(*INIT, env=env)
    assert "created organization acme" in first.stdout
    again = run(*INIT, env=env)
    assert "exists already" in again.stdout
    demo = run("demo", env=env)
    assert "湖南湘峰水泥有限公司" in demo.stdout and "carbon@xiangfeng.example" in demo.stdout
    assert run("demo", "--if-empty", env=env).stdout.startswith("database has organizations already")
    run("demo", env=env)
    verify = run("audit", "verify", env=env)
    assert verify.stdout.count("chain intact") == 3
    one = run("audit", "verify", "--org", "acme", env=env)
    assert one.stdout.count("chain intact") == 1


def test_user_add_and_disable_are_audited(env):
    run(*INIT, env=env)
    add = ["user", "add", "--email", "Li.Na@Acme.example", "--name", "李娜", "--org", "acme"]
    run(*add, "--role", "carbon_manager", "--role", "staff", "--password", "Tanguan-2026-ok", env=env)
    bad = run(*add, "--role", "wizard", "--password", "Tanguan-2026-ok", env=env, check=False)
    assert bad.returncode == 2 and "unknown role" in bad.stderr and "Traceback" not in bad.stderr
    weak = run("user", "add", "--email", "w@acme.example", "--name", "w", "--org", "acme", "--role", "staff",
               "--password", "password1", env=env, check=False)  # fmt: skip
    assert weak.returncode == 2 and "过于常见" in weak.stderr
    run("user", "disable", "--email", "li.na@acme.example", "--reason", "离职", env=env)
    assert run("audit", "verify", env=env).stdout.count("chain intact") == 1


def test_a_tampered_chain_fails_verify_naming_the_seq(tmp_path):
    env = {**os.environ, "TANGUAN_DATA_DIR": str(tmp_path / "var")}
    env.pop("TANGUAN_DATABASE_URL", None)
    run("db", "upgrade", env=env)
    run("demo", env=env)
    database = sqlite3.connect(tmp_path / "var" / "tanguan.sqlite3")
    database.execute("DROP TRIGGER audit_event_no_update")
    database.execute("UPDATE audit_event SET action = 'deleted' WHERE org_id = 1 AND seq = 5")
    database.commit()
    database.close()
    result = run("audit", "verify", env=env, check=False)
    assert result.returncode == 1
    assert "first bad seq 5" in result.stdout and "column action" in result.stdout


def test_verify_detects_a_recomputed_chain_against_the_signed_checkpoint(env):
    from sqlalchemy import create_engine

    from tests.engine.test_checkpoints import rewrite, tampering

    run(*INIT, env=env)
    signed = run("audit", "checkpoint", "--org", "acme", env=env)
    assert "signed at seq" in signed.stdout
    assert "1 signed checkpoints" in run("audit", "verify", "--org", "acme", env=env).stdout
    assert len(run("audit", "public-key", env=env).stdout.strip()) == 64

    class Tampered:  # what tests.engine.test_checkpoints.tampering needs of a database
        engine = create_engine(env["TANGUAN_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://"))
        is_sqlite = env["TANGUAN_DATABASE_URL"].startswith("sqlite")

    with tampering(Tampered, keep=True) as connection:
        rewrite(connection, 1, 2)
    result = run("audit", "verify", "--org", "acme", env=env, check=False)
    assert result.returncode == 1 and "rewritten" in result.stdout, result.stdout


def test_a_wrong_database_url_is_one_line_naming_the_setting(tmp_path):
    for url in ("mysql://root@localhost/x", "postgresql://nobody@127.0.0.1:1/none", "::::"):
        env = {**os.environ, "TANGUAN_DATA_DIR": str(tmp_path), "TANGUAN_DATABASE_URL": url}
        result = run("db", "upgrade", env=env, check=False)
        assert result.returncode == 2, url
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "TANGUAN_DATABASE_URL" in lines[0] and "Traceback" not in result.stderr


def test_config_masks_secrets(tmp_path):
    env = {
        **os.environ,
        "TANGUAN_DATA_DIR": str(tmp_path),
        "TANGUAN_DATABASE_URL": "postgresql://carbon:s3cr3t-pw@db.example/tanguan",
        "TANGUAN_SECRET_KEY": "very-secret-key-value-0123456789abcdef",
    }
    out = run("config", env=env).stdout
    assert "s3cr3t-pw" not in out and "very-secret-key-value" not in out
    assert "TANGUAN_DATABASE_URL=postgresql+psycopg://carbon:***@db.example/tanguan" in out


def test_a_newer_schema_is_refused_clearly(tmp_path):
    env = {**os.environ, "TANGUAN_DATA_DIR": str(tmp_path)}
    env.pop("TANGUAN_DATABASE_URL", None)
    run("db", "upgrade", env=env)
    database = sqlite3.connect(tmp_path / "tanguan.sqlite3")
    database.execute("UPDATE alembic_version SET version_num = '9999'")
    database.commit()
    database.close()
    result = run("audit", "verify", env=env, check=False)
    assert result.returncode == 2 and "newer than this Tanguan" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_health_and_the_sign_in_page_over_http(env):
    run("db", "upgrade", env=env)
    run("demo", env=env)
    port = _free_port()
    server = subprocess.Popen([TANGUAN, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, server.stderr.read().decode()
                time.sleep(0.2)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        checks = ready.json()["checks"]
        assert checks["migrations"]["ok"] is True and checks["storage"]["ok"] is True
        assert checks["database"]["dialect"] in ("sqlite", "postgresql")
        home = httpx.get(f"http://127.0.0.1:{port}/", timeout=5, follow_redirects=True)
        assert home.url.path == "/login" and 'name="csrf_token"' in home.text
    finally:
        server.terminate()
        server.wait(timeout=10)
