"""T14 (RELIABILITY.md): four worker processes share the login limit.

`tanguan serve --workers 4` (real uvicorn worker processes) on the test database; 100 wrong passwords for
one account from one address and 100 for another account from a new ``X-Forwarded-For`` address each time,
sent 20 at a time so that every worker takes its share. Whatever worker a request reaches, the account's
password is checked at most ``TANGUAN_LOGIN_MAX_FAILURES`` times in the window, and every attempt is
recorded (a login attempt row) and audited (``login_failed`` or ``login_throttled``). The alert
(docs/adr/0046) is raised once per account, whichever worker took the attempt that reached the limit: one
``security.alert`` line in the workers' log and one notification to the organization's administrator. The
address of the first case (no ``X-Forwarded-For``: 127.0.0.1 for all 100) reaches its own limit: one alert."""

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from tests.serving import run_tanguan, serving, tanguan_env
from tests.web.conftest import csrf_of

LIMIT = 10
WORKERS = 4
ATTEMPTS = 100
IN_FLIGHT = 20
KEY = "login-workers-installation-key-0123456789"


def worker_pids(parent: int) -> list[int]:
    """uvicorn's worker processes (multiprocessing children, not its resource tracker)."""
    children = [int(pid) for pid in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
    return [pid for pid in children if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()]


def sockets(pid: int) -> int:
    """How many sockets the process holds open (its listener, its database connections, its clients)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count


class SocketWatch(threading.Thread):
    """Samples each worker's open sockets while the logins run: a worker holding more than it held at rest
    is serving connections."""

    def __init__(self, workers: list[int]) -> None:
        super().__init__(daemon=True)
        self.rest = {pid: sockets(pid) for pid in workers}
        self.most = dict(self.rest)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in self.most:
                self.most[pid] = max(self.most[pid], sockets(pid))
            self.done.wait(0.01)

    def served(self) -> int:
        self.done.set()
        self.join()
        return sum(self.most[pid] > self.rest[pid] for pid in self.rest)


def serve_pid(log_dir: Path) -> int:
    """The `tanguan serve` process started for this test (the one whose data dir is ours)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"serve" in cmdline and f"TANGUAN_DATA_DIR={log_dir}".encode() in environ:
            return int(entry.name)
    raise AssertionError("the serve process was not found")


def bad_login(base_url: str, email: str, forwarded_for: str | None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    with httpx.Client(base_url=base_url, timeout=120, headers=headers) as client:
        token = csrf_of(client.get("/login").text)
        data = {"email": email, "password": "wrong-password", "csrf_token": token}
        return client.post("/login", data=data).status_code


def outcome(database_url: str, email: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            user_id = connection.execute(
                text("SELECT id FROM user_account WHERE email = :e"), {"e": email}
            ).scalar()
            audited = dict(
                connection.execute(
                    text(
                        "SELECT action, count(*) FROM audit_event WHERE subject_type = 'user' AND "
                        "subject_id = :u AND action IN ('login_failed', 'login_throttled') GROUP BY action"
                    ),
                    {"u": str(user_id)},
                ).all()
            )
            recorded = connection.execute(
                text("SELECT count(*) FROM login_attempt WHERE email = :e AND NOT succeeded"), {"e": email}
            ).scalar()
    finally:
        engine.dispose()
    return {"evaluated": audited.get("login_failed", 0), "throttled": audited.get("login_throttled", 0),
            "recorded": recorded}  # fmt: skip


def alerts_logged(log: Path) -> list[dict]:
    lines = (line for line in log.read_text(errors="replace").splitlines() if '"security.alert"' in line)
    return [json.loads(line) for line in lines]


def security_notices(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    text("SELECT subject_zh FROM notification WHERE kind = 'security'")
                ).scalars()
            )
    finally:
        engine.dispose()


def test_four_workers_share_the_login_limit(tmp_path, database_url):
    data_dir = tmp_path / "var"
    env = tanguan_env(
        data_dir,
        TANGUAN_DATABASE_URL=database_url,
        TANGUAN_SECRET_KEY=KEY,
        TANGUAN_LOGIN_MAX_FAILURES=str(LIMIT),
        TANGUAN_LOGIN_WINDOW_MINUTES="15",
        # The suite's cheap Argon2: the limit, not the hash, is under test.
        **{k: v for k, v in os.environ.items() if k.startswith("TANGUAN_ARGON2_")},
    )
    run_tanguan("demo", env=env)
    cases = {
        "one address": ("quality@xiangfeng.example", lambda i: None),
        "rotating X-Forwarded-For": ("kiln@xiangfeng.example", lambda i: f"203.0.113.{i % 250 + 1}"),
    }
    with serving(env, tmp_path / "serve.log", "--workers", str(WORKERS)) as base_url:
        workers = worker_pids(serve_pid(data_dir))
        assert len(workers) == WORKERS, workers
        watch = SocketWatch(workers)
        watch.start()
        statuses = {}
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            for name, (email, address) in cases.items():
                jobs = [pool.submit(bad_login, base_url, email, address(i)) for i in range(ATTEMPTS)]
                statuses[name] = sorted(job.result() for job in jobs)
        busy = watch.served()
    alerts = alerts_logged(tmp_path / "serve.log")
    notices = security_notices(database_url)
    lines = []
    for name, (email, _) in cases.items():
        seen = outcome(database_url, email)
        answers = {code: statuses[name].count(code) for code in sorted(set(statuses[name]))}
        raised = sum(a["kind"] == "account" and a["account"] == email for a in alerts)
        notified = sum(email in subject for subject in notices)
        lines.append(
            f"T14 {name}, {WORKERS} workers ({busy} served): {ATTEMPTS} bad logins, passwords checked "
            f"{seen['evaluated']} (limit {LIMIT}), throttled {seen['throttled']}, attempts recorded "
            f"{seen['recorded']}, answers {answers}; alerts raised {raised}, admins notified {notified}"
        )
        assert seen["evaluated"] <= LIMIT, lines[-1]
        assert seen["evaluated"] + seen["throttled"] == ATTEMPTS == seen["recorded"], lines[-1]
        assert set(statuses[name]) <= {401, 429}
        assert raised == 1 and notified == 1, lines[-1]
    by_address = [a["address"] for a in alerts if a["kind"] == "address"]
    lines.append(f"T14 address alerts: {by_address} (limit {LIMIT * 5} per address)")
    print("\n" + "\n".join(lines))
    assert by_address == ["127.0.0.1"] and len(alerts) == 3 and len(notices) == 3
    assert busy == WORKERS
