"""Benchmark of web requests: the trivial ``GET /ping`` against the signed-in dashboard ``GET /``.

Run from the repository root, as a module only (``python bench/http.py`` would shadow the standard
library's ``http`` package): ``python -m bench.http [--seconds N] [--concurrency C] [--warmup W]
[--rounds R]``.

It seeds a throw-away SQLite database with the demo enterprise (``tanguan db upgrade``, ``tanguan demo``),
starts ``tanguan serve`` (one worker) on a free loopback port, signs in as the demo carbon manager, then
drives each endpoint for a bounded time with httpx.AsyncClient (keep-alive, one connection pool shared by
C concurrent loops). The order is ping, dashboard, ping, dashboard and the best round of each counts,
which damps the noise of a 2-core machine where the client and the server share the cores. Prints one
figure per line:

    ping_rps: N req/s              /ping requests completed per second (no cookie)
    ping_p50: N ms / ping_p99: N ms
    dashboard_rps: N req/s         / as the signed-in carbon manager, 200 with the enterprise's name
    dashboard_p50: N ms / dashboard_p99: N ms
    dashboard_vs_ping: N %         dashboard_rps / ping_rps
    ping_server_cpu: N ms/req      CPU time of the server process (all threads) per request, least of
    dashboard_server_cpu: N ms/req the rounds
    dashboard_vs_ping_server_cpu: N %  ping_server_cpu / dashboard_server_cpu: the request-rate ratio
                                   when the server, not the client, is the bottleneck
    errors: N                      requests that failed, or answered other than expected; exit 1 if any

On 2 cores httpx needs more CPU per request than the server needs for /ping, so the ping rounds are
bound by the client (see "client CPU" on standard error) and dashboard_vs_ping flatters the dashboard.
The server-CPU ratio does not depend on the client. Diagnostics (each round, with the CPU use of the
server and of the client) go to standard error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

EMAIL = "carbon@xiangfeng.example"
PASSWORD = "Xiangfeng#2026"
ORG_NAME = "湖南湘峰水泥有限公司"
SESSION_COOKIE = "tanguan_session"
CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)"')
HOST = "127.0.0.1"
START_TIMEOUT_S = 300.0  # generous: `tanguan serve` starting on a shared, loaded machine


@dataclass
class Round:
    name: str
    count: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu_s: float
    client_cpu_s: float

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def tanguan_script() -> str:
    script = Path(sys.executable).with_name("tanguan")
    if not script.exists():
        found = shutil.which("tanguan")
        if found is None:
            raise SystemExit(
                "bench.http: no `tanguan` script next to the interpreter; pip install -e . first"
            )
        return found
    return str(script)


def bench_environment(data_dir: Path) -> dict[str, str]:
    """The caller's environment without any TANGUAN_ setting, pointed at a fresh data directory."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TANGUAN_")}
    env["TANGUAN_DATA_DIR"] = str(data_dir)
    env["TANGUAN_DEMO"] = "1"  # the demo's key stays in the data dir (ADR 0017)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), 0.0 where that is not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not stopped within 15 s."""
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def wait_until_healthy(server: subprocess.Popen, base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(
                f"bench.http: the server exited with {server.returncode}:\n{log_path.read_text()}"
            )
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench.http: /healthz did not answer within {START_TIMEOUT_S:.0f} s")


def sign_in(base_url: str, email: str = EMAIL) -> str:
    """The session cookie of a demo user (the carbon manager unless named), through the sign-in form as a
    browser posts it."""
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=30) as client:
        page = client.get("/login")
        if page.status_code != 200:
            raise SystemExit(f"bench.http: GET /login answered {page.status_code}")
        match = CSRF_INPUT.search(page.text)
        if match is None:
            raise SystemExit("bench.http: no csrf_token input on the sign-in page")
        form = {"email": email, "password": PASSWORD, "csrf_token": match.group(1), "next": "/"}
        answer = client.post("/login", data=form)
        token = answer.cookies.get(SESSION_COOKIE)
        if answer.status_code != 303 or not token:
            raise SystemExit(
                f"bench.http: sign-in answered {answer.status_code}, session cookie: {bool(token)}"
            )
        return token


