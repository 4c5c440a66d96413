"""Benchmark: what the per-request observability (docs/adr/0038) costs ``GET /ping``, measured with wrk.

``python -m bench.observability [--seconds 10] [--rounds 3] [--connections 16] [--threads 2]``

Two servers over one throw-away SQLite database, one worker each, started the same way on free loopback
ports: *without* — the app with the observability middleware taken out and uvicorn's own access log on
(what main served before this change) — and *with* — the app as ``tanguan serve`` runs it (the middleware:
request id, latency histogram, one JSON log line; uvicorn's access log off). Rounds alternate without,
with, without, with… (``wrk -t2 -c16 -d10s``) and the best round of each counts, which damps the noise
of a 2-core machine shared with wrk and other work. Both servers write their logs to files. Prints:

    ping_rps_without_observability: N req/s
    ping_rps_with_observability: N req/s
    with_vs_without: N %
    ping_p99_without_observability: N ms / ping_p99_with_observability: N ms
    ping_server_cpu_without_observability: N ms/req / …_with_observability: N ms/req
                                     CPU time of the server process per request, least of the rounds:
                                     the cost that does not depend on how busy the machine is
    in_process_ping_without_observability: N us/req / …_with_observability: N us/req
    in_process_middleware_cost: N us/req
                                     GET /ping through the ASGI app called in this process (no sockets),
                                     3 × 3,000 requests, least of the rounds: the middleware's own cost
    metrics_scrape_ms: N ms          one GET /metrics on the loaded server (median of 20)
    errors: N                        non-2xx answers or socket errors; exit 1 if any
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.http import HOST, free_port, process_cpu_seconds

KEY = "bench-observability-key-0123456789-0123456789"


def app_without_observability():  # type: ignore[no-untyped-def]
    """The app as before this change: no request id, no histogram, no JSON line."""
    from web.app import create_app
    from web.observability import ObservabilityMiddleware

    app = create_app()
    app.user_middleware = [m for m in app.user_middleware if m.cls is not ObservabilityMiddleware]
    return app


def _serve(variant: str, port: int) -> None:
    import uvicorn

    bare = "bench.observability:app_without_observability"
    factory = bare if variant == "without" else "web.app:create_app"
    uvicorn.run(factory, factory=True, host=HOST, port=port, workers=1, access_log=variant == "without")


def _in_process(data_dir: Path, *, requests: int = 3000, rounds: int = 3) -> dict[str, float]:
    """CPU microseconds of one ``GET /ping`` through the ASGI app called directly (no sockets, no uvicorn),
    with and without the middleware, least of the rounds; the JSON lines go to a file."""
    import asyncio
    import logging

    from engine.config import Settings
    from engine.observability import REQUEST_LOG
    from web.app import create_app
    from web.observability import ObservabilityMiddleware

    settings = Settings(data_dir=data_dir, secret_key=KEY)
    with_ = create_app(settings=settings)
    without = create_app(settings=settings)
    without.user_middleware = [m for m in without.user_middleware if m.cls is not ObservabilityMiddleware]
    sink = logging.FileHandler(data_dir / "in-process.log")
    saved = REQUEST_LOG.handlers[:]
    REQUEST_LOG.handlers = [sink]

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: object) -> None:
        return None

    async def timed(app: object) -> float:
        started = time.process_time()  # CPU of every thread of this process: less at the mercy of load
        for _ in range(requests):
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                "scheme": "http", "path": "/ping", "raw_path": b"/ping", "query_string": b"", "root_path": "",
                "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
            }  # fmt: skip
            await app(scope, receive, send)  # type: ignore[operator]
        return (time.process_time() - started) * 1e6 / requests

    best: dict[str, float] = {}
    try:
        for _ in range(rounds):
            for name, app in (("without", without), ("with", with_)):
                micro = asyncio.run(timed(app))
                best[name] = min(best.get(name, micro), micro)
    finally:
        REQUEST_LOG.handlers = saved
        sink.close()
    return best


def _wait(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench.observability: server exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(base_url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit("bench.observability: the server did not answer within 120 s")


def _wrk(url: str, *, seconds: int, connections: int, threads: int) -> tuple[float, float, int, int]:
    """(requests per second, p99 in ms, errors, requests) of one wrk run."""
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_value, p99_unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99 = float(p99_value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99_unit]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups()[:3])  # timeouts are latency, not errors
    print(out.strip().replace("\n", "\n    "), file=sys.stderr)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, p99, errors, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench.observability: wrk is needed (apt-get install wrk)")
    tanguan = str(Path(sys.executable).parent / "tanguan")
    with tempfile.TemporaryDirectory(prefix="tanguan-bench-obs-") as folder:
        work = Path(folder)
        env = {**os.environ, "TANGUAN_DATA_DIR": str(work / "var"), "TANGUAN_SECRET_KEY": KEY}
        subprocess.run([tanguan, "db", "upgrade"], env=env, check=True, capture_output=True)
        servers: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
        try:
            for variant in ("without", "with"):
                port, log = free_port(), work / f"{variant}.log"
                with log.open("wb") as out:
                    command = [sys.executable, "-m", "bench.observability", "--serve", variant, str(port)]
                    process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
                servers[variant] = (f"http://{HOST}:{port}", process)
                _wait(servers[variant][0], process, log)
            best: dict[str, tuple[float, float]] = {}
            cpu: dict[str, float] = {}  # server CPU ms per request, least of the rounds
            errors = 0
            for round_number in range(args.rounds):
                for variant in ("without", "with"):
                    base_url = servers[variant][0]
                    print(f"round {round_number + 1}, {variant} observability:", file=sys.stderr)
                    pid = servers[variant][1].pid
                    cpu_before = process_cpu_seconds(pid)
                    rps, p99, failed, requests = _wrk(
                        base_url + "/ping",
                        seconds=args.seconds,
                        connections=args.connections,
                        threads=args.threads,
                    )
                    per_request = 1000 * (process_cpu_seconds(pid) - cpu_before) / max(requests, 1)
                    print(f"    server CPU: {per_request:.3f} ms/req", file=sys.stderr)
                    cpu[variant] = min(cpu.get(variant, per_request), per_request)
                    errors += failed
                    if variant not in best or rps > best[variant][0]:
                        best[variant] = (rps, p99)
            local = httpx.Client(base_url=servers["with"][0])
            scrapes = []
            for _ in range(20):
                started = time.perf_counter()
                assert local.get("/metrics").status_code == 200
                scrapes.append((time.perf_counter() - started) * 1000)
        finally:
            for _url, process in servers.values():
                process.terminate()
                process.wait(timeout=30)
        without, with_ = best["without"], best["with"]
        print(f"ping_rps_without_observability: {without[0]:.0f} req/s")
        print(f"ping_rps_with_observability: {with_[0]:.0f} req/s")
        print(f"with_vs_without: {100 * with_[0] / without[0]:.1f} %")
        print(f"ping_p99_without_observability: {without[1]:.1f} ms")
        print(f"ping_p99_with_observability: {with_[1]:.1f} ms")
        print(f"ping_server_cpu_without_observability: {cpu['without']:.3f} ms/req")
        print(f"ping_server_cpu_with_observability: {cpu['with']:.3f} ms/req")
        micro = _in_process(work / "var")
        print(f"in_process_ping_without_observability: {micro['without']:.0f} us/req")
        print(f"in_process_ping_with_observability: {micro['with']:.0f} us/req")
        print(f"in_process_middleware_cost: {micro['with'] - micro['without']:.0f} us/req")
        print(f"metrics_scrape_ms: {statistics.median(scrapes):.1f} ms")
        print(f"errors: {errors}")
        if errors:
            raise SystemExit(1)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
