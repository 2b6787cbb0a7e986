"""A controllable upstream server for the proxy tests, run as its own process so that "killing an
upstream" is real: the process dies and every connection it had is reset.

As a script: ``python proxy_upstream.py PORT NAME [--ws]``. Endpoints (HTTP/1.1, keep-alive):

  /health              200, or the status last set with /_control/health/<status>
  /_control/health/N   sets the /health status (returns 204)
  /slow-head?ms=N      waits N ms before the response head
  /slow-body?ms=N&size=S&early=E   sends the head and E bytes, waits N ms, then the rest
  /status/N            answers status N
  /flaky               the status last set with /_control/flaky/<status> (default 200)
  /big?bytes=N         N bytes of body, streamed in 64 KiB chunks
  POST anything        reads the body (Content-Length or chunked); answers its length and sha256
  anything else        JSON: name, port, method, path, headers

With --ws it is a WebSocket echo server instead (``websockets``), answering "<name>:<message>"
and exposing the handshake's request path and headers as the first message "hello <json>".

From tests: ``Upstream(name)`` starts one on a free port; ``.kill()``, ``.start()`` (same port).
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    health_status = 200
    flaky_status = 200
    name = "?"

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json", extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-upstream", self.name)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _info(self) -> bytes:
        return json.dumps({"name": self.name, "port": self.server.server_port, "method": self.command, "path": self.path,
                           "headers": [[k.lower(), v] for k, v in self.headers.items()]}).encode()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        p = url.path
        if p == "/health":
            self._send(Handler.health_status, b"ok" if Handler.health_status == 200 else b"sick", "text/plain")
        elif p.startswith("/_control/health/"):
            Handler.health_status = int(p.rsplit("/", 1)[1])
            self._send(204, b"")
        elif p.startswith("/_control/flaky/"):
            Handler.flaky_status = int(p.rsplit("/", 1)[1])
            self._send(204, b"")
        elif p == "/flaky":
            self._send(Handler.flaky_status, self._info())
        elif p == "/slow-head":
            time.sleep(int(q.get("ms", "1000")) / 1000)
            self._send(200, self._info())
        elif p == "/slow-body":
            # The head and the first `early` bytes at once, the rest after `ms`.
            size = int(q.get("size", "9"))
            early = int(q.get("early", "0"))
            body = b"late body" if size == 9 else b"y" * size
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.send_header("x-upstream", self.name)
            self.end_headers()
            self.wfile.write(body[:early])
            self.wfile.flush()
            time.sleep(int(q.get("ms", "1000")) / 1000)
            self.wfile.write(body[early:])
        elif p.startswith("/status/"):
            self._send(int(p.rsplit("/", 1)[1]), self._info())
        elif p == "/big":
            n = int(q.get("bytes", "1048576"))
            self.send_response(200)
            self.send_header("content-length", str(n))
            self.end_headers()
            chunk = b"x" * 65536
            while n > 0:
                self.wfile.write(chunk[: min(n, len(chunk))])
                n -= len(chunk)
        else:
            self._send(200, self._info())

    do_HEAD = do_GET
    do_DELETE = do_GET
    do_OPTIONS = do_GET

    def do_POST(self) -> None:
        digest = hashlib.sha256()
        total = 0
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data = self.rfile.read(size)
                digest.update(data)
                total += len(data)
                self.rfile.readline()
        else:
            n = int(self.headers.get("content-length") or 0)
            while n > 0:
                data = self.rfile.read(min(n, 65536))
                if not data:
                    break
                digest.update(data)
                total += len(data)
                n -= len(data)
        self._send(200, json.dumps({"name": self.name, "length": total, "sha256": digest.hexdigest(),
                                    "chunked": "transfer-encoding" in self.headers}).encode())

    do_PUT = do_POST


def serve_http(port: int, name: str) -> None:
    Handler.name = name
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def serve_ws(port: int, name: str) -> None:
    from websockets.sync.server import serve

    def echo(ws):  # type: ignore[no-untyped-def]
        req = ws.request
        ws.send("hello " + json.dumps({"path": req.path, "headers": [[k.lower(), v] for k, v in req.headers.raw_items()]}))
        for message in ws:
            ws.send(f"{name}:{message}")

    with serve(echo, "127.0.0.1", port) as server:
        server.serve_forever()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Upstream:
    """One upstream process on a fixed port; kill() and start() again to simulate a crash and recovery."""

    def __init__(self, name: str, ws: bool = False, port: int | None = None) -> None:
        self.name = name
        self.ws = ws
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> "Upstream":
        args = [sys.executable, str(HERE / "proxy_upstream.py"), str(self.port), self.name] + (["--ws"] if self.ws else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _accepts(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"upstream {self.name} did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> "Upstream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


if __name__ == "__main__":
    port_arg, name_arg = int(sys.argv[1]), sys.argv[2]
    if "--ws" in sys.argv:
        serve_ws(port_arg, name_arg)
    else:
        serve_http(port_arg, name_arg)
