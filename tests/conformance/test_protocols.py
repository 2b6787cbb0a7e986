"""Protocols and core server behaviour, checked with real clients: httpx (h1, h2), the h2 library
over a raw socket (h2c), Python's ssl (ALPN, SNI) and curl."""
from __future__ import annotations

import socket
import ssl
import subprocess
import time
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpx
import pytest

from conftest import AnomalyServer, require_tool, ssl_context

HELLO = "hello\n"

# Sites: exact names, a wildcard, an exact name under the wildcard, and a default site.
CONFIG: dict[str, Any] = {
    "limits": {"drain_timeout": "2s"},
    "sites": [
        {"hosts": ["a.test"], "routes": [{"path": "/*", "respond": {"body": "site a\n"}}]},
        {"hosts": ["*.wild.test"], "routes": [{"path": "/*", "respond": {"body": "wildcard\n"}}]},
        {"hosts": ["exact.wild.test"], "routes": [{"path": "/*", "respond": {"body": "exact\n"}}]},
        {"hosts": ["small.test"], "limits": {"max_body": "1kb"},
         "routes": [{"path": "/upload", "respond": {"status": 201, "body": "accepted\n"}}]},
        {
            "routes": [
                {"path": "/hello", "respond": {"status": 200, "body": HELLO, "headers": {"content-type": "text/plain", "x-route": "hello"}}},
                {"path": "/only-get", "methods": ["GET"], "respond": {"body": "got\n"}},
                {"path": "/users/:id", "respond": {"body": "user\n"}},
                {"path": "/files/*rest", "respond": {"body": "files\n"}},
                {"path": "/old/*", "redirect": {"to": "/new{path}{query}", "status": 301}},
                {"path": "/elsewhere", "redirect": {"to": "https://example.com/"}},
            ]
        },
    ],
}


@pytest.fixture(scope="module")
def srv(anomaly_server_module) -> AnomalyServer:
    return anomaly_server_module(CONFIG)


def client(server: AnomalyServer, http2: bool = False, **kw: Any) -> httpx.Client:
    return httpx.Client(verify=ssl_context(server.ca_path), http2=http2, timeout=10, **kw)


# ------------------------------------------------------------------------------------------- h2c

def h2_request(sock: socket.socket, authority: str, path: str, method: str = "GET", scheme: str = "http",
               extra: list[tuple[str, str]] | None = None) -> tuple[dict[str, str], bytes]:
    """One request on a fresh HTTP/2 connection over an already-connected socket (prior knowledge)."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    stream_id = conn.get_next_available_stream_id()
    headers = [(":method", method), (":scheme", scheme), (":authority", authority), (":path", path), *(extra or [])]
    conn.send_headers(stream_id, headers, end_stream=True)
    sock.sendall(conn.data_to_send())
    response: dict[str, str] = {}
    body = b""
    ended = False
    while not ended:
        data = sock.recv(65536)
        if not data:
            raise AssertionError(f"connection closed before the response ended (got headers {response})")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                response = dict(event.headers)  # type: ignore[arg-type]
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                ended = True
            elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                raise AssertionError(f"stream failed: {event}")
        pending = conn.data_to_send()
        if pending:
            sock.sendall(pending)
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    return response, body


# -------------------------------------------------------------------------------- basic protocols

def test_http1_over_tls(srv: AnomalyServer) -> None:
    with client(srv) as c:
        r = c.get(f"{srv.tls_url}/hello")
    assert r.http_version == "HTTP/1.1"
    assert r.status_code == 200
    assert r.text == HELLO
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-route"] == "hello"


def test_http2_over_tls(srv: AnomalyServer) -> None:
    with client(srv, http2=True) as c:
        r = c.get(f"{srv.tls_url}/hello")
        r2 = c.get(f"{srv.tls_url}/hello")  # second request on the same connection
    assert r.http_version == "HTTP/2"
    assert r.status_code == 200 and r.text == HELLO
    assert r2.status_code == 200 and r2.text == HELLO


def test_http1_plain(srv: AnomalyServer) -> None:
    with httpx.Client(timeout=10) as c:
        r = c.get(f"{srv.plain_url}/hello")
        r2 = c.get(f"{srv.plain_url}/hello")  # keep-alive reuse
    assert r.http_version == "HTTP/1.1"
    assert r.status_code == 200 and r.text == HELLO
    assert r2.status_code == 200


def test_h2c_prior_knowledge(srv: AnomalyServer) -> None:
    with socket.create_connection(("127.0.0.1", srv.plain_port), timeout=10) as sock:
        headers, body = h2_request(sock, f"127.0.0.1:{srv.plain_port}", "/hello")
    assert headers[":status"] == "200"
    assert body == HELLO.encode()
    assert headers.get("x-route") == "hello"


def test_http2_with_h2_library_over_tls(srv: AnomalyServer) -> None:
    ctx = ssl_context(srv.ca_path, alpn=["h2"])
    with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "h2"
            headers, body = h2_request(tls, "localhost", "/hello", scheme="https")
    assert headers[":status"] == "200" and body == HELLO.encode()


@pytest.mark.parametrize(("offered", "expected"), [
    (["h2", "http/1.1"], "h2"),
    (["http/1.1", "h2"], "h2"),
    (["h2"], "h2"),
    (["http/1.1"], "http/1.1"),
])
def test_alpn(srv: AnomalyServer, offered: list[str], expected: str) -> None:
    ctx = ssl_context(srv.ca_path, alpn=offered)
    with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == expected
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_no_alpn_means_http1(srv: AnomalyServer) -> None:
    ctx = ssl_context(srv.ca_path)
    with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() is None
            tls.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert data.endswith(HELLO.encode())


@pytest.mark.parametrize("name", ["localhost", "a.test", "exact.wild.test", "x.wild.test", "small.test"])
def test_sni_certificate_verifies_with_local_ca(srv: AnomalyServer, name: str) -> None:
    """The certificate served for each configured name chains to the local CA and covers the name."""
    ctx = ssl_context(srv.ca_path, alpn=["h2", "http/1.1"])  # check_hostname=True
    with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as tls:
            cert = tls.getpeercert()
    assert cert, "no peer certificate"


def test_ip_address_certificate(srv: AnomalyServer) -> None:
    """https://127.0.0.1:PORT/ (no SNI) verifies: the default certificate covers the loopback address."""
    with client(srv) as c:
        assert c.get(f"{srv.tls_url}/hello").status_code == 200


