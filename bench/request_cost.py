"""The cost of every request (issue 15 item 8), measured with wrk against a bare FastAPI app in one run.

Run from the repository root: ``python -m bench.request_cost [--seconds N] [--rounds R]
[--connections C]`` (defaults 10, 2, 16).

It seeds a throw-away SQLite database with the demo enterprise, starts ``tanguan serve --workers 1``
and, as the peer, FastAPI's hello-world (``bench/bare_app.py``) under ``uvicorn`` with the same
settings as ``tanguan serve`` (one worker, the access log on, proxy headers), signs in as the demo
carbon manager and drives, with ``wrk -t2 -cC -dNs --latency``: the bare app's ``/``, the app's
``/ping``, and signed in the dashboard ``/``, the nonconformity list, a nonconformity's page and the
audit trail. Rounds alternate over the endpoints and the best round of each counts. Every page is
first checked to answer 200 with its own content, so a redirect to sign-in cannot pass for a fast page.

One session asking for one URL again and again is answered from the page the server keeps under the
database's write generation (docs/adr/0048): those are the goal figures. The same four pages are also
driven with a URL of their own per request (``NAME_rendered``), so every answer is rendered: the cost of
the first view after a write, printed beside them and not counted against the goals.

Prints one figure per line: ``NAME_rps``, ``NAME_p50``, ``NAME_p99``, ``NAME_server_cpu`` (server
CPU per request, least of the rounds), ``ping_vs_bare`` and ``NAME_vs_ping``, the goals met, and the
load average before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.http import (
    HOST,
    ORG_NAME,
    SESSION_COOKIE,
    START_TIMEOUT_S,
    bench_environment,
    free_port,
    process_cpu_seconds,
    sign_in,
    stop_server,
    tanguan_script,
    wait_until_healthy,
)
from bench.wrk import WrkResult, run_wrk

GOAL_PING_VS_BARE = 60.0  # %
GOAL_PAGE_VS_PING = 30.0  # %
GOAL_P99_MS = 250.0


@dataclass(frozen=True)
class Target:
    name: str
    server: str  # "bare" or "app"
    path: str
    signed_in: bool
    mark: str  # what a right answer contains
    fresh_urls: bool = False  # a URL of its own per request: rendered, never a kept page
    goal: bool = True  # counted against the goals


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def first_record(database: Path, workflow: str) -> tuple[int, str]:
    with sqlite3.connect(database) as connection:
        row = connection.execute(
            "SELECT r.id, r.number FROM record r JOIN organization o ON o.id = r.org_id "
            "WHERE r.workflow_key = ? AND o.slug = 'xiangfeng-cement' ORDER BY r.id LIMIT 1",
            (workflow,),
        ).fetchone()
    if row is None:
        raise SystemExit(f"bench.request_cost: the demo has no {workflow} record")
    return int(row[0]), str(row[1])


def start(command: list[str], *, cwd: Path, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_answering(server: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log = log_path.read_text()
            raise SystemExit(f"bench.request_cost: {url} exited with {server.returncode}:\n{log}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench.request_cost: {url} did not answer within {START_TIMEOUT_S:.0f} s")


def check(url: str, *, cookie: str | None, mark: str) -> None:
    answer = httpx.get(url, headers={"Cookie": cookie} if cookie else {}, timeout=60)
    if answer.status_code != 200 or mark not in answer.text:
        raise SystemExit(f"bench.request_cost: {url} answered {answer.status_code} without {mark!r}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.request_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per round and endpoint (10)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, the best of each endpoint counts (2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1 or args.connections < 1:
        parser.error("--seconds must be > 0, --rounds and --connections >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tanguan = tanguan_script()
    print(f"load_average_before: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tanguan-reqcost-") as directory:
        workdir = Path(directory)
        env = bench_environment(workdir / "var")
        for command in (["db", "upgrade"], ["demo"]):
            subprocess.run([tanguan, *command], cwd=workdir, env=env, stdout=subprocess.DEVNULL, check=True)
        record_id, record_number = first_record(workdir / "var" / "tanguan.sqlite3", "nonconformity")
        targets = (
            Target("bare", "bare", "/", False, "World"),
            Target("ping", "app", "/ping", False, "pong"),
            Target("dashboard", "app", "/", True, ORG_NAME),
            Target("record_list", "app", "/records/nonconformity", True, ORG_NAME),
            Target("record_page", "app", f"/r/{record_id}", True, record_number),
            Target("audit_trail", "app", "/audit", True, ORG_NAME),
        )
        targets += tuple(
            Target(f"{page.name}_rendered", "app", page.path, True, page.mark, fresh_urls=True, goal=False)
            for page in targets[2:]
        )
        ports = {"app": free_port(), "bare": free_port()}
        repository = Path(__file__).resolve().parent.parent
        bare_env = {**env, "PYTHONPATH": str(repository)}
        uvicorn = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--workers", "1"]
        uvicorn += ["--proxy-headers", "--forwarded-allow-ips", "127.0.0.1,::1"]  # as tanguan serve
        servers = {
            "app": start(
                [tanguan, "serve", "--host", HOST, "--port", str(ports["app"]), "--workers", "1"],
                cwd=workdir,
                env=env,
                log_path=workdir / "app.log",
            ),
            "bare": start(
                [*uvicorn, "--host", HOST, "--port", str(ports["bare"])],
                cwd=workdir,
                env=bare_env,
                log_path=workdir / "bare.log",
            ),
        }
        best: dict[str, WrkResult] = {}
        least_cpu: dict[str, float] = {}
        try:
            wait_until_healthy(servers["app"], f"http://{HOST}:{ports['app']}", workdir / "app.log")
            wait_until_answering(servers["bare"], f"http://{HOST}:{ports['bare']}/", workdir / "bare.log")
            app_url = f"http://{HOST}:{ports['app']}"
            cookie = f"{SESSION_COOKIE}={sign_in(app_url)}"
            for target in targets:
                url = f"http://{HOST}:{ports[target.server]}{target.path}"
                check(url, cookie=cookie if target.signed_in else None, mark=target.mark)
            for round_number in range(args.rounds):
                for target in targets:
                    url = f"http://{HOST}:{ports[target.server]}{target.path}"
                    pid = servers[target.server].pid
                    cpu = process_cpu_seconds(pid)
                    result = run_wrk(
                        url,
                        connections=args.connections,
                        seconds=args.seconds,
                        cookie=cookie if target.signed_in else None,
                        fresh_urls=target.fresh_urls,
                    )
                    cpu_ms = 1000 * (process_cpu_seconds(pid) - cpu) / max(result.requests, 1)
                    least_cpu[target.name] = min(least_cpu.get(target.name, cpu_ms), cpu_ms)
                    print(
                        f"# round {round_number + 1} {target.name} {target.path}: {result.rps:.1f} req/s, "
                        f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                        f"{result.requests} requests, {result.errors} errors, "
                        f"server CPU {cpu_ms:.2f} ms/request, load {load_average()}",
                        flush=True,
                    )
                    if result.errors:
                        raise SystemExit(f"bench.request_cost: {result.errors} failed requests to {url}")
                    if target.name not in best or result.rps > best[target.name].rps:
                        best[target.name] = result
            check(f"http://{HOST}:{ports['app']}/", cookie=cookie, mark=ORG_NAME)  # still signed in
        finally:
            for server in servers.values():
                stop_server(server)
    return report(targets, best, least_cpu)


def report(targets: tuple[Target, ...], best: dict[str, WrkResult], least_cpu: dict[str, float]) -> int:
    for target in targets:
        result = best[target.name]
        print(f"{target.name}_rps: {result.rps:.1f} req/s")
        print(f"{target.name}_p50: {result.p50_ms:.2f} ms")
        print(f"{target.name}_p99: {result.p99_ms:.2f} ms")
        print(f"{target.name}_server_cpu: {least_cpu[target.name]:.3f} ms/req")
    ping = best["ping"].rps
    ping_vs_bare = 100 * ping / best["bare"].rps
    print(f"ping_vs_bare: {ping_vs_bare:.1f} %")
    met = {"ping_vs_bare": ping_vs_bare >= GOAL_PING_VS_BARE}
    for target in targets[2:]:
        ratio = 100 * best[target.name].rps / ping
        print(f"{target.name}_vs_ping: {ratio:.1f} %")
        if target.goal:
            met[f"{target.name}_vs_ping"] = ratio >= GOAL_PAGE_VS_PING
    for target in targets[1:]:
        if target.goal:
            met[f"{target.name}_p99"] = best[target.name].p99_ms < GOAL_P99_MS
    print(f"goals_met: {sum(met.values())} of {len(met)}")
    missed = [name for name, ok in met.items() if not ok]
    print(f"goals_missed: {', '.join(missed) or 'none'}")
    print(f"load_average_after: {load_average()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
