"""Admin API (issue 7): its own loopback listener with a bearer token; config read/replace with
validation and rollback, reload, apps, upstreams, tenants, cache purge, OpenAPI; the same API in
the supervisor when worker processes run.
"""
from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import httpx
import pytest

from conftest import ROOT, free_port, require_tool

TOKEN = "admin-test-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


class Origin(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        body = f"origin {self.path}\n".encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "max-age=300")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def config(admin_port: int, origin: str, body: str = "v1\n", workers: int = 1) -> dict[str, Any]:
    return {
        "workers": workers,
        "log": {"format": "json", "level": "info", "access": False},
        "admin": {"listen": f"127.0.0.1:{admin_port}", "token": TOKEN},
        "caches": {"main": {"store": "memory"}},
        "sites": [{"routes": [
            {"path": "/version", "respond": {"body": body}},
            {"path": "/app", "app": {"file": str(ROOT / "apps" / "hello" / "app.js"), "instances": 1}},
            {"path": "/origin/*", "proxy": {"to": origin}, "cache": {"zone": "main"}},
        ]}],
    }


def start(anomaly_server, origin: str, workers: int = 1):
    port = free_port()
    server = anomaly_server(config(port, origin, workers=workers))
    server.wait_for_log(lambda l: "admin API listening" in l.get("msg", ""), timeout=30)
    return server, f"http://127.0.0.1:{port}"


def version(server) -> str:
    return httpx.get(f"{server.plain_url}/version", timeout=5).text


def test_invalid_config_is_refused_with_every_error_and_the_old_one_keeps_serving(anomaly_server, origin) -> None:
    server, admin = start(anomaly_server, origin)
    before = httpx.get(f"{admin}/config", headers=AUTH, timeout=5)
    assert before.status_code == 200 and '"v1\\n"' in before.text
    bad = config(0, origin, body="v2\n")
    bad["sites"][0]["routes"].append({"path": "no-slash", "respnd": {"body": "x"}})
    bad["limits"] = {"max_body": "lots"}
    r = httpx.put(f"{admin}/config", headers=AUTH, content=json.dumps(bad), timeout=10)
    assert r.status_code == 400, r.text
    errors = r.json()["errors"]
    assert len(errors) >= 3, errors
    assert any("max_body" in e for e in errors) and any("respnd" in e for e in errors) and any("no-slash" in e for e in errors), errors
    assert all(e.startswith(str(server.config_path)) for e in errors), errors
    assert version(server) == "v1\n"
    assert httpx.get(f"{admin}/config", headers=AUTH, timeout=5).text == before.text


def test_valid_config_is_applied_and_a_failing_one_rolled_back(anomaly_server, origin) -> None:
    server, admin = start(anomaly_server, origin)
    good = server.effective_config(config(int(admin.rsplit(":", 1)[1]), origin, body="v2\n"))
    r = httpx.put(f"{admin}/config", headers=AUTH, content=json.dumps(good), timeout=30)
    assert r.status_code == 200, r.text
    assert version(server) == "v2\n"

    # Valid config, but a site's certificate does not parse: applying fails, the old file is
    # written back and reloaded, v2 keeps serving.
    (server.root / "bad.pem").write_text("not a certificate\n")
    broken = json.loads(json.dumps(good))
    broken["sites"][0]["routes"][0]["respond"]["body"] = "v3\n"
    broken["sites"].append({"hosts": ["other.test"], "tls": {"cert": str(server.root / "bad.pem"), "key": str(server.root / "bad.pem")},
                            "routes": [{"path": "/", "respond": {"body": "other"}}]})
    r = httpx.put(f"{admin}/config", headers=AUTH, content=json.dumps(broken), timeout=30)
    assert r.status_code == 500, r.text
    assert r.json()["rolledBack"] is True and r.json()["errors"], r.text
    assert version(server) == "v2\n"
    assert '"v2\\n"' in httpx.get(f"{admin}/config", headers=AUTH, timeout=5).text

    assert httpx.post(f"{admin}/reload", headers=AUTH, timeout=30).json() == {"ok": True}
    assert version(server) == "v2\n"