@pytest.mark.parametrize("version_flag,expected", [("--http1.1", "1.1"), ("--http2", "2")])
def test_curl(srv: AnomalyServer, version_flag: str, expected: str) -> None:
    curl = require_tool("curl")
    out = subprocess.run(
        [curl, "-sS", version_flag, "--cacert", str(srv.ca_path), "-w", "\\n%{http_version} %{http_code}",
         f"https://localhost:{srv.tls_port}/hello"],
        capture_output=True, text=True, timeout=20,
    )
    assert out.returncode == 0, out.stderr
    body, _, meta = out.stdout.rpartition("\n")
    assert body == HELLO
    assert meta == f"{expected} 200"


def test_curl_h2c_prior_knowledge(srv: AnomalyServer) -> None:
    curl = require_tool("curl")
    out = subprocess.run(
        [curl, "-sS", "--http2-prior-knowledge", "-w", "\\n%{http_version} %{http_code}", f"{srv.plain_url}/hello"],
        capture_output=True, text=True, timeout=20,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("\n2 200")


# ----------------------------------------------------------------------------------- routing

@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_unknown_path_404(srv: AnomalyServer, http2: bool) -> None:
    with client(srv, http2=http2) as c:
        r = c.get(f"{srv.tls_url}/no/such/path")
    assert r.status_code == 404


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_method_not_allowed(srv: AnomalyServer, http2: bool) -> None:
    with client(srv, http2=http2) as c:
        ok = c.get(f"{srv.tls_url}/only-get")
        r = c.post(f"{srv.tls_url}/only-get", content=b"x")
        d = c.delete(f"{srv.tls_url}/only-get")
    assert ok.status_code == 200 and ok.text == "got\n"
    assert r.status_code == 405
    assert d.status_code == 405
    allow = [m.strip() for m in r.headers.get("allow", "").split(",")]
    assert "GET" in allow, f"allow header: {r.headers.get('allow')!r}"
    assert "POST" not in allow


@pytest.mark.parametrize(("host", "expected"), [
    ("a.test", "site a\n"),
    ("A.TEST", "site a\n"),               # host names are case-insensitive
    ("a.test:1234", "site a\n"),          # the port is ignored
    ("x.wild.test", "wildcard\n"),
    ("exact.wild.test", "exact\n"),       # exact beats wildcard, whatever the order in the file
    ("a.b.wild.test", None),              # a wildcard is one label only -> default site
    ("wild.test", None),
    ("unknown.test", None),
])
def test_virtual_hosts_plain(srv: AnomalyServer, host: str, expected: str | None) -> None:
    with httpx.Client(timeout=10) as c:
        r = c.get(f"{srv.plain_url}/hello", headers={"host": host})
    if expected is None:  # default site
        assert r.status_code == 200 and r.text == HELLO
    else:
        assert r.status_code == 200 and r.text == expected


@pytest.mark.parametrize(("host", "expected"), [("a.test", "site a\n"), ("x.wild.test", "wildcard\n"), ("localhost", HELLO)])
def test_virtual_hosts_h2_tls(srv: AnomalyServer, host: str, expected: str) -> None:
    """Over HTTP/2 the site comes from :authority; SNI names the same host."""
    with client(srv, http2=True) as c:
        # Connect to 127.0.0.1, but send SNI and :authority (httpcore takes it from Host) for `host`.
        r = c.get(f"{srv.tls_url}/hello", extensions={"sni_hostname": host}, headers={"host": f"{host}:{srv.tls_port}"})
    assert r.http_version == "HTTP/2"
    assert r.status_code == 200 and r.text == expected


def test_no_default_site_gives_404(anomaly_server) -> None:
    s = anomaly_server({"sites": [{"hosts": ["only.test"], "routes": [{"path": "/*", "respond": {"body": "only\n"}}]}]})
    with httpx.Client(timeout=10) as c:
        assert c.get(f"{s.plain_url}/", headers={"host": "only.test"}).text == "only\n"
        assert c.get(f"{s.plain_url}/", headers={"host": "other.test"}).status_code == 404


@pytest.mark.parametrize(("path", "status", "body"), [
    ("/users/42", 200, "user\n"),
    ("/users/a%20b", 200, "user\n"),
    ("/users/42/more", 404, None),       # ":id" is one segment
    ("/files", 200, "files\n"),          # "/files/*rest" matches the bare prefix too
    ("/files/", 200, "files\n"),
    ("/files/a/b/c.txt", 200, "files\n"),
    ("/filesystem", 404, None),          # a prefix match is per segment, not per character
])
def test_route_params(srv: AnomalyServer, path: str, status: int, body: str | None) -> None:
    with httpx.Client(timeout=10) as c:
        r = c.get(f"{srv.plain_url}{path}")
    assert r.status_code == status
    if body is not None:
        assert r.text == body


def test_redirect_placeholders(srv: AnomalyServer) -> None:
    with httpx.Client(timeout=10, follow_redirects=False) as c:
        r = c.get(f"{srv.plain_url}/old/page.html?x=1&y=2")
        plain = c.get(f"{srv.plain_url}/elsewhere")
    assert r.status_code == 301
    assert r.headers["location"] == "/new/old/page.html?x=1&y=2"
    assert plain.status_code == 302
    assert plain.headers["location"] == "https://example.com/"


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_head_has_no_body(srv: AnomalyServer, http2: bool) -> None:
    with client(srv, http2=http2) as c:
        r = c.head(f"{srv.tls_url}/hello")
        g = c.get(f"{srv.tls_url}/hello")  # the connection is still usable afterwards
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers.get("content-length") in (None, str(len(HELLO)))
    assert g.text == HELLO


def test_head_has_no_body_raw_http1(srv: AnomalyServer) -> None:
    """On the wire: after a HEAD response the next response starts right away (no stray body bytes)."""
    with socket.create_connection(("127.0.0.1", srv.plain_port), timeout=10) as s:
        s.sendall(b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    first, sep, rest = data.partition(b"\r\n\r\n")
    assert sep and first.startswith(b"HTTP/1.1 200")
    assert rest.startswith(b"HTTP/1.1 200"), f"bytes after the HEAD response head: {rest[:80]!r}"


# ---------------------------------------------------------------------------------- access log

def test_access_log_one_json_line_per_request(anomaly_server) -> None:
    s = anomaly_server(CONFIG)
    with client(s) as c1:
        assert c1.get(f"{s.tls_url}/hello?q=1").status_code == 200
    with client(s, http2=True) as c2:
        assert c2.get(f"{s.tls_url}/no-such-thing").status_code == 404
    with httpx.Client(timeout=10) as c3:
        assert c3.post(f"{s.plain_url}/hello", content=b"abc", headers={"host": "a.test"}).status_code == 200
    s.wait_for_log(lambda l: len(s.access_log()) >= 3, timeout=5)
    time.sleep(0.3)  # any duplicate line would show up by now
    lines = s.access_log()
    assert len(lines) == 3, lines
    required = {"host", "method", "path", "status", "bytes", "duration", "protocol", "remote"}
    for line in lines:
        missing = required - line.keys()
        assert not missing, f"access log line lacks {missing}: {line}"
        assert isinstance(line["duration"], (int, float)) and line["duration"] >= 0
        assert isinstance(line["bytes"], int) and line["bytes"] >= 0
        assert "127.0.0.1" in str(line["remote"])
    h1, h2_, plain = lines
    assert (h1["method"], h1["path"], h1["status"], h1["protocol"]) == ("GET", "/hello", 200, "h1")
    assert h1["bytes"] == len(HELLO)
    assert (h2_["method"], h2_["path"], h2_["status"], h2_["protocol"]) == ("GET", "/no-such-thing", 404, "h2")
    assert (plain["method"], plain["status"], plain["protocol"], plain["host"]) == ("POST", 200, "h1", "a.test")


# ------------------------------------------------------------------------------------- limits

@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
def test_body_over_max_body_gets_413(srv: AnomalyServer, http2: bool) -> None:
    """small.test has max_body 1kb: a declared Content-Length above it is refused before the handler."""
    with client(srv, http2=http2) as c:
        via = {"extensions": {"sni_hostname": "small.test"}, "headers": {"host": "small.test"}}
        small = c.post(f"{srv.tls_url}/upload", content=b"x" * 512, **via)
        big = c.post(f"{srv.tls_url}/upload", content=b"x" * 4096, **via)
    assert small.status_code == 201
    assert big.status_code == 413


def test_body_over_max_body_plain(srv: AnomalyServer) -> None:
    with httpx.Client(timeout=10) as c:
        big = c.post(f"{srv.plain_url}/upload", content=b"x" * 4096, headers={"host": "small.test"})
    assert big.status_code == 413


def test_chunked_body_over_max_body(anomaly_server) -> None:
    """A chunked body has no Content-Length to reject up front: the limit applies while the handler
    reads it (echo reads bodies). Over HTTP/1.1 the answer is 413 and the connection is closed."""
    s = anomaly_server({"limits": {"max_body": "1kb"}, "sites": [{"routes": [{"path": "/echo", "echo": {}}]}]})
    body = b"a" * 4096
    # (A body that has fully arrived leaves the connection usable, so ask for the close to read to EOF.)
    request = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    answer = _raw_http1(s.plain_port, request)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # Under the limit the same route answers with what it read.
    small = b"hello"
    ok = _raw_http1(s.plain_port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    + b"5\r\n" + small + b"\r\n0\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200"), ok[:200]
    assert b'"bodyLength":5' in ok
    # HTTP/2: the stream gets 413, the connection keeps working.
    with client(s, http2=True) as c:
        r = c.post(f"{s.tls_url}/echo", content=iter([body]))
        assert r.status_code == 413
        assert c.post(f"{s.tls_url}/echo", content=b"ok").json()["bodyLength"] == 2


def _raw_http1(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return data


def test_oversized_header_block_gets_431(srv: AnomalyServer) -> None:
    """Default max_header_size is 16kb: a 32 KiB header block gets 431, a 4 KiB one is fine."""
    ok = _raw_http1(srv.plain_port, b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4096 + b"\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200"), ok[:100]
    big = _raw_http1(srv.plain_port, b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 32768 + b"\r\nConnection: close\r\n\r\n")
    assert big.startswith(b"HTTP/1.1 431"), big[:100]


def test_oversized_header_block_over_tls_gets_431(srv: AnomalyServer) -> None:
    with client(srv) as c:
        r = c.get(f"{srv.tls_url}/hello", headers={"x-big": "a" * 32768})
    assert r.status_code == 431


LOW_HEADER_LIMITS = {"limits": {"max_header_size": "4kb", "max_headers": 20},
                     "sites": [{"routes": [{"path": "/*", "respond": {"body": "ok\n"}}]}]}


def test_configured_max_header_size_and_count_http1(anomaly_server) -> None:
    s = anomaly_server(LOW_HEADER_LIMITS)
    with httpx.Client(timeout=10) as c:
        assert c.get(f"{s.plain_url}/", headers={"x-a": "a" * 1024}).status_code == 200
        assert c.get(f"{s.plain_url}/", headers={"x-a": "a" * 6000}).status_code == 431
        assert c.get(f"{s.plain_url}/", headers={f"x-h{i}": "v" for i in range(40)}).status_code == 431


@pytest.mark.parametrize("first", [True, False], ids=["first-request", "after-settings"])
@pytest.mark.parametrize("what", ["size", "count"])
def test_configured_max_header_size_and_count_http2(anomaly_server, what: str, first: bool) -> None:
    """Over HTTP/2 the same limits apply: 431, or a stream/connection error (both keep the handler
    from running; a 200 means the limit was ignored). "first-request" sends the oversized request
    before the client has seen the server's SETTINGS, as real clients do."""
    s = anomaly_server(LOW_HEADER_LIMITS)
    headers = {"x-a": "a" * 6000} if what == "size" else {f"x-h{i}": "v" for i in range(40)}
    with client(s, http2=True) as c:
        if not first:
            assert c.get(f"{s.tls_url}/", headers={"x-a": "a" * 1024}).status_code == 200
        try:
            r = c.get(f"{s.tls_url}/", headers=headers)
        except httpx.HTTPError:
            return  # refused at the protocol level (RST_STREAM / GOAWAY): acceptable
    assert r.status_code == 431, f"HTTP/2 request over the {what} limit answered {r.status_code}"


# -------------------------------------------------------------------------------------- drain

def test_sigterm_drains_and_exits_zero(anomaly_server) -> None:
    s = anomaly_server(CONFIG)  # drain_timeout 2s
    # Idle keep-alive connections (h1 and h2) must not hold the shutdown up.
    c1, c2 = client(s), client(s, http2=True)
    try:
        assert c1.get(f"{s.tls_url}/hello").status_code == 200
        assert c2.get(f"{s.tls_url}/hello").status_code == 200
        t0 = time.monotonic()
        code = s.stop(timeout=2 + 5)
        elapsed = time.monotonic() - t0
    finally:
        c1.close()
        c2.close()
    assert code == 0, f"exit code {code}\n{s.describe()}"
    assert elapsed < 2 + 2, f"took {elapsed:.1f}s to exit with only idle connections"
    for port in (s.tls_port, s.plain_port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_sigterm_lets_in_flight_download_finish(anomaly_server) -> None:
    """A slow reader of a big static file keeps its response through the drain."""
    size = 8 * 1024 * 1024
    payload = bytes(range(256)) * (size // 256)
    s = anomaly_server({"limits": {"drain_timeout": "10s"},
                        "sites": [{"routes": [{"path": "/*", "static": {"root": "{root}", "compress": False}}]}]},
                       files={"big.bin": payload})
    with socket.create_connection(("127.0.0.1", s.plain_port), timeout=15) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        data = sock.recv(4096)
        assert data.startswith(b"HTTP/1.1 200"), data[:100]
        assert s.proc is not None
        s.terminate()
        time.sleep(0.5)
        # New connections are refused while draining.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", s.plain_port), timeout=1).close()
        while chunk := sock.recv(1 << 20):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert len(body) == size, f"got {len(body)} of {size} body bytes"
    assert body == payload
    assert s.stop(timeout=10) == 0


def test_h2_head_node_refuses_is_a_500_not_a_hang(anomaly_server) -> None:
    """A single-value field given twice (two Date values from an app or an upstream): node's
    http2 refuses the head. The client gets a 500 instead of a stream that never starts."""
    app = "export default () => ({ status: 200, headers: [['date', 'Mon, 01 Jan 2024 00:00:00 GMT'], ['date', 'Tue, 02 Jan 2024 00:00:00 GMT']], body: 'x' });\n"
    server = anomaly_server({"sites": [{"routes": [{"path": "/*", "app": {"file": "{root}/app.js"}}]}]}, files={"app.js": app})
    with httpx.Client(http2=True, verify=str(server.ca_path), timeout=5) as client:
        r = client.get(server.tls_url + "/")
        assert r.http_version == "HTTP/2"
        assert r.status_code == 500
        assert client.get(server.tls_url + "/").status_code == 500  # and the connection still works
