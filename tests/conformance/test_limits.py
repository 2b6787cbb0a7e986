"""Request and connection limits (issue 9): URI length 414, header size and count 431, connections
per client address, requests per connection — over HTTP/1.1 and HTTP/2.
"""
from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest

CONFIG = {
    "limits": {"max_uri": "1kb", "max_header_size": "4kb", "max_headers": 20,
               "max_connections_per_ip": 5, "max_requests_per_connection": 3},
    "sites": [{"routes": [{"path": "/*", "respond": {"body": "ok\n"}}]}],
}


@pytest.fixture(scope="module")
def server(anomaly_server_module) -> Any:
    return anomaly_server_module(CONFIG)


def raw_status(port: int, head: bytes) -> tuple[int | None, bool]:
    """Status of the answer to `head`, and whether the server then closed the connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(head)
        data = b""
        s.settimeout(1)
        closed = False
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    closed = True
                    break
                data += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
        return (int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else None), closed
    finally:
        s.close()


def test_uri_too_long_is_414_on_both_protocols(server) -> None:
    long_path = "/" + "a" * 1100
    assert raw_status(server.plain_port, f"GET {long_path} HTTP/1.1\r\nHost: a\r\n\r\n".encode()) == (414, True)
    assert raw_status(server.plain_port, f"GET /{'a' * 900} HTTP/1.1\r\nHost: a\r\n\r\n".encode())[0] == 200
    with httpx.Client(http2=True, verify=str(server.ca_path)) as c:
        r = c.get(server.tls_url + long_path)
        assert r.http_version == "HTTP/2" and r.status_code == 414


def test_header_fields_too_large_or_too_many_are_431(server) -> None:
    big = b"X-Big: " + b"b" * 5000 + b"\r\n"
    assert raw_status(server.plain_port, b"GET / HTTP/1.1\r\nHost: a\r\n" + big + b"\r\n") == (431, True)
    many = b"".join(f"X-{i}: v\r\n".encode() for i in range(25))
    assert raw_status(server.plain_port, b"GET / HTTP/1.1\r\nHost: a\r\n" + many + b"\r\n") == (431, True)
    # A long URI does not eat into the header budget, nor the reverse.
    ok = b"X-Fine: " + b"f" * 3000 + b"\r\n"
    assert raw_status(server.plain_port, f"GET /{'a' * 900} HTTP/1.1\r\nHost: a\r\n".encode() + ok + b"\r\n")[0] == 200


def test_requests_per_connection(server) -> None:
    # HTTP/1.1: the third answer says "connection: close" and the connection ends.
    s = socket.create_connection(("127.0.0.1", server.plain_port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 3)
    data = b""
    s.settimeout(2)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pytest.fail(f"the connection stayed open after 3 requests: {data!r}")
    s.close()
    assert data.count(b"HTTP/1.1 200") == 3
    assert data.lower().count(b"connection: close") == 1
    # HTTP/2: GOAWAY after the third stream; httpx opens a new connection and every request succeeds.
    with httpx.Client(http2=True, verify=str(server.ca_path)) as c:
        assert [c.get(server.tls_url + "/").status_code for _ in range(7)] == [200] * 7


def test_connections_per_client_address(server) -> None:
    held = []
    try:
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", server.plain_port), timeout=5)
            # A plain connection counts once it has sent its first bytes (before, it is only being sniffed).
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert s.recv(1000).startswith(b"HTTP/1.1 200")
            held.append(s)
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", server.plain_port), timeout=5)
        extra.settimeout(2)
        try:
            extra.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            refused = extra.recv(100) == b""
        except (ConnectionResetError, BrokenPipeError):
            refused = True
        extra.close()
        assert refused, "a sixth connection from the same address was served"
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    assert raw_status(server.plain_port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")[0] == 200
