"""A real SNTP server for tests: UDP on 127.0.0.1, answering with this machine's time plus a chosen offset —
or, ``silent``, never answering (an unreachable NTP server that drops packets)."""

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

NTP_EPOCH_OFFSET = 2_208_988_800
_SERVER_V4 = (0 << 6) | (4 << 3) | 4  # no leap warning, version 4, mode 4 (server)


def _ntp(unix: float) -> bytes:
    seconds = unix + NTP_EPOCH_OFFSET
    return struct.pack("!II", int(seconds), int((seconds % 1) * 2**32) & 0xFFFFFFFF)


class SntpResponder(threading.Thread):
    def __init__(self, *, offset_s: float = 0.0, silent: bool = False) -> None:
        super().__init__(daemon=True)
        self.offset_s = offset_s
        self.silent = silent
        self.requests = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                request, client = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            received = time.time() + self.offset_s
            self.requests += 1
            if self.silent or len(request) < 48:
                continue
            header = struct.pack("!BBbb", _SERVER_V4, 2, 6, -20) + struct.pack("!II", 0, 0) + b"LOCL"
            originate = request[40:48]  # the client's transmit time, echoed
            reply = header + _ntp(received) + originate + _ntp(received) + _ntp(time.time() + self.offset_s)
            self.sock.sendto(reply, client)

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=5)
        self.sock.close()


@contextmanager
def sntp_server(*, offset_s: float = 0.0, silent: bool = False) -> Iterator[SntpResponder]:
    responder = SntpResponder(offset_s=offset_s, silent=silent)
    responder.start()
    try:
        yield responder
    finally:
        responder.stop()
