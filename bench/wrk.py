"""Drive one URL with wrk (Debian's wrk 4.x, an external load generator in C) and read its figures."""

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx answers, socket errors and timeouts


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * UNITS_MS[unit]


# Each request asks for a URL no earlier request asked for (a query parameter the app ignores): a page the
# server keeps under its URL (docs/adr/0048) is rendered anew every time.
FRESH_URLS = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local counter = 0
function request()
  counter = counter + 1
  local sep = string.find(wrk.path, "?", 1, true) and "&" or "?"
  return wrk.format(nil, wrk.path .. sep .. "fresh=" .. id .. "-" .. counter)
end
"""


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    cookie: str | None = None,
    threads: int = 2,
    fresh_urls: bool = False,
) -> WrkResult:
    """``wrk --latency`` with keep-alive connections; the timeout is 30 s, so slow answers count as
    latency, not as timeouts. ``fresh_urls``: every request a URL of its own (FRESH_URLS)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s", "--latency"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if fresh_urls:
            script.write(FRESH_URLS)
            script.flush()
            command += ["-s", script.name]
        output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.MULTILINE))
    if "99" not in percentiles:
        raise SystemExit(f"wrk gave no latency distribution for {url}:\n{output}")
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket:
        errors += sum(int(n) for n in socket.groups())
    return WrkResult(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        requests=requests,
        errors=errors,
    )
