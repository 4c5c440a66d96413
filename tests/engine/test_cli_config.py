"""Settings and the installation key as the `tanguan` command sees them, run as real processes: a bad
setting is one line, the demo migrates and keeps its key, a production start refuses without the key,
and a rotated key keeps the old signatures valid."""

import os
import re
import stat

import pytest

from tests.serving import run_tanguan, start_serve, tanguan_env

KEY = "k1-0123456789abcdef0123456789abcdef0123456789"


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


BAD_SETTINGS = [
    ("TANGUAN_SESSION_IDLE_MINUTES", "abc", ("db", "upgrade"), "整数"),
    ("TANGUAN_LOGIN_MAX_FAILURES", "1.5", ("config",), "整数"),
    ("TANGUAN_SQLITE_BUSY_TIMEOUT_MS", "-1", ("demo",), "≥ 0"),
    ("TANGUAN_EVIDENCE_MAX_BYTES", "0", ("audit", "verify"), "≥ 1"),
    ("TANGUAN_DEMO", "maybe", ("serve",), "true"),
    ("TANGUAN_DEFAULT_LOCALE", "fr", ("db", "status"), "zh_CN"),
    ("TANGUAN_FORWARDED_ALLOW_IPS", "proxy.example", ("serve",), "IP"),
    ("TANGUAN_ARGON2_MEMORY_KIB", "lots", ("secret", "rotate"), "整数"),
    ("TANGUAN_SESSION_ABSOLUTE_HOURS", "twelve", ("calc", "nothing.csv"), "整数"),
]


@pytest.mark.parametrize(("variable", "value", "command", "allowed"), BAD_SETTINGS)
def test_a_bad_setting_is_one_line_naming_it_and_what_is_allowed(tmp_path, variable, value, command, allowed):
    env = tanguan_env(tmp_path / "var", **{variable: value, "TANGUAN_SECRET_KEY": KEY})
    line = one_line_error(run_tanguan(*command, env=env, check=False))
    assert line.startswith(f"error: {variable}=") and value in line and allowed in line, line


@pytest.mark.parametrize(
    ("variable", "command"),
    [("TANGUAN_SECRET_KEY", ("serve",)), ("TANGUAN_OLD_SECRET_KEYS", ("secret", "rotate"))],
)
def test_a_short_key_is_refused_without_echoing_it(tmp_path, variable, command):
    env = tanguan_env(tmp_path / "var", **{"TANGUAN_SECRET_KEY": KEY, variable: "changeme"})
    line = one_line_error(run_tanguan(*command, env=env, check=False))
    assert variable in line and "32" in line and "changeme" not in line, line


def test_demo_on_an_empty_data_dir_migrates_first_and_keeps_its_key(tmp_path):
    data_dir = tmp_path / "var"
    env = tanguan_env(data_dir)
    demo = run_tanguan("demo", env=env)
    assert "湖南湘峰水泥有限公司" in demo.stdout and "carbon@xiangfeng.example" in demo.stdout
    assert "up to date: True" in run_tanguan("db", "status", env=env).stdout
    key_file = data_dir / "secret.key"
    assert str(key_file) in demo.stderr and "备份" in demo.stderr  # where the key is, to back it up
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    demo_env = {**env, "TANGUAN_DEMO": "1"}
    status = run_tanguan("secret", "status", env=demo_env)
    assert "0 " in status.stdout and "unverified" in status.stdout, status.stdout
    key = key_file.read_text()
    run_tanguan("demo", env=env)  # again: the same key
    assert key_file.read_text() == key


def test_a_lost_demo_key_is_refused_not_silently_replaced(tmp_path):
    data_dir = tmp_path / "var"
    env = tanguan_env(data_dir, TANGUAN_DEMO="1")
    run_tanguan("demo", env=env)
    (data_dir / "secret.key").unlink()
    for args in (("demo",), ("serve",)):
        line = one_line_error(run_tanguan(*args, env=env, check=False))
        assert "secret.key" in line and "TANGUAN_SECRET_KEY" in line, line
    assert not (data_dir / "secret.key").exists()


def test_serve_refuses_to_start_without_the_key_outside_the_demo(tmp_path):
    env = tanguan_env(tmp_path / "var")
    run_tanguan("db", "upgrade", env=env)
    server = start_serve(env, tmp_path / "serve.log")
    try:
        started = server.wait_healthy_or_exit()
    finally:
        server.stop()
    assert not started, "tanguan serve started without TANGUAN_SECRET_KEY"
    output = server.log().strip().splitlines()
    assert server.process.returncode == 2 and len(output) == 1 and "Traceback" not in server.log(), output
    assert "TANGUAN_SECRET_KEY" in output[0] and "tanguan secret generate" in output[0]


def test_the_demo_key_file_serves_only_the_data_dirs_own_database(tmp_path, database_url):
    env = tanguan_env(tmp_path / "var", TANGUAN_DEMO="1", TANGUAN_DATABASE_URL=database_url)
    line = one_line_error(run_tanguan("demo", env=env, check=False))
    assert "TANGUAN_SECRET_KEY" in line and "TANGUAN_DATABASE_URL" in line


def test_rotation_signs_with_the_new_key_and_the_old_ones_still_verify(tmp_path, database_url):
    env = tanguan_env(tmp_path / "var", TANGUAN_DATABASE_URL=database_url, TANGUAN_SECRET_KEY=KEY)
    run_tanguan("demo", env=env)
    rotate = run_tanguan("secret", "rotate", env=env).stdout
    new_key = next(line for line in rotate.splitlines() if line.startswith("TANGUAN_SECRET_KEY="))
    new_key = new_key.split("=", 1)[1]
    assert new_key != KEY and len(new_key) >= 32
    assert f"TANGUAN_OLD_SECRET_KEYS={KEY}" in rotate
    assert "备份" in rotate and "back up" in rotate

    rotated = {**env, "TANGUAN_SECRET_KEY": new_key, "TANGUAN_OLD_SECRET_KEYS": KEY}
    status = run_tanguan("secret", "status", env=rotated).stdout
    assert re.search(r"(?<!\d)0 unverified", status) and "old key 1" in status, status
    forgotten = {**env, "TANGUAN_SECRET_KEY": new_key}
    lost = run_tanguan("secret", "status", env=forgotten, check=False)
    assert lost.returncode == 1 and not re.search(r"(?<!\d)0 unverified", lost.stdout), lost.stdout

    twice = run_tanguan("secret", "rotate", env=rotated).stdout
    assert f"TANGUAN_OLD_SECRET_KEYS={new_key},{KEY}" in twice


def test_generate_prints_a_fresh_key(tmp_path):
    env = tanguan_env(tmp_path / "var")
    first = run_tanguan("secret", "generate", env=env).stdout.strip()
    second = run_tanguan("secret", "generate", env=env).stdout.strip()
    assert first != second and len(first) >= 32 and os.linesep not in first