def test_apps_upstreams_purge_status_and_openapi(anomaly_server, origin) -> None:
    server, admin = start(anomaly_server, origin)
    assert httpx.get(f"{server.plain_url}/app", timeout=5).status_code == 200
    apps = httpx.get(f"{admin}/apps", headers=AUTH, timeout=5).json()["apps"]
    assert len(apps) == 1
    app = apps[0]
    assert app["route"] == "/app" and app["engine"] == "quickjs" and app["version"] == 1 and app["lastError"] is None
    assert app["pool"]["size"] == 1 and app["stats"]["requests"] == 1

    ups = httpx.get(f"{admin}/upstreams", headers=AUTH, timeout=5).json()["upstreams"]
    assert ups[0]["targets"][0]["up"] is True

    url = f"{server.plain_url}/origin/a"
    assert "fwd=" in httpx.get(url, timeout=5).headers["cache-status"]
    assert "hit" in httpx.get(url, timeout=5).headers["cache-status"]
    # The default key template is {scheme}://{host}{uri}: the host without its port.
    key = "http://127.0.0.1/origin/a"
    r = httpx.post(f"{admin}/cache/purge", headers=AUTH, json={"zone": "main", "key": key}, timeout=5)
    assert r.status_code == 200 and r.json()["purged"] is True, r.text
    assert "hit" not in httpx.get(url, timeout=5).headers["cache-status"]
    assert httpx.post(f"{admin}/cache/purge", headers=AUTH, json={"zone": "main", "key": key + "x"}, timeout=5).status_code == 404
    assert httpx.post(f"{admin}/cache/purge", headers=AUTH, json={"zone": 3}, timeout=5).status_code == 400

    status = httpx.get(f"{admin}/status", headers=AUTH, timeout=5).json()
    assert status["requests"] >= 4 and status["processes"][0]["worker"] is None
    assert httpx.get(f"{admin}/tenants", headers=AUTH, timeout=5).json() == {"tenants": []}

    doc = httpx.get(f"{admin}/openapi.json", timeout=5).json()
    assert doc["openapi"].startswith("3.")
    for path in ("/metrics", "/config", "/reload", "/status", "/apps", "/upstreams", "/tenants", "/cache/purge"):
        assert path in doc["paths"], path
    assert httpx.get(f"{admin}/status", timeout=5).status_code == 401
    assert httpx.get(f"{admin}/nothing", headers=AUTH, timeout=5).status_code == 404


def test_with_two_workers_the_supervisor_answers_for_all(anomaly_server, origin) -> None:
    server, admin = start(anomaly_server, origin, workers=2)
    status = httpx.get(f"{admin}/status", headers=AUTH, timeout=10).json()
    assert sorted(p["worker"] for p in status["processes"]) == [1, 2]
    apps = httpx.get(f"{admin}/apps", headers=AUTH, timeout=10).json()["apps"]
    assert sorted(a["worker"] for a in apps) == [1, 2]

    bad = server.effective_config(config(0, origin))
    bad["workers"] = "many"
    r = httpx.put(f"{admin}/config", headers=AUTH, content=json.dumps(bad), timeout=10)
    assert r.status_code == 400 and any("workers" in e for e in r.json()["errors"]), r.text

    good = server.effective_config(config(int(admin.rsplit(":", 1)[1]), origin, body="v2\n", workers=2))
    r = httpx.put(f"{admin}/config", headers=AUTH, content=json.dumps(good), timeout=60)
    assert r.status_code == 200, r.text
    for _ in range(10):
        with httpx.Client(timeout=5) as c:
            assert c.get(f"{server.plain_url}/version", headers={"connection": "close"}).text == "v2\n"

    url = f"{server.plain_url}/origin/b"
    httpx.get(url, timeout=5)
    r = httpx.post(f"{admin}/cache/purge", headers=AUTH, json={"zone": "main"}, timeout=10)
    assert r.status_code == 200 and len(r.json()["workers"]) == 2, r.text


def test_dashboard_shows_live_figures_in_headless_chromium(anomaly_server, origin, tmp_path, suite_note) -> None:
    chromium = require_tool("chromium")
    node = require_tool("node")
    server, admin = start(anomaly_server, origin, workers=2)
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=5) as h1, httpx.Client(http2=True, verify=str(server.ca_path), timeout=5) as h2:
            while not stop.is_set():
                h1.get(f"{server.plain_url}/app")
                h2.get(f"{server.tls_url}/version")
                h1.get(f"{server.plain_url}/origin/page")
                h1.get(f"{server.plain_url}/missing/../x")

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    shot = tmp_path / "dashboard.png"
    try:
        out = subprocess.run([node, str(ROOT / "tests" / "conformance" / "admin_dashboard_chromium.mjs"), chromium, f"{admin}/#token={TOKEN}", str(shot)],
                             capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    shown = json.loads(out.stdout.strip().splitlines()[-1])
    assert shown["status"].startswith("live"), shown
    assert float(shown["rps"].rstrip("k")) > 0, shown
    assert any("quickjs" in row for row in shown["latency"]), shown
    assert any(row.startswith("h1") for row in shown["protocols"]) and any(row.startswith("h2") for row in shown["protocols"]), shown
    assert shown["cache"].endswith("%"), shown
    assert any("up" in row for row in shown["upstreams"]), shown
    assert shot.stat().st_size > 10_000
    suite_note(f"dashboard in headless Chromium: {shown['rps']} requests/s, cache {shown['cache']}, screenshot {shot}")