async def drive(
    client: httpx.AsyncClient,
    name: str,
    path: str,
    *,
    headers: dict[str, str],
    needle: bytes | None,
    seconds: float,
    warmup: float,
    concurrency: int,
    server_pid: int,
) -> Round:
    """Keep ``concurrency`` requests in flight: ``warmup`` seconds uncounted, then ``seconds`` counted."""
    latencies: list[float] = []
    errors = 0
    counting = False
    stop_at = 0.0

    async def loop() -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                response = await client.get(path, headers=headers)
                ok = response.status_code == 200 and (needle is None or needle in response.content)
            except httpx.HTTPError:
                ok = False
            if counting:
                if ok:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    errors += 1

    if warmup > 0:
        stop_at = time.perf_counter() + warmup
        await asyncio.gather(*(loop() for _ in range(concurrency)))
    counting = True
    server_cpu, client_cpu = process_cpu_seconds(server_pid), time.process_time()
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started  # includes the tail of requests started before stop_at
    return Round(
        name=name,
        count=len(latencies),
        errors=errors,
        seconds=elapsed,
        latencies_ms=latencies,
        server_cpu_s=process_cpu_seconds(server_pid) - server_cpu,
        client_cpu_s=time.process_time() - client_cpu,
    )


async def measure(base_url: str, token: str, args: argparse.Namespace, server_pid: int) -> list[Round]:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    targets = {
        "ping": ("/ping", {}, None),
        "dashboard": ("/", {"Cookie": f"{SESSION_COOKIE}={token}"}, ORG_NAME.encode()),
    }
    rounds = []
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=30, follow_redirects=False
    ) as client:
        for _ in range(args.rounds):
            for name, (path, headers, needle) in targets.items():
                result = await drive(
                    client,
                    name,
                    path,
                    headers=headers,
                    needle=needle,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    concurrency=args.concurrency,
                    server_pid=server_pid,
                )
                print(
                    f"# {name}: {result.rps:.1f} req/s, p50 {result.percentile(0.5):.1f} ms, "
                    f"p99 {result.percentile(0.99):.1f} ms, {result.errors} errors, "
                    f"server CPU {result.server_cpu_s / result.seconds:.0%}, "
                    f"client CPU {result.client_cpu_s / result.seconds:.0%}",
                    file=sys.stderr,
                    flush=True,
                )
                rounds.append(result)
    return rounds


def report(rounds: list[Round]) -> int:
    best = {
        name: max((r for r in rounds if r.name == name), key=lambda r: r.rps)
        for name in ("ping", "dashboard")
    }
    for name, result in best.items():
        print(f"{name}_rps: {result.rps:.1f} req/s")
        print(f"{name}_p50: {result.percentile(0.5):.2f} ms")
        print(f"{name}_p99: {result.percentile(0.99):.2f} ms")
    ping_rps = best["ping"].rps
    ratio = 100 * best["dashboard"].rps / ping_rps if ping_rps else 0.0
    print(f"dashboard_vs_ping: {ratio:.1f} %")
    cpu = {
        name: min(
            (1000 * r.server_cpu_s / r.count for r in rounds if r.name == name and r.count), default=0.0
        )
        for name in ("ping", "dashboard")
    }
    print(f"ping_server_cpu: {cpu['ping']:.3f} ms/req")
    print(f"dashboard_server_cpu: {cpu['dashboard']:.3f} ms/req")
    cpu_ratio = 100 * cpu["ping"] / cpu["dashboard"] if cpu["dashboard"] else 0.0
    print(f"dashboard_vs_ping_server_cpu: {cpu_ratio:.1f} %")
    errors = sum(r.errors for r in rounds)
    print(f"errors: {errors}")
    return 1 if errors else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per round (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds before each round (2)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (16)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per endpoint, the best counts (2)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0 or args.concurrency < 1 or args.rounds < 1:
        parser.error("--seconds must be > 0, --warmup >= 0, --concurrency and --rounds >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tanguan = tanguan_script()
    with tempfile.TemporaryDirectory(prefix="tanguan-bench-") as directory:
        workdir = Path(directory)
        env = bench_environment(workdir / "var")
        # cwd is the temp dir so that a developer's .env does not leak into the figures.
        for command in (["db", "upgrade"], ["demo"]):
            done = subprocess.run([tanguan, *command], cwd=workdir, env=env, stdout=subprocess.DEVNULL)
            if done.returncode != 0:
                raise SystemExit(f"bench.http: `tanguan {' '.join(command)}` exited with {done.returncode}")
        port = free_port()
        base_url = f"http://{HOST}:{port}"
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [tanguan, "serve", "--host", HOST, "--port", str(port), "--workers", "1"],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_healthy(server, base_url, log_path)
            token = sign_in(base_url)
            rounds = asyncio.run(measure(base_url, token, args, server.pid))
        finally:
            stop_server(server)
    return report(rounds)


if __name__ == "__main__":
    sys.exit(main())
