"""T29: this server's clock against NTP (docs/adr/0046). Every audit time is the server's, so a clock that is
off writes wrong times into the trail. An SNTP client (RFC 4330, over UDP, the standard library only) asks
the servers of ``TANGUAN_NTP_SERVERS`` in turn; the first that answers gives the offset. ``/readyz``,
``/metrics`` and ``tanguan check-clock`` report it; the web keeps one measurement for a few minutes so that
a probe does not query NTP on every call."""

import socket
import struct
import threading
import time
from dataclasses import dataclass

from engine.config import split_host_port

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
TIMEOUT_S = 1.0  # per server: an unreachable one costs this, never a hang
CACHE_S = 300.0  # how long the web keeps a measurement (or a failure)
_PACKET = struct.Struct("!B B b b 11I")  # LI/VN/mode, stratum, poll, precision, root delay … transmit
_CLIENT_V4 = (0 << 6) | (4 << 3) | 3  # no leap warning, version 4, mode 3 (client)
_SERVER_MODES = {4, 5}  # server, broadcast
_UNSYNCHRONIZED = 3  # leap indicator "clock not synchronized"


NOT_CHECKED = "未设置 TANGUAN_NTP_SERVERS，不检查时钟 / TANGUAN_NTP_SERVERS is empty: clock not checked"


class ClockCheckError(Exception):
    """No usable answer; the message names the server and the reason, in Chinese and English."""


@dataclass(frozen=True)
class ClockReading:
    """One measurement: how far this clock is from the server's (positive: this clock is behind)."""

    server: str
    offset_s: float
    round_trip_s: float
    measured_at: float  # time.monotonic() when taken


@dataclass(frozen=True)
class ClockStatus:
    """What a check found: a reading, or why there is none (``error``); ``enabled`` False without servers."""

    enabled: bool
    reading: ClockReading | None = None
    error: str | None = None


def _to_ntp(unix: float) -> tuple[int, int]:
    seconds = unix + NTP_EPOCH_OFFSET
    whole = int(seconds)
    return whole, int((seconds - whole) * 2**32) & 0xFFFFFFFF


def _from_ntp(whole: int, fraction: int) -> float:
    return whole - NTP_EPOCH_OFFSET + fraction / 2**32


def query(server: str, *, timeout: float = TIMEOUT_S) -> ClockReading:
    """Ask one server once; raises ClockCheckError (unreachable, silent, or a reply that cannot be used)."""
    try:
        host, port = split_host_port(server)
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except (OSError, ValueError) as error:
        raise ClockCheckError(f"NTP 服务器 {server} 地址无效 / cannot resolve {server}: {error}") from None
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout)
        sent = time.time()
        request = _PACKET.pack(_CLIENT_V4, 0, 0, 0, *([0] * 9), *_to_ntp(sent))
        try:
            sock.sendto(request, address)
            while True:  # a stray datagram is not the answer: wait for ours, within the same timeout
                data, sender = sock.recvfrom(512)
                received = time.time()
                if sender[:2] == address[:2] and len(data) >= _PACKET.size:
                    break
        except TimeoutError:
            raise ClockCheckError(
                f"NTP 服务器 {server} 在 {timeout:g} 秒内无应答 / "
                f"no answer from {server} within {timeout:g} s"
            ) from None
        except OSError as error:
            raise ClockCheckError(f"NTP 服务器 {server} 不可达 / {server} unreachable: {error}") from None
    fields = _PACKET.unpack(data[: _PACKET.size])
    leap, mode, stratum = fields[0] >> 6, fields[0] & 0b111, fields[1]
    originate = (fields[9], fields[10])
    server_received = _from_ntp(fields[11], fields[12])
    server_sent = _from_ntp(fields[13], fields[14])
    if mode not in _SERVER_MODES or originate != _to_ntp(sent):
        raise ClockCheckError(f"NTP 服务器 {server} 的应答不对应请求 / {server} answered something else")
    if stratum == 0 or leap == _UNSYNCHRONIZED:
        raise ClockCheckError(
            f"NTP 服务器 {server} 自身未同步 / {server} is not synchronized itself (stratum {stratum})"
        )
    offset = ((server_received - sent) + (server_sent - received)) / 2
    round_trip = (received - sent) - (server_sent - server_received)
    return ClockReading(server, offset, max(round_trip, 0.0), time.monotonic())


def check_clock(servers: list[str], *, timeout: float = TIMEOUT_S) -> ClockStatus:
    """The first server that answers gives the reading; none configured: the check is disabled."""
    if not servers:
        return ClockStatus(enabled=False)
    errors = []
    for server in servers:
        try:
            return ClockStatus(enabled=True, reading=query(server, timeout=timeout))
        except ClockCheckError as error:
            errors.append(str(error))
    return ClockStatus(enabled=True, error="; ".join(errors))


class CachedClockCheck:
    """One process's measurement, taken again when older than ``cache_s``; callers at once share one query."""

    def __init__(self, servers: list[str], *, timeout: float = TIMEOUT_S, cache_s: float = CACHE_S) -> None:
        self.servers = servers
        self.timeout = timeout
        self.cache_s = cache_s
        self._lock = threading.Lock()
        self._status: ClockStatus | None = None
        self._taken = 0.0

    def status(self) -> ClockStatus:
        with self._lock:
            if self._status is None or time.monotonic() - self._taken > self.cache_s:
                self._status = check_clock(self.servers, timeout=self.timeout)
                self._taken = time.monotonic()
            return self._status


def clock_report(status: ClockStatus, *, max_offset_s: float) -> dict[str, object]:
    """The ``clock`` check of /readyz. Fatal only for an offset over the maximum (audit times would be
    wrong); no server configured, or none answering, is reported and not fatal."""
    if not status.enabled:
        return {"ok": True, "checked": False, "note": NOT_CHECKED}
    if status.reading is None:
        return {"ok": True, "checked": False, "error": status.error}
    reading = status.reading
    report: dict[str, object] = {
        "ok": abs(reading.offset_s) <= max_offset_s,
        "checked": True,
        "server": reading.server,
        "offset_s": round(reading.offset_s, 3),
        "round_trip_ms": round(reading.round_trip_s * 1000, 1),
        "max_offset_s": max_offset_s,
        "age_s": round(time.monotonic() - reading.measured_at, 1),
    }
    if not report["ok"]:
        report["error"] = (
            f"服务器时钟偏差 {reading.offset_s:+.1f} 秒，超过上限 {max_offset_s:g} 秒，审计时间将不准确 / "
            f"clock offset {reading.offset_s:+.1f} s exceeds TANGUAN_MAX_CLOCK_OFFSET_S={max_offset_s:g}"
        )
    return report
