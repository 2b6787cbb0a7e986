"""HTTP/1.1 fast lane (issue 8): anomaly serves simple requests straight from the socket and hands
the connection to node:http for anything else. Whichever path a request takes, and wherever the
switch happens in a connection, answers come back complete, in order, and nothing is lost.
"""
from __future__ import annotations

import json
import socket
import ssl
import time
from typing import Any

import pytest

BIG = bytes(range(256)) * 4096  # 1 MiB
CONFIG = {
    "log": {"format": "json", "level": "info", "access": False},
    "limits": {"idle_timeout": "2s"},
    "sites": [{"routes": [
        {"path": "/echo", "echo": {"body": True}},
        {"path": "/files/*", "static": {"root": "{root}/files"}},
        {"path": "/*", "respond": {"body": "ok\n"}},
    ]}],
}


@pytest.fixture(scope="module")
def server(anomaly_server_module) -> Any:
    return anomaly_server_module(CONFIG, files={"files/big.bin": BIG, "files/small.txt": "small\n"})


class Conn:
    """A raw HTTP/1.1 connection that reads answers one by one (Content-Length or chunked)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(5)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError(f"closed with {len(self.buf)} bytes unparsed: {self.buf[:200]!r}")
        self.buf += chunk

    def _take_until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(sep, 1)
        return head

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def answer(self, head_request: bool = False) -> tuple[int, dict[str, str], bytes]:
        lines = self._take_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        if head_request or status in (204, 304):
            return status, headers, b""
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int(self._take_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._take_until(b"\r\n")  # no trailers in these tests
                    return status, headers, body
                body += self._take(size)
                self._take(2)
        return status, headers, self._take(int(headers["content-length"]))

    def closed_by_server(self, wait: float) -> bool:
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def connect(server, tls: bool = False) -> Conn:
    if not tls:
        return Conn(socket.create_connection(("127.0.0.1", server.plain_port)))
    ctx = ssl.create_default_context(cafile=str(server.ca_path))
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", server.tls_port))
    return Conn(ctx.wrap_socket(raw, server_hostname="localhost"))


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n".encode()


def post(path: str, body: bytes) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_pipelined_requests_mixing_both_paths_are_answered_in_order(server, tls: bool) -> None:
    c = connect(server, tls)
    try:
        # Simple GETs, a POST whose body is all there (fast lane), a HEAD, then a chunked upload
        # (node:http from there on), then more simple requests after the switch.
        chunked = (b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3\r\nabc\r\n0\r\n\r\n")
        c.send(get("/a") + post("/echo", b"hello") + get("/files/small.txt") + get("/b") + chunked + get("/c") + post("/echo", b"x" * 10))
        status, _, body = c.answer()
        assert (status, body) == (200, b"ok\n")
        status, _, body = c.answer()
        assert status == 200 and json.loads(body)["body"] == "hello"
        assert c.answer()[2] == b"small\n"
        assert c.answer()[2] == b"ok\n"
        status, _, body = c.answer()
        assert status == 200 and json.loads(body)["body"] == "abc"
        assert c.answer()[2] == b"ok\n"
        assert json.loads(c.answer()[2])["body"] == "x" * 10
    finally:
        c.close()


def test_a_head_split_across_reads_is_served(server) -> None:
    c = connect(server)
    try:
        c.send(get("/first"))
        assert c.answer()[0] == 200
        c.send(b"GET /second HTTP/1.1\r\nHo")
        time.sleep(0.2)
        c.send(b"st: localhost\r\n\r\n")
        assert c.answer()[:1] == (200,)
        # A body that arrives after its head, too.
        c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\n\r\nab")
        time.sleep(0.2)
        c.send(b"cdef")
        assert json.loads(c.answer()[2])["body"] == "abcdef"
    finally:
        c.close()


def test_head_and_large_streamed_files_keep_the_connection_in_step(server) -> None:
    c = connect(server, tls=True)
    try:
        c.send(b"HEAD /files/big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n" + get("/files/big.bin") + get("/after"))
        status, headers, body = c.answer(head_request=True)
        assert status == 200 and headers["content-length"] == str(len(BIG)) and body == b""
        time.sleep(0.5)  # let the 1 MiB answer fill the socket buffers: the server must wait, not drop
        status, headers, body = c.answer()
        assert status == 200 and body == BIG
        assert c.answer()[2] == b"ok\n"
    finally:
        c.close()


def test_connection_close_and_idle_timeout(server) -> None:
    c = connect(server)
    try:
        c.send(get("/x", "Connection: close\r\n"))
        status, headers, _ = c.answer()
        assert status == 200 and headers["connection"] == "close"
        assert c.closed_by_server(2)
    finally:
        c.close()
    c = connect(server)
    try:
        c.send(get("/x"))
        status, headers, _ = c.answer()
        assert headers["connection"] == "keep-alive" and headers["keep-alive"] == "timeout=2"
        assert "date" in headers
        assert not c.closed_by_server(0.5)
        assert c.closed_by_server(4)  # idle_timeout 2s
    finally:
        c.close()


def test_a_client_that_stops_reading_does_not_hold_memory_or_other_clients(server) -> None:
    c = connect(server)
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # 200 pipelined 1 MiB answers that are never read.
        c.send(get("/files/big.bin") * 200)
        time.sleep(0.5)
        other = connect(server)
        try:
            other.send(get("/ok"))
            assert other.answer()[2] == b"ok\n"
        finally:
            other.close()
    finally:
        c.close()
