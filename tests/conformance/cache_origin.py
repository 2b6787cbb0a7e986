"""A scriptable origin server for the cache conformance tests (test_cache.py), run in a thread of the
test process so tests can read its request log directly.

Each path's answer is set from the test with ``origin.route(path, ...)``: status, Cache-Control, ETag,
Last-Modified, Vary, Expires, Set-Cookie, a delay before the head, a forced error status. Conditional
requests that match the ETag (If-None-Match) or Last-Modified (If-Modified-Since) get a 304. Bodies
are "<path> #<n>" where n counts the origin's full (non-304) answers for that path, so a test can
tell a cached body from a fresh one.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    fail: int | None = None
    drop: bool = False  # close the connection without answering (a dead origin, for the proxy)
    body: bytes | None = None
    vary_body: str | None = None  # request header echoed into the body (Vary tests)
    full: int = 0


class Origin:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[tuple[str, str, dict[str, str]]] = []  # (method, path, lower-case headers)
        self.lock = threading.Lock()
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                origin._handle(self)

            do_HEAD = do_GET
            do_POST = do_GET
            do_DELETE = do_GET

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def route(self, path: str, **kw: object) -> Route:
        r = Route(**kw)  # type: ignore[arg-type]
        self.routes[path] = r
        return r

    def requests(self, path: str, method: str | None = None) -> list[dict[str, str]]:
        with self.lock:
            return [h for (m, p, h) in self.log if p == path and (method is None or m == method)]

    def count(self, path: str) -> int:
        return len(self.requests(path))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        if length:
            h.rfile.read(length)
        path = h.path.split("?")[0]
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self.lock:
            self.log.append((h.command, path, headers))
        r = self.routes.get(path) or Route()
        if r.drop:
            h.close_connection = True
            return
        if r.delay:
            time.sleep(r.delay)
        status = r.fail or r.status
        out = dict(r.headers)  # (send_response adds Date and Server)
        if r.etag:
            out["etag"] = r.etag
        if r.last_modified:
            out["last-modified"] = r.last_modified
        not_modified = r.fail is None and (
            (r.etag is not None and headers.get("if-none-match") == r.etag)
            or (r.etag is None and r.last_modified is not None and headers.get("if-modified-since") == r.last_modified))
        if not_modified:
            h.send_response(304)
            for k, v in out.items():
                h.send_header(k, v)
            h.end_headers()
            return
        if r.fail is None:
            with self.lock:
                r.full += 1
        body = r.body if r.body is not None else f"{path} #{r.full}".encode()
        if r.vary_body:
            body += f" {r.vary_body}={headers.get(r.vary_body, '-')}".encode()
        h.send_response(status)
        for k, v in out.items():
            h.send_header(k, v)
        h.send_header("content-length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)


def port_accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0
