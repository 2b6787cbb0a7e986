"""The reverse proxy (docs/proxy.md) against real upstream processes (proxy_upstream.py):
forwarding headers, streaming both ways, strip_prefix, timeouts, retries and failover, passive
ejection and return, active health checks, connection limits, WebSocket pass-through, and the
502/503/504 answers with their log lines.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from typing import Any, Iterator

import httpx
import pytest

from conftest import AnomalyServer, run_anomaly
from proxy_upstream import Upstream


def info(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    return r.json()


def header(data: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in data["headers"] if k == name]


@pytest.fixture
def upstreams() -> Iterator[list[Upstream]]:
    started: list[Upstream] = []
    yield started
    for u in started:
        u.kill()


def start(upstreams: list[Upstream], *names: str, ws: bool = False) -> list[Upstream]:
    new = [Upstream(n, ws=ws) for n in names]
    upstreams.extend(new)
    return new


def client(srv: AnomalyServer, timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(base_url=srv.plain_url, timeout=timeout)


def log_has(srv: AnomalyServer, msg: str) -> list[dict[str, Any]]:
    return [l for l in srv.log_lines() if isinstance(l, dict) and l.get("msg") == msg]


# ------------------------------------------------------------------------------ headers and paths

def test_forwarding_headers_via_and_hop_by_hop(anomaly_server, upstreams) -> None:
    (a,) = start(upstreams, "a")
    srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {"to": [a.url], "forwarded": True}}]}]})
    with client(srv) as c:
        r = c.get("/x?y=1", headers={"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6", "Connection": "x-drop", "X-Drop": "1",
                                      "TE": "trailers", "Via": "1.0 edge"})
        data = info(r)
    assert data["path"] == "/x?y=1"
    assert header(data, "x-forwarded-for") == ["127.0.0.1"], "an untrusted client's X-Forwarded-For is replaced"
    assert header(data, "x-forwarded-proto") == ["http"]
    assert header(data, "x-forwarded-host") == [f"127.0.0.1:{srv.plain_port}"]
    assert header(data, "forwarded") == [f'for=127.0.0.1;host="127.0.0.1:{srv.plain_port}";proto=http']
    assert header(data, "via") == ["1.0 edge, 1.1 anomaly"]
    assert header(data, "host") == [f"127.0.0.1:{srv.plain_port}"], "Host is preserved by default"
    assert header(data, "x-drop") == [] and header(data, "te") == []
    assert r.headers["via"] == "1.1 anomaly"
    assert r.headers["x-upstream"] == "a"


def test_trusted_proxy_chain_is_extended(anomaly_server, upstreams) -> None:
    (a,) = start(upstreams, "a")
    srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {"to": a.url, "trusted_proxies": ["127.0.0.0/8"], "forwarded": True}}]}]})
    with client(srv) as c:
        data = info(c.get("/", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "Forwarded": "for=203.0.113.9;proto=https"}))
    assert header(data, "x-forwarded-for") == ["203.0.113.9, 127.0.0.1"]
    assert header(data, "x-forwarded-proto") == ["https"]
    assert header(data, "forwarded")[0].startswith("for=203.0.113.9;proto=https, for=127.0.0.1")


def test_strip_prefix_base_path_and_header_rewrites(anomaly_server, upstreams) -> None:
    (a,) = start(upstreams, "a")
    srv = anomaly_server({"sites": [{"routes": [{
        "path": "/api/*",
        "proxy": {"to": f"{a.url}/v2", "strip_prefix": "/api", "host": "upstream",
                  "request_headers": {"set": {"X-Env": "test"}, "remove": ["Cookie"]},
                  "response_headers": {"set": {"X-Proxy": "anomaly"}, "remove": ["Server"]}},
    }]}]})
    with client(srv) as c:
        r = c.get("/api/users/7?full=1", headers={"Cookie": "secret=1"})
        data = info(r)
    assert data["path"] == "/v2/users/7?full=1"
    assert header(data, "host") == [f"127.0.0.1:{a.port}"]
    assert header(data, "x-env") == ["test"] and header(data, "cookie") == []
    assert r.headers["x-proxy"] == "anomaly" and "server" not in r.headers


# ------------------------------------------------------------------------------------- streaming

def test_request_and_response_bodies_stream(anomaly_server, upstreams) -> None:
    (a,) = start(upstreams, "a")
    srv = anomaly_server({"limits": {"max_body": "64mb"}, "sites": [{"routes": [{"path": "/*", "proxy": {"to": a.url}}]}]})
    payload = os.urandom(8 * 1024 * 1024)
    with client(srv, timeout=30) as c:
        r = c.post("/upload", content=payload)
        assert r.json() == {"name": "a", "length": len(payload), "sha256": hashlib.sha256(payload).hexdigest(), "chunked": False}

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(payload), 100_000):
                yield payload[i:i + 100_000]

        r = c.post("/upload", content=chunks())
        assert r.json()["length"] == len(payload) and r.json()["chunked"] is True
        assert r.json()["sha256"] == hashlib.sha256(payload).hexdigest()
        r = c.get("/big", params={"bytes": str(20 * 1024 * 1024)})
        assert r.status_code == 200 and len(r.content) == 20 * 1024 * 1024


def test_streamed_upload_over_max_body_is_a_413(anomaly_server, upstreams) -> None:
    (a,) = start(upstreams, "a")
    srv = anomaly_server({"limits": {"max_body": "200kb"}, "sites": [{"routes": [{"path": "/*", "proxy": {"to": a.url}}]}]})

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"z" * 65536

    with client(srv) as c:
        try:
            r = c.post("/upload", content=chunks())
            assert r.status_code == 413
        except httpx.HTTPError:
            pass  # the server may close before the client finished sending: also a refusal
        assert c.post("/upload", content=b"z" * 1000).json()["length"] == 1000
        assert c.post("/upload", content=b"z" * 300_000).status_code == 413  # declared length: refused up front
    assert not log_has(srv, "upstream target ejected")


# ----------------------------------------------------------------------------------- failures

def test_dead_upstream_is_a_clean_502_with_a_log_line(anomaly_server) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {"to": dead}}]}]})
    with client(srv) as c:
        r = c.get("/anything")
    assert r.status_code == 502
    assert r.text == "502 Bad Gateway: upstream unreachable\n"
    line = srv.wait_for_log(lambda l: l["msg"] == "upstream request failed")
    assert line["code"] == "ECONNREFUSED" and line["path"] == "/anything"


def test_slow_first_byte_is_a_504(anomaly_server, upstreams) -> None:
    (a,) = start(upstreams, "a")
    srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {"to": a.url, "timeouts": {"first_byte": "300ms"}}}]}]})
    with client(srv) as c:
        t0 = time.monotonic()
        r = c.get("/slow-head", params={"ms": "3000"})
        elapsed = time.monotonic() - t0
        assert r.status_code == 504 and r.text == "504 Gateway Timeout: upstream timed out\n"
        assert elapsed < 2.5
        assert c.get("/slow-head", params={"ms": "50"}).status_code == 200
    srv.wait_for_log(lambda l: l["msg"] == "upstream timed out")


def test_idle_upstream_body_ends_the_response_instead_of_hanging(anomaly_server, upstreams) -> None:
    (a,) = start(upstreams, "a")
    srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {"to": a.url, "timeouts": {"idle": "300ms"}}}]}]})
    with client(srv) as c:
        # A small answer is read whole before the client gets it: a stalled one becomes a 504.
        t0 = time.monotonic()
        r = c.get("/slow-body", params={"ms": "3000"})
        assert r.status_code == 504 and time.monotonic() - t0 < 2.5
        # A large one streams: the client has the head already, so the connection is cut.
        t0 = time.monotonic()
        with pytest.raises(httpx.HTTPError):
            c.get("/slow-body", params={"ms": "3000", "size": "200000", "early": "100000"})
        assert time.monotonic() - t0 < 2.5
        assert c.get("/slow-body", params={"ms": "10"}).text == "late body"
        assert len(c.get("/slow-body", params={"ms": "10", "size": "200000", "early": "100000"}).content) == 200000


def test_connect_timeout_is_a_504(anomaly_server) -> None:
    # A listener whose accept queue is full drops SYNs: connecting to it hangs.
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    port = blackhole.getsockname()[1]
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        try:
            f.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(f)
    try:
        srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {"to": f"http://127.0.0.1:{port}", "timeouts": {"connect": "300ms"}}}]}]})
        with client(srv) as c:
            t0 = time.monotonic()
            r = c.get("/")
            assert r.status_code == 504 and r.text == "504 Gateway Timeout: upstream timed out\n"
            assert time.monotonic() - t0 < 3
        line = srv.wait_for_log(lambda l: l["msg"] == "upstream timed out")
        assert line["code"] == "UND_ERR_CONNECT_TIMEOUT"
    finally:
        for f in fillers:
            f.close()
        blackhole.close()


def test_https_upstream_with_a_private_ca(anomaly_server) -> None:
    upstream = anomaly_server({"sites": [{"routes": [{"path": "/*", "respond": {"body": "secure hello"}}]}]})
    url = f"https://127.0.0.1:{upstream.tls_port}"
    srv = anomaly_server({"sites": [{"routes": [
        {"path": "/ok/*", "proxy": {"to": url, "strip_prefix": "/ok", "tls": {"ca": str(upstream.ca_path), "servername": "localhost"}}},
        {"path": "/untrusted/*", "proxy": {"to": url}},
    ]}]})
    with client(srv) as c:
        r = c.get("/ok/x")
        assert r.status_code == 200 and r.text == "secure hello"
        assert c.get("/untrusted/x").status_code == 502, "an unknown CA is refused by default"


def test_retries_go_to_another_target_on_connect_failure_and_chosen_5xx(anomaly_server, upstreams) -> None:
    a, b = start(upstreams, "a", "b")
    dead = f"http://127.0.0.1:{_closed_port()}"
    srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {
        "to": [dead, a.url, b.url], "retry": {"attempts": 3, "statuses": [503]}, "health": {"passive": {"fails": 1000}}}}]}]})
    with client(srv) as c:
        for _ in range(9):
            assert c.get("/").status_code == 200
        # A POST whose connection was refused never reached anyone: it is retried too.
        for _ in range(3):
            assert c.post("/p", content=b"abc").json()["length"] == 3
        assert c.get(f"{a.url}/_control/flaky/503").status_code == 204
        names = {info(c.get("/flaky"))["name"] for _ in range(8)}
        assert names == {"b"}, "a's 503 was retried on b"


def test_failover_ejection_and_return(anomaly_server, upstreams) -> None:
    a, b = start(upstreams, "a", "b")
    srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {
        "to": [a.url, b.url], "health": {"passive": {"fails": 2, "window": "5s", "eject_for": "1s"}}}}]}]})
    with client(srv) as c:
        assert {info(c.get("/"))["name"] for _ in range(4)} == {"a", "b"}
        b.kill()
        assert [c.get("/").status_code for _ in range(10)] == [200] * 10, "the retry hides the dead target"
        line = srv.wait_for_log(lambda l: l["msg"] == "upstream target ejected")
        assert line["target"] == b.url
        b.start()
        time.sleep(1.2)
        assert "b" in {info(c.get("/"))["name"] for _ in range(6)}, "b is back after eject_for"


def test_active_health_checks_take_a_target_out_and_back(anomaly_server, upstreams) -> None:
    a, b = start(upstreams, "a", "b")
    srv = anomaly_server({
        "upstreams": {"app": {"to": [a.url, b.url], "health": {"active": {"path": "/health", "interval": "200ms", "healthy": 2, "unhealthy": 2, "expect_status": 200}}}},
        "sites": [{"routes": [{"path": "/one/*", "proxy": {"upstream": "app", "strip_prefix": "/one"}},
                              {"path": "/two/*", "proxy": {"upstream": "app", "strip_prefix": "/two"}}]}],
    })
    with client(srv) as c:
        c.get(f"{a.url}/_control/health/503")
        srv.wait_for_log(lambda l: l["msg"].endswith("down") and l["target"] == a.url, timeout=5)
        assert {info(c.get(f"/{p}/"))["name"] for p in ("one", "two") for _ in range(4)} == {"b"}
        # one group shared by both routes: a single down line, not one per route
        assert len([l for l in log_has(srv, "upstream target failed its health check: down") if l["target"] == a.url]) == 1
        c.get(f"{a.url}/_control/health/200")
        srv.wait_for_log(lambda l: l["msg"].endswith(": up") and l["target"] == a.url, timeout=5)
        assert "a" in {info(c.get("/one/"))["name"] for _ in range(6)}


def test_connection_limit_sheds_load_with_503(anomaly_server, upstreams) -> None:
    (a,) = start(upstreams, "a")
    srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {"to": [{"url": a.url, "max_conns": 1}]}}]}]})
    results: list[int] = []

    def slow() -> None:
        with client(srv) as c:
            results.append(c.get("/slow-head", params={"ms": "1000"}).status_code)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    with client(srv) as c:
        r = c.get("/")
    t.join()
    assert r.status_code == 503 and r.text == "503 Service Unavailable: no upstream available\n"
    assert results == [200]


def test_hash_policy_is_sticky_per_header(anomaly_server, upstreams) -> None:
    ups = start(upstreams, "a", "b", "c")
    srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {"to": [u.url for u in ups], "balance": "hash", "hash_key": "header:X-User"}}]}]})
    with client(srv) as c:
        for user in ("alice", "bob", "carol", "dave"):
            names = {info(c.get("/", headers={"X-User": user}))["name"] for _ in range(5)}
            assert len(names) == 1


def test_expect_100_continue_and_http2_clients(anomaly_server, upstreams) -> None:
    (a,) = start(upstreams, "a")
    srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {"to": a.url}}]}]})
    # Expect: 100-continue (curl sends it for large uploads): answered by us, not forwarded.
    with socket.create_connection(("127.0.0.1", srv.plain_port), timeout=5) as s:
        s.sendall(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(b"hello")
        data = _read_all(s)
    assert data.startswith(b"HTTP/1.1 200 OK") and b'"length": 5' in data
    # HTTP/2 in front, HTTP/1.1 behind: split cookies are joined, pseudo-headers never leak.
    from conftest import ssl_context
    with httpx.Client(http2=True, verify=ssl_context(srv.ca_path), timeout=10) as c:
        r = c.get(f"https://localhost:{srv.tls_port}/h2?x=1", headers=[("cookie", "a=1"), ("cookie", "b=2")])
        assert r.http_version == "HTTP/2"
        data = info(r)
        assert header(data, "cookie") == ["a=1; b=2"]
        assert data["path"] == "/h2?x=1"
        assert not [k for k, _ in data["headers"] if k.startswith(":")]
        r = c.post(f"https://localhost:{srv.tls_port}/up", content=b"x" * 100_000)
        assert r.json()["length"] == 100_000


def test_reload_lets_in_flight_requests_finish(anomaly_server, upstreams) -> None:
    a, b = start(upstreams, "a", "b")
    config = {"sites": [{"routes": [{"path": "/*", "proxy": {"to": [a.url]}}]}]}
    srv = anomaly_server(config)
    results: list[int] = []

    def slow() -> None:
        with client(srv) as c:
            results.append(c.get("/slow-head", params={"ms": "1500"}).status_code)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    srv.reload({"sites": [{"routes": [{"path": "/*", "proxy": {"to": [b.url]}}]}]})
    with client(srv) as c:
        assert info(c.get("/"))["name"] == "b"
    t.join()
    assert results == [200], "the request on the old config's pool completed"


# ------------------------------------------------------------------------------------- websocket

def test_websocket_pass_through(anomaly_server, upstreams) -> None:
    from websockets.sync.client import connect

    (w,) = start(upstreams, "ws", ws=True)
    srv = anomaly_server({"sites": [{"routes": [{"path": "/ws/*", "proxy": {"to": w.url, "strip_prefix": "/ws"}},
                                               {"path": "/*", "respond": {"body": "plain"}}]}]})
    with connect(f"ws://127.0.0.1:{srv.plain_port}/ws/chat?room=1") as ws:
        hello = json.loads(ws.recv(timeout=5).removeprefix("hello "))
        assert hello["path"] == "/chat?room=1"
        assert [v for k, v in hello["headers"] if k == "x-forwarded-for"] == ["127.0.0.1"]
        for i in range(20):
            ws.send(f"m{i}")
            assert ws.recv(timeout=5) == f"ws:m{i}"
        big = "x" * 300_000
        ws.send(big)
        assert ws.recv(timeout=5) == "ws:" + big
    # An Upgrade request to a route that is not a proxy gets that route's answer.
    with socket.create_connection(("127.0.0.1", srv.plain_port), timeout=5) as s:
        s.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        data = _read_all(s)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"plain")


def test_refused_upgrade_is_a_normal_answer_not_a_tunnel(anomaly_server, upstreams) -> None:
    (a,) = start(upstreams, "a")  # a plain HTTP server: it ignores Upgrade and answers 200
    srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {"to": a.url}}]}]})
    with socket.create_connection(("127.0.0.1", srv.plain_port), timeout=5) as s:
        s.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        time.sleep(0.2)
        # A second request on the same connection must not reach the upstream through a tunnel.
        try:
            s.sendall(b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n")
        except OSError:
            pass
        data = _read_all(s)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b'"path": "/x"' in data and b"/second" not in data
    assert b"connection: close" in data.lower()
    # An h2c upgrade (curl --http2 on http://) is an ordinary HTTP/1.1 request: body read, keep-alive kept.
    with socket.create_connection(("127.0.0.1", srv.plain_port), timeout=5) as s:
        s.sendall(b"POST /y HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"
                  b"Content-Length: 5\r\n\r\nhello"
                  b"GET /z HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = _read_all(s)
    first, second = data.split(b"HTTP/1.1 200 OK\r\n")[1:3]
    assert b'"length": 5' in first
    seen = json.loads(second.split(b"\r\n\r\n", 1)[1])
    assert seen["path"] == "/z" and header(seen, "upgrade") == []


def test_websocket_to_a_dead_upstream_is_a_502(anomaly_server) -> None:
    srv = anomaly_server({"sites": [{"routes": [{"path": "/*", "proxy": {"to": f"http://127.0.0.1:{_closed_port()}"}}]}]})
    with socket.create_connection(("127.0.0.1", srv.plain_port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        data = _read_all(s)
    assert data.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert data.endswith(b"502 Bad Gateway: upstream unreachable\n")


# ---------------------------------------------------------------------------------------- config

def test_config_errors_are_clear(tmp_path) -> None:
    cases = {
        "upstream: nope": ('{"upstreams": {"api": {"to": ["http://127.0.0.1:1"]}}, "sites": [{"routes": [{"proxy": {"upstream": "nope"}}]}]}',
                           'no group "nope" under upstreams: (defined: api)'),
        "both": ('{"upstreams": {"api": {"to": ["http://127.0.0.1:1"]}}, "sites": [{"routes": [{"proxy": {"upstream": "api", "balance": "first"}}]}]}',
                 'balance belong under upstreams.api'),
        "neither": ('{"sites": [{"routes": [{"proxy": {"strip_prefix": "/a"}}]}]}', 'needs "to"'),
        "bad policy": ('{"sites": [{"routes": [{"proxy": {"to": "http://a:1", "balance": "fastest"}}]}]}', 'balance'),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_').replace(':', '')}.yaml"
        path.write_text(text)
        result = run_anomaly("check", str(path))
        assert result.returncode != 0, name
        assert expected in result.stderr, f"{name}: {result.stderr}"


def test_the_example_config_is_valid() -> None:
    from conftest import ROOT

    result = run_anomaly("check", str(ROOT / "examples" / "proxy" / "anomaly.yaml"))
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------------------- helpers

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_all(s: socket.socket) -> bytes:
    chunks = []
    while True:
        data = s.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


# ---------------------------------------------------------------------------------- acceptance

def test_acceptance_kill_one_of_three_upstreams_under_wrk(require_tool, suite_note) -> None:
    """Issue 5: under wrk load, one of three upstreams is killed and restarted: no failed GET,
    the dead one is taken out (passive ejection and/or health check) and comes back."""
    require_tool("wrk")
    require_tool("nginx")
    import subprocess
    import sys as _sys

    from conftest import ROOT

    proc = subprocess.run(["node", str(ROOT / "bench" / "proxy-failover.mjs"), "--duration", "8", "--json"],
                          capture_output=True, text=True, timeout=90, cwd=str(ROOT))
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    assert lines, f"no result from proxy-failover.mjs\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    result = json.loads(lines[-1])
    suite_note(f"proxy failover under wrk: {result['totalRequests']} requests, {result['non2xx']} non-2xx, "
               f"{result['socketErrors']} socket errors; after recovery {result['afterRecovery']}")
    print(json.dumps(result, indent=2), file=_sys.stderr)
    assert result["non2xx"] == 0 and result["socketErrors"] == 0
    assert result["ejected"] or result["down"], "the dead upstream was never taken out"
    assert result["afterRecovery"].get("u2", 0) > 0, "the restarted upstream gets traffic again"
    assert proc.returncode == 0
