"""Concurrent signing under write load: ``--signers`` signing transitions fired at the same instant while
``--writers`` other clients keep writing, against ``tanguan serve`` (one worker, production Argon2 unless
the caller's environment says otherwise) on SQLite or PostgreSQL.

Run from the repository root: ``python -m bench.signing [--signers 20] [--writers 4] [--postgres URL]``.

The work is the product's own: the demo statistician opens one carbon-data batch per signer; at a barrier
the carbon manager, the quality manager and the internal auditor verify them all at once — each a
"核验通过" with the ``reviewed`` signature, so each re-enters a password (Argon2, ≈ 350 ms of CPU) — while
the writers open new batches in a loop until the last signature has answered. Prints:

    backend: sqlite | postgresql
    signing_ok: N                  signing transitions answered 303 whose batch is then "verified"
    signing_p50: N ms / signing_p99: N ms   from the barrier to the answer
    writes_ok: N                   batches opened by the writers during the burst (303)
    write_p50: N ms / write_p99: N ms
    server_errors: N               answers 500-599, to signers and writers
    database_locked: N             answers or server-log lines that say "database is locked"
    failed: N                      any other answer or transport error

Exit status 1 when a signature failed or anything was locked, refused or answered 5xx.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.http import (
    HOST,
    PASSWORD,
    SESSION_COOKIE,
    bench_environment,
    free_port,
    sign_in,
    tanguan_script,
    wait_until_healthy,
)

COLLECTOR = "staff@xiangfeng.example"
VERIFIERS = ("carbon@xiangfeng.example", "quality@xiangfeng.example", "auditor@xiangfeng.example")
CSRF = re.compile(r'name="csrf(?:-token" content|_token" value)="([^"]+)"')
VERSION = re.compile(r'name="version" value="(\d+)"')
LOCKED = "database is locked"
REQUEST_TIMEOUT_S = 120.0


@dataclass
class LiveServer:
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Burst:
    signing_ms: list[float] = field(default_factory=list)
    write_ms: list[float] = field(default_factory=list)
    server_errors: int = 0
    locked: int = 0
    failed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, kind: str, response: httpx.Response | None, started: float, error: str = "") -> None:
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            if response is None:
                self.failed.append(f"{kind}: {error}")
                return
            if LOCKED in response.text:
                self.locked += 1
            if response.status_code >= 500:
                self.server_errors += 1
            if response.status_code == 303:
                (self.signing_ms if kind == "sign" else self.write_ms).append(elapsed)
            else:
                self.failed.append(f"{kind}: {response.status_code} {response.text[:200]!r}")


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextmanager
def demo_server(
    *, database_url: str | None = None, extra_env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """`tanguan db upgrade`, `tanguan demo`, `tanguan serve` on a free port — SQLite in a temporary data
    directory unless ``database_url`` names another database — stopped when the block ends."""
    tanguan = tanguan_script()
    with tempfile.TemporaryDirectory(prefix="tanguan-signing-") as directory:
        workdir = Path(directory)
        env = {**bench_environment(workdir / "var"), **(extra_env or {}), "PYTHONUNBUFFERED": "1"}
        if database_url:  # not the data dir's own SQLite file: the demo's key file is not used (ADR 0017)
            env["TANGUAN_DATABASE_URL"] = database_url
            env.setdefault("TANGUAN_SECRET_KEY", secrets.token_urlsafe(48))
        for command in (["db", "upgrade"], ["demo"]):
            done = subprocess.run(
                [tanguan, *command], cwd=workdir, env=env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise SystemExit(f"bench.signing: `tanguan {' '.join(command)}` failed:\n{done.stderr}")
        port = free_port()
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [tanguan, "serve", "--host", HOST, "--port", str(port), "--workers", "1"],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        live = LiveServer(base_url=f"http://{HOST}:{port}", log_path=log_path)
        try:
            wait_until_healthy(server, live.base_url, log_path)
            yield live
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url, cookies={SESSION_COOKIE: token}, timeout=REQUEST_TIMEOUT_S, follow_redirects=False
    )


def _form_token(client: httpx.Client, path: str) -> tuple[str, str | None]:
    """The CSRF token of a form page and the record version it shows, if any."""
    page = client.get(path)
    if page.status_code != 200:
        raise SystemExit(f"bench.signing: GET {path} answered {page.status_code}")
    csrf = CSRF.search(page.text)
    if csrf is None:
        raise SystemExit(f"bench.signing: no CSRF token on {path}")
    version = VERSION.search(page.text)
    return csrf.group(1), version.group(1) if version else None


def _new_batch(client: httpx.Client, csrf: str, title: str) -> httpx.Response:
    return client.post(
        "/records/carbon_data_batch", data={"csrf_token": csrf, "title": title, "period": "2026-10"}
    )


def run_burst(base_url: str, *, signers: int, writers: int) -> Burst:
    """Open ``signers`` batches, then verify them all at once while ``writers`` clients open more."""
    collector = _client(base_url, sign_in(base_url, COLLECTOR))
    collector_csrf, _ = _form_token(collector, "/records/carbon_data_batch/new")
    batch_ids = []
    for n in range(signers):
        opened = _new_batch(collector, collector_csrf, f"签名并发测试批次 {n + 1}")
        if opened.status_code != 303:
            raise SystemExit(
                f"bench.signing: opening a batch answered {opened.status_code}: {opened.text[:300]}"
            )
        batch_ids.append(int(opened.headers["location"].rsplit("/", 1)[1]))

    tokens = {email: sign_in(base_url, email) for email in VERIFIERS}
    prepared = []
    for n, batch_id in enumerate(batch_ids):
        client = _client(base_url, tokens[VERIFIERS[n % len(VERIFIERS)]])
        csrf, version = _form_token(client, f"/r/{batch_id}/transition/verify")
        prepared.append((client, batch_id, csrf, version))
    writer_clients = [_client(base_url, sign_in(base_url, COLLECTOR)) for _ in range(writers)]
    writer_csrf = [_form_token(client, "/records/carbon_data_batch/new")[0] for client in writer_clients]

    burst = Burst()
    barrier = threading.Barrier(signers + writers)
    signing_done = threading.Event()
    remaining = [signers]

    def sign(client: httpx.Client, batch_id: int, csrf: str, version: str | None) -> None:
        data = {
            "csrf_token": csrf,
            "version": version or "",
            "checks": ["completeness", "meter_calibration", "cross_check"],
            "result": "passed",
            "signature_password": PASSWORD,
        }
        barrier.wait()
        started = time.perf_counter()
        try:
            burst.answer("sign", client.post(f"/r/{batch_id}/transition/verify", data=data), started)
        except httpx.HTTPError as error:
            burst.answer("sign", None, started, repr(error))
        with burst.lock:
            remaining[0] -= 1
            if remaining[0] == 0:
                signing_done.set()

    def write(client: httpx.Client, csrf: str, writer: int) -> None:
        barrier.wait()
        n = 0
        while not signing_done.is_set() or n == 0:
            n += 1
            started = time.perf_counter()
            try:
                burst.answer("write", _new_batch(client, csrf, f"并发写入 {writer}-{n}"), started)
            except httpx.HTTPError as error:
                burst.answer("write", None, started, repr(error))

    threads = [threading.Thread(target=sign, args=item) for item in prepared]
    threads += [
        threading.Thread(target=write, args=(c, t, i))
        for i, (c, t) in enumerate(zip(writer_clients, writer_csrf, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for client, batch_id, _, _ in prepared:
        state = client.get(f"/api/v1/records/{batch_id}").json().get("state")
        if state != "verified":
            burst.failed.append(f"batch {batch_id} is {state!r} after its signature")
            if burst.signing_ms:
                burst.signing_ms.pop()
        client.close()
    for client in [collector, *writer_clients]:
        client.close()
    return burst


def report(burst: Burst, *, backend: str, server_log: str) -> list[str]:
    locked = burst.locked + server_log.count(LOCKED)
    return [
        f"backend: {backend}",
        f"signing_ok: {len(burst.signing_ms)}",
        f"signing_p50: {percentile(burst.signing_ms, 0.5):.0f} ms",
        f"signing_p99: {percentile(burst.signing_ms, 0.99):.0f} ms",
        f"writes_ok: {len(burst.write_ms)}",
        f"write_p50: {percentile(burst.write_ms, 0.5):.0f} ms",
        f"write_p99: {percentile(burst.write_ms, 0.99):.0f} ms",
        f"server_errors: {burst.server_errors}",
        f"database_locked: {locked}",
        f"failed: {len(burst.failed)}",
    ]


@contextmanager
def scratch_schema(admin_url: str | None) -> Iterator[str | None]:
    """A throw-away PostgreSQL schema first on the search path (nothing when ``admin_url`` is None)."""
    if not admin_url:
        yield None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_signing_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        url = make_url(admin_url).update_query_dict({"options": f"-csearch_path={name}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.signing", description=__doc__.splitlines()[0])
    parser.add_argument("--signers", type=int, default=20, help="signing transitions at once (20)")
    parser.add_argument("--writers", type=int, default=4, help="clients writing meanwhile (4)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TANGUAN_BENCH_POSTGRES_URL"),
        help="a PostgreSQL URL: run in a scratch schema there instead of on SQLite",
    )
    args = parser.parse_args(argv)
    if args.signers < 1 or args.writers < 0:
        parser.error("--signers must be >= 1 and --writers >= 0")
    with scratch_schema(args.postgres) as database_url, demo_server(database_url=database_url) as server:
        burst = run_burst(server.base_url, signers=args.signers, writers=args.writers)
        lines = report(burst, backend="postgresql" if args.postgres else "sqlite", server_log=server.log())
    print("\n".join(lines))
    for failure in burst.failed[:10]:
        print(f"# {failure}", file=sys.stderr)
    return 1 if burst.failed or burst.server_errors or "database_locked: 0" not in lines else 0


if __name__ == "__main__":
    sys.exit(main())
