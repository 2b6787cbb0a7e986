"""HTTP/1.1 smuggling and malformed-request corpus (issue 9), over raw sockets.

Every case of http1_corpus.py is sent on a fresh connection to two servers: one answering the
request itself, one proxying it to a recording upstream. The first status and whether the
connection is closed must match the case; through the proxy, a refused request must never reach
the upstream (and an accepted one must reach it exactly as many times as it holds requests).
"""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from http1_corpus import CASES, Case

READ_IDLE = 0.5  # seconds without bytes after which an open connection counts as kept alive


class _Recorder(BaseHTTPRequestHandler):
    """A lenient upstream: counts every request it parses, bodies included, and answers 200."""

    protocol_version = "HTTP/1.1"
    count = 0
    lock = threading.Lock()

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok:
            with _Recorder.lock:
                _Recorder.count += 1
        return ok

    def _answer(self) -> None:
        if self.headers.get("transfer-encoding", "").lower().strip().endswith("chunked"):
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                self.rfile.read(size + 2)
        elif self.headers.get("content-length"):
            self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", "3")
        self.end_headers()
        self.wfile.write(b"up\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = do_PATCH = _answer

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def upstream() -> Any:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def servers(anomaly_server_module, upstream) -> dict[str, Any]:
    # echo reads the body, so a malformed one is found (a handler that ignores it gets its answer
    # out first, with "connection: close": safe too, but not what this corpus checks).
    direct = anomaly_server_module({"sites": [{"routes": [{"path": "/*", "echo": {}}]}]})
    port = upstream.server_address[1]
    proxied = anomaly_server_module({"sites": [{"routes": [{"path": "/*", "proxy": {"to": f"http://127.0.0.1:{port}"}}]}]})
    return {"direct": direct, "proxied": proxied}


def exchange(port: int, raw: bytes) -> tuple[bytes, bool]:
    """Sends `raw`, reads until the server closes or stays quiet READ_IDLE s; (bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(raw)
        s.settimeout(READ_IDLE)
        out = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return out, False
            except ConnectionResetError:
                return out, True
            if not chunk:
                return out, True
            out += chunk
        return out, False
    finally:
        s.close()


def first_status(data: bytes) -> int | None:
    if not data.startswith(b"HTTP/1.1 "):
        return None
    return int(data[9:12])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("mode", ["direct", "proxied"])
def test_corpus(case: Case, mode: str, servers, upstream) -> None:
    server = servers[mode]
    before = _Recorder.count
    data, closed = exchange(server.plain_port, case.raw)
    status = first_status(data)
    assert status == case.status, f"{case.name}: got {data[:200]!r}"
    assert closed == case.closes, f"{case.name}: connection {'closed' if closed else 'kept open'}; {data[:200]!r}"
    if case.status is not None and case.status < 300:
        assert data.count(b"HTTP/1.1 ") == case.requests
    if mode == "proxied":
        time.sleep(0.05)
        assert _Recorder.count - before == case.requests, f"{case.name}: the upstream saw {_Recorder.count - before} request(s)"


def test_corpus_size(suite_note) -> None:
    refused = sum(1 for c in CASES if c.requests == 0)
    suite_note(f"HTTP/1.1 corpus: {len(CASES)} raw requests ({refused} refused, {len(CASES) - refused} valid edge cases), each direct and through the proxy")
    assert len(CASES) >= 40
