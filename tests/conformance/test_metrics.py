"""Prometheus metrics (issue 7): /metrics on the admin listener, summed over worker processes.

The acceptance case: scraped while a load generator runs against 2 workers, then once it is
done, the request counters equal exactly what the load generator sent and got answered.
"""
from __future__ import annotations

import re
import subprocess
import threading
import time
from typing import Any

import httpx
import pytest

from conftest import ROOT, free_port, require_tool

TOKEN = "metrics-test-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m is not None, f"not a Prometheus sample line: {line!r}"
        samples.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return samples


def total(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == want for k, want in labels.items()))


def config(admin_port: int, workers: int) -> dict[str, Any]:
    return {
        "workers": workers,
        "log": {"format": "json", "level": "info", "access": False},
        "admin": {"listen": f"127.0.0.1:{admin_port}", "token": TOKEN},
        "sites": [{"routes": [
            {"path": "/hello", "respond": {"body": "hello\n"}},
            {"path": "/app", "app": {"file": str(ROOT / "apps" / "hello" / "app.js"), "instances": 2}},
        ]}],
    }


def scrape(admin: str) -> list[tuple[str, dict[str, str], float]]:
    r = httpx.get(f"{admin}/metrics", headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


def h2load_succeeded(output: str) -> int:
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", output)
    assert m is not None, output
    assert m.group(5) == "0" and m.group(6) == "0", output
    return int(m.group(4))


def test_counters_equal_what_the_load_generator_sent_with_two_workers(anomaly_server, suite_note) -> None:
    h2load = require_tool("h2load")
    admin_port = free_port()
    server = anomaly_server(config(admin_port, workers=2))
    admin = f"http://127.0.0.1:{admin_port}"
    server.wait_for_log(lambda l: "worker processes serving" in l.get("msg", ""), timeout=30)
    server.wait_for_log(lambda l: "admin API listening" in l.get("msg", ""), timeout=10)

    # Scrapes while the load runs: each must answer, and counters only grow.
    scrapes: list[float] = []
    stop = threading.Event()

    def scraper() -> None:
        while not stop.is_set():
            scrapes.append(total(scrape(admin), "anomaly_requests_total"))
            time.sleep(0.2)

    thread = threading.Thread(target=scraper)
    thread.start()
    try:
        # Several short runs with many connections, so both workers accept some of them.
        h2 = h1 = 0
        for _ in range(3):
            run = subprocess.run([h2load, "-n", "1500", "-c", "16", "-m", "4", f"{server.plain_url}/hello"], capture_output=True, text=True, timeout=120)
            h2 += h2load_succeeded(run.stdout)
            run = subprocess.run([h2load, "--h1", "-n", "600", "-c", "16", f"{server.plain_url}/app"], capture_output=True, text=True, timeout=120)
            h1 += h2load_succeeded(run.stdout)
    finally:
        stop.set()
        thread.join()
    assert h2 == 4500 and h1 == 1800
    assert len(scrapes) >= 2 and scrapes == sorted(scrapes), scrapes

    # A request's completion is recorded right after its last byte is written: let the last ones land.
    time.sleep(0.5)
    samples = scrape(admin)
    assert total(samples, "anomaly_requests_total", route="/hello", protocol="h2", status="200") == h2
    assert total(samples, "anomaly_requests_total", route="/app", protocol="h1", status="200", language="quickjs") == h1
    assert total(samples, "anomaly_requests_total") == h1 + h2
    assert total(samples, "anomaly_request_duration_seconds_count", route="/hello") == h2
    assert total(samples, "anomaly_request_duration_seconds_bucket", route="/app", le="+Inf") == h1
    assert total(samples, "anomaly_response_bytes_total", route="/hello") == h2 * len("hello\n")

    status = httpx.get(f"{admin}/status", headers=AUTH, timeout=10).json()
    per_worker = [p["requests"] for p in status["processes"]]
    assert len(per_worker) == 2 and sum(per_worker) == h1 + h2, status
    suite_note(f"metrics with 2 workers: {h1 + h2} requests sent by h2load, {int(total(samples, 'anomaly_requests_total'))} counted "
               f"(per worker {per_worker}), {len(scrapes)} scrapes under load")


def test_one_process_figures_protocols_tls_apps_and_runtime(anomaly_server) -> None:
    admin_port = free_port()
    server = anomaly_server(config(admin_port, workers=1))
    admin = f"http://127.0.0.1:{admin_port}"
    server.wait_for_log(lambda l: "admin API listening" in l.get("msg", ""), timeout=10)
    with httpx.Client(http2=True, verify=str(server.ca_path), timeout=10) as client:
        for _ in range(5):
            assert client.get(f"{server.tls_url}/hello").http_version == "HTTP/2"
        assert client.get(f"{server.tls_url}/nowhere").status_code == 404
    with httpx.Client(timeout=10) as client:
        for _ in range(3):
            assert client.get(f"{server.plain_url}/app").status_code == 200
    time.sleep(0.2)
    samples = scrape(admin)
    assert total(samples, "anomaly_requests_total", route="/hello", protocol="h2", status="200") == 5
    assert total(samples, "anomaly_requests_total", route="", status="404") == 1
    assert total(samples, "anomaly_requests_total", route="/app", protocol="h1", language="quickjs") == 3
    assert total(samples, "anomaly_tls_handshakes_total", result="ok") >= 1
    assert total(samples, "anomaly_connections_accepted_total") >= 2
    assert total(samples, "anomaly_app_instances", route="/app", state="size") == 2
    names = {n for n, _, _ in samples}
    for name in ("nodejs_eventloop_lag_seconds", "process_resident_memory_bytes", "nodejs_heap_size_used_bytes",
                 "anomaly_connections", "anomaly_app_reloads_total", "anomaly_app_errors_total"):
        assert name in names, name


def test_metrics_need_the_token(anomaly_server) -> None:
    admin_port = free_port()
    server = anomaly_server(config(admin_port, workers=1))
    server.wait_for_log(lambda l: "admin API listening" in l.get("msg", ""), timeout=10)
    r = httpx.get(f"http://127.0.0.1:{admin_port}/metrics", timeout=5)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(f"http://127.0.0.1:{admin_port}/metrics", headers={"authorization": "Bearer wrong-token-xx"}, timeout=5).status_code == 401


class _Collector:
    """A local OTLP/HTTP receiver: keeps every span POSTed to /v1/traces."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import json as _json

        spans: list[dict[str, Any]] = []
        resources: list[dict[str, Any]] = []
        self.spans, self.resources = spans, resources

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                assert self.path == "/v1/traces" and self.headers["content-type"] == "application/json"
                for rs in _json.loads(body)["resourceSpans"]:
                    resources.append(rs["resource"])
                    for ss in rs["scopeSpans"]:
                        spans.extend(ss["spans"])
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_request_spans_are_exported_over_otlp(anomaly_server) -> None:
    collector = _Collector()
    try:
        server = anomaly_server({
            "tracing": {"endpoint": collector.url, "service_name": "anomaly-test"},
            "sites": [{"routes": [
                {"path": "/users/:id", "respond": {"body": "user\n"}},
                {"path": "/app", "app": {"file": str(ROOT / "apps" / "hello" / "app.js"), "instances": 1}},
            ]}],
        })
        parent_trace, parent_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        with httpx.Client(timeout=5) as c:
            assert c.get(f"{server.plain_url}/users/7", headers={"traceparent": f"00-{parent_trace}-{parent_span}-01"}).status_code == 200
            assert c.get(f"{server.plain_url}/app").status_code == 200
            assert c.get(f"{server.plain_url}/users/8", headers={"traceparent": f"00-{'1' * 32}-{'2' * 16}-00"}).status_code == 200
        deadline = time.monotonic() + 5
        while len(collector.spans) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.2)  # one more flush interval: the unsampled request must not arrive late
        assert len(collector.spans) == 2, collector.spans
        by_route = {next(a["value"]["stringValue"] for a in s["attributes"] if a["key"] == "http.route"): s for s in collector.spans}
        child = by_route["/users/:id"]
        assert child["traceId"] == parent_trace and child["parentSpanId"] == parent_span
        assert child["name"] == "GET /users/:id" and child["kind"] == 2
        attrs = {a["key"]: a["value"] for a in child["attributes"]}
        assert attrs["http.response.status_code"] == {"intValue": "200"} and attrs["url.path"] == {"stringValue": "/users/7"}
        assert int(child["endTimeUnixNano"]) > int(child["startTimeUnixNano"]) > (time.time() - 60) * 1e9
        app = by_route["/app"]
        assert len(app["traceId"]) == 32 and "parentSpanId" not in app
        assert {a["key"]: a["value"] for a in app["attributes"]}["anomaly.app.engine"] == {"stringValue": "quickjs"}
        assert {"key": "service.name", "value": {"stringValue": "anomaly-test"}} in collector.resources[0]["attributes"]
    finally:
        collector.server.shutdown()
