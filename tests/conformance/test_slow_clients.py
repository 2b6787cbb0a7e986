"""Slow clients (issue 9): slowloris (heads that never end) and slow bodies are cut off by the
header and request timeouts, and ordinary clients keep being served while 1000 of them hang on.
"""
from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

HEADER_TIMEOUT_S = 3
REQUEST_TIMEOUT_S = 10
CONFIG = {
    "limits": {"header_timeout": f"{HEADER_TIMEOUT_S}s", "request_timeout": f"{REQUEST_TIMEOUT_S}s"},
    "log": {"format": "json", "level": "info", "access": False},
    "sites": [{"routes": [{"path": "/echo", "echo": {}}, {"path": "/*", "respond": {"body": "ok\n"}}]}],
}
SLOW = 1000


class Slowloris:
    """SLOW connections that send a request head one header line per second, never finishing it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sockets: list[socket.socket] = []
        self.closed_at: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)

    def open(self) -> None:
        for _ in range(SLOW):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
            s.setblocking(False)
            self.sockets.append(s)
        self.opened = time.monotonic()
        self._thread.start()

    def _drip(self) -> None:
        while not self._stop.is_set():
            for i, s in enumerate(self.sockets):
                if i in self.closed_at:
                    continue
                try:
                    if s.recv(4096) == b"":
                        self.closed_at[i] = time.monotonic()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed_at[i] = time.monotonic()
                    continue
                try:
                    s.send(b"X-Slow: 1\r\n")
                except OSError:
                    self.closed_at[i] = time.monotonic()
            self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for s in self.sockets:
            s.close()


@pytest.fixture(scope="module")
def server(anomaly_server_module) -> Any:
    return anomaly_server_module(CONFIG)


def test_slowloris_does_not_starve_normal_clients(server, suite_note) -> None:
    loris = Slowloris(server.plain_port)
    loris.open()
    try:
        def one(_: int) -> bool:
            try:
                with httpx.Client(timeout=5) as c:  # a new connection each time
                    return c.get(server.plain_url + "/").status_code == 200
            except httpx.HTTPError:
                return False

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(300)))
        rate = sum(results) / len(results)
        # Everyone still hanging past the header timeout has been cut off.
        deadline = loris.opened + REQUEST_TIMEOUT_S - 0.5
        while len(loris.closed_at) < SLOW and time.monotonic() < deadline:
            time.sleep(0.2)
        cut = len(loris.closed_at)
        lifetimes = sorted(t - loris.opened for t in loris.closed_at.values())
        median_life = lifetimes[len(lifetimes) // 2] if lifetimes else float("nan")
    finally:
        loris.close()
    suite_note(f"slowloris: {SLOW} slow heads; normal clients {sum(results)}/{len(results)} ok ({rate:.1%}) in "
               f"{time.monotonic() - started:.1f}s; {cut} slow connections cut, median after {median_life:.1f}s "
               f"(header_timeout {HEADER_TIMEOUT_S}s)")
    assert rate >= 0.95
    assert cut >= 0.95 * SLOW
    # Cut by the header timeout, not the (longer) request timeout. The figure is when this test's
    # polling thread noticed the close, which lags behind on a busy machine.
    assert median_life < REQUEST_TIMEOUT_S


def test_slow_body_is_cut_at_the_request_timeout(server) -> None:
    s = socket.create_connection(("127.0.0.1", server.plain_port), timeout=REQUEST_TIMEOUT_S + 5)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
    opened = time.monotonic()
    got = b""
    try:
        for _ in range(REQUEST_TIMEOUT_S + 4):
            s.send(b"x")
            s.settimeout(1)
            try:
                chunk = s.recv(4096)
                if chunk == b"":
                    break
                got += chunk
                if b"\r\n\r\n" in got:
                    break
            except socket.timeout:
                continue
    except OSError:
        pass
    lived = time.monotonic() - opened
    s.close()
    assert lived < REQUEST_TIMEOUT_S + 2.5, f"the slow body lived {lived:.1f}s"
    assert got == b"" or got.startswith(b"HTTP/1.1 408"), got[:100]
