"""The `tanguan` command as real processes for tests: one-shot commands, and `tanguan serve` on a free port,
waited for by condition (healthy, or exited), never by a fixed sleep."""

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from engine.cli import KEEP_ALIVE_S

TANGUAN = str(Path(sys.executable).with_name("tanguan"))
STARTUP_TIMEOUT_S = 60  # generous: the machine is shared; a healthy server answers in about two seconds


def tanguan_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without any TANGUAN_ setting, plus the data directory and ``settings``
    (``TANGUAN_SECRET_KEY="…"``)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TANGUAN_")}
    env["TANGUAN_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def run_tanguan(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([TANGUAN, *args], env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, f"tanguan {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class Started:
    """A `tanguan serve` process: its base URL and, once it has ended, its output."""

    def __init__(self, process: subprocess.Popen, base_url: str, log_path: Path) -> None:
        self.process = process
        self.base_url = base_url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy_or_exit(self, seconds: float = STARTUP_TIMEOUT_S) -> bool:
        """True once /healthz answers 200; False if the process exits first."""
        deadline = time.monotonic() + seconds
        while True:
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(self.base_url + "/healthz", timeout=5).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"tanguan serve neither answered nor exited:\n{self.log()}"
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 30 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def start_serve(env: dict[str, str], log_path: Path, *options: str, port: int | None = None) -> Started:
    port = port or free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [TANGUAN, "serve", "--port", str(port), *options], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    return Started(process, f"http://127.0.0.1:{port}", log_path)


@contextmanager
def serving(env: dict[str, str], log_path: Path, *options: str, port: int | None = None) -> Iterator[str]:
    """`tanguan serve` until the block ends; yields its base URL."""
    server = start_serve(env, log_path, *options, port=port)
    try:
        assert server.wait_healthy_or_exit(), f"tanguan serve exited:\n{server.log()}"
        yield server.base_url
    finally:
        server.stop()


def signature_statuses(client: httpx.Client, base_url: str, record_ids: list[int]) -> list[str]:
    """What one instance says of each e-signature on these records' pages (valid, invalid, stale…)."""
    statuses = []
    for record_id in record_ids:
        page = client.get(f"{base_url}/r/{record_id}")
        assert page.status_code == 200, page.text[:500]
        statuses += re.findall(r'data-signature-status="(\w+)"', page.text)
    return statuses


@contextmanager
def served_in_thread(app: Any) -> Iterator[int]:
    """``app`` on a real socket (uvicorn in a thread of this process), until the block ends; the port."""
    port = free_port()
    # As `tanguan serve` keeps idle connections: with uvicorn's 5 s, a client starved of the CPU for 5 s on a
    # busy machine sent its next request on a connection the server was closing (T28 in the full suite).
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=KEEP_ALIVE_S
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)
