"""Tenants and rate limits (issue 7): token buckets per tenant, per client and per route; 429 with
Retry-After; tenant defaults (max_body) and app quotas; one tenant past its limit does not touch
another's traffic.
"""
from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from typing import Any

import httpx
import pytest

from conftest import ROOT, _port_accepts as port_accepts, free_port, require_tool

TOKEN = "tenants-test-token"


def config(admin_port: int) -> dict[str, Any]:
    return {
        "log": {"format": "json", "level": "info", "access": False},
        "admin": {"listen": f"127.0.0.1:{admin_port}", "token": TOKEN},
        "tenants": {
            "a": {"rate_limit": {"rate": "50/s", "burst": 50}, "max_body": "1kb"},
            "b": {"max_concurrent": 200, "apps": {"deadline": "2s", "memory": "64mb"}},
        },
        "sites": [
            {"hosts": ["a.test"], "tenant": "a", "routes": [
                {"path": "/slow", "rate_limit": {"rate": "1/min", "burst": 2, "per": "client"}, "respond": {"body": "slow\n"}},
                {"path": "/*", "echo": {}},
            ]},
            {"hosts": ["b.test"], "tenant": "b", "routes": [
                {"path": "/app", "app": {"file": str(ROOT / "apps" / "hello" / "app.js"), "instances": 1}},
                {"path": "/*", "respond": {"body": "b\n"}},
            ]},
        ],
    }


def h2load(tool: str, url: str, authority: str, n: int, out: dict[str, str]) -> None:
    run = subprocess.run([tool, "-n", str(n), "-c", "4", "-m", "4", "-H", f":authority: {authority}", url], capture_output=True, text=True, timeout=120)
    out[authority] = run.stdout


def codes(output: str) -> tuple[int, int, int, int]:
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", output)
    assert m is not None, output
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4))


def test_tenant_past_its_limit_gets_429_while_the_other_keeps_all_200(anomaly_server, suite_note) -> None:
    tool = require_tool("h2load")
    admin_port = free_port()
    server = anomaly_server(config(admin_port))
    out: dict[str, str] = {}
    started = time.monotonic()
    loads = [threading.Thread(target=h2load, args=(tool, server.plain_url + "/", host, n, out)) for host, n in (("a.test", 3000), ("b.test", 6000))]
    for t in loads:
        t.start()
    for t in loads:
        t.join()
    elapsed = time.monotonic() - started
    a_ok, _, a_4xx, a_5xx = codes(out["a.test"])
    b_ok, _, b_4xx, b_5xx = codes(out["b.test"])
    assert (b_ok, b_4xx, b_5xx) == (6000, 0, 0), out["b.test"]
    assert a_ok + a_4xx == 3000 and a_5xx == 0
    # 50 at once, then 50 per second: never more than the bucket allows over the run.
    assert 50 <= a_ok <= 50 + 50 * elapsed + 5, (a_ok, elapsed)
    assert a_4xx >= 3000 - (50 + 50 * elapsed + 5)

    r = httpx.get(f"{server.plain_url}/", headers={"host": "a.test"}, timeout=5)
    if r.status_code == 429:
        assert 1 <= int(r.headers["retry-after"]) <= 1
    metrics = httpx.get(f"http://127.0.0.1:{admin_port}/metrics", headers={"authorization": f"Bearer {TOKEN}"}, timeout=5).text
    assert re.search(r'anomaly_requests_total\{tenant="a",[^}]*status="429"\} \d+', metrics)
    assert re.search(r'anomaly_requests_total\{tenant="b",[^}]*status="200"\} 6000', metrics)
    suite_note(f"tenants under h2load: a (50/s, burst 50) {a_ok} x 200 and {a_4xx} x 429 in {elapsed:.1f}s; b {b_ok} x 200 of 6000")


def test_route_limit_per_client_and_tenant_defaults(anomaly_server) -> None:
    admin_port = free_port()
    server = anomaly_server(config(admin_port))
    with httpx.Client(timeout=5) as c:
        statuses = [c.get(f"{server.plain_url}/slow", headers={"host": "a.test"}) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert 1 <= int(statuses[2].headers["retry-after"]) <= 60
        # Tenant a's max_body applies to its sites; b has the server default.
        assert c.post(f"{server.plain_url}/echo", headers={"host": "a.test"}, content=b"x" * 2000).status_code == 413
        assert c.post(f"{server.plain_url}/x", headers={"host": "b.test"}, content=b"x" * 2000).status_code == 200
        assert c.get(f"{server.plain_url}/app", headers={"host": "b.test"}).status_code == 200
    tenants = httpx.get(f"http://127.0.0.1:{admin_port}/tenants", headers={"authorization": f"Bearer {TOKEN}"}, timeout=5).json()["tenants"]
    by_name = {t["name"]: t for t in tenants}
    assert by_name["a"]["rateLimit"] == {"perSecond": 50, "burst": 50} and by_name["a"]["sites"][0]["maxBody"] == 1024
    assert by_name["b"]["apps"] == {"deadline": 2000, "memory": 64 * 1024 * 1024}
    apps = httpx.get(f"http://127.0.0.1:{admin_port}/apps", headers={"authorization": f"Bearer {TOKEN}"}, timeout=5).json()["apps"]
    assert apps[0]["tenant"] == "b"


def test_config_problems_name_the_field(anomaly_server, tmp_path) -> None:
    bad = {
        "tenants": {"a": {"rate_limit": {"rate": "fast"}}, "b": {"apps": {"memory": "64mb"}}},
        "sites": [
            {"hosts": ["a.test"], "tenant": "nobody", "routes": [{"path": "/", "respond": {"body": "x"}}]},
            {"hosts": ["b.test"], "tenant": "b", "routes": [{"path": "/", "app": {"file": "x.js", "memory": "1gb"}}]},
        ],
    }
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(bad))
    run = subprocess.run(["node", str(ROOT / "bin" / "anomaly.js"), "check", str(path)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 1
    assert "rate_limit" in run.stderr and "rate" in run.stderr, run.stderr
    assert 'unknown tenant "nobody"' in run.stderr, run.stderr


@pytest.fixture
def redis_server(tmp_path):
    binary = require_tool("redis-server")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not port_accepts(port):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(5)


def test_two_instances_share_the_tenant_bucket_through_redis(anomaly_server, redis_server) -> None:
    shared = {
        "log": {"format": "json", "level": "info", "access": False},
        "rate_limits": {"store": "redis", "url": redis_server, "prefix": "test:rl:"},
        "tenants": {"a": {"rate_limit": {"rate": "10/min", "burst": 10}}},
        "sites": [{"tenant": "a", "routes": [{"path": "/*", "respond": {"body": "a\n"}}]}],
    }
    one, two = anomaly_server(shared), anomaly_server(shared)
    for srv in (one, two):  # until connected, requests are let through (the limiter fails open)
        assert srv.wait_for_log(lambda l: "redis connected" in l.get("msg", ""), timeout=10) is not None
    statuses = []
    with httpx.Client(timeout=5) as c:
        for _ in range(8):
            statuses.append(c.get(one.plain_url + "/").status_code)
            statuses.append(c.get(two.plain_url + "/").status_code)
    # One bucket of 10 for both instances (each alone would have allowed all its 8).
    assert statuses.count(200) == 10 and statuses.count(429) == 6, statuses


def tenant_file(name: str, body: str, instances: int = 1) -> str:
    return json.dumps({"sites": [{"hosts": [f"{name}.test"], "routes": [
        {"path": "/app", "app": {"file": "app.js", "instances": instances}},
        {"path": "/*", "respond": {"body": body}},
    ]}]})


def test_tenant_files_reload_alone(anomaly_server) -> None:
    admin_port = free_port()
    app = (ROOT / "apps" / "hello" / "app.js").read_text()
    server = anomaly_server({
        "log": {"format": "json", "level": "info", "access": False},
        "admin": {"listen": f"127.0.0.1:{admin_port}", "token": TOKEN},
        "tenants": {"a": {"file": "{root}/a/tenant.yaml"}, "b": {"file": "{root}/b/tenant.yaml", "max_body": "1kb"}},
        "sites": [{"routes": [{"path": "/*", "respond": {"body": "main\n"}}]}],
    }, files={"a/tenant.yaml": tenant_file("a", "a1\n"), "b/tenant.yaml": tenant_file("b", "b1\n"), "a/app.js": app, "b/app.js": app})
    admin = f"http://127.0.0.1:{admin_port}"
    auth = {"authorization": f"Bearer {TOKEN}"}

    def get(host: str, path: str = "/") -> httpx.Response:
        return httpx.get(f"{server.plain_url}{path}", headers={"host": host}, timeout=5)

    def apps() -> dict[str, dict[str, Any]]:
        return {a["tenant"]: a for a in httpx.get(f"{admin}/apps", headers=auth, timeout=5).json()["apps"]}

    assert (get("a.test").text, get("b.test").text, get("other").text) == ("a1\n", "b1\n", "main\n")
    assert get("a.test", "/app").status_code == 200 and get("b.test", "/app").status_code == 200
    assert httpx.post(f"{server.plain_url}/", headers={"host": "b.test"}, content=b"x" * 2000, timeout=5).status_code == 413
    before = apps()
    assert before["a"]["file"] == str(server.root / "a" / "app.js")

    # Editing tenant a's file reloads (the file is watched); tenant b's app keeps its instances.
    (server.root / "a" / "tenant.yaml").write_text(tenant_file("a", "a2\n", instances=2))
    deadline = time.monotonic() + 10
    while get("a.test").text != "a2\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert get("a.test").text == "a2\n" and get("b.test").text == "b1\n"
    after = apps()
    assert after["b"]["loadedAt"] == before["b"]["loadedAt"] and after["b"]["stats"]["requests"] == 1, (before["b"], after["b"])
    assert after["a"]["loadedAt"] != before["a"]["loadedAt"] and after["a"]["pool"]["size"] == 2

    # A broken tenant file is refused with its own file and line; everything keeps serving.
    mark = len(server.log_lines())
    (server.root / "a" / "tenant.yaml").write_text('{"sites": [{"hosts": ["a.test"],\n "routes": [{"path": "/", "respnd": {}}]}]}')
    line = server.wait_for_log(lambda l: "not reloaded" in l.get("msg", ""), timeout=10, start=mark)
    assert f"{server.root / 'a' / 'tenant.yaml'}:2:" in line["msg"], line
    assert get("a.test").text == "a2\n"

    (server.root / "a" / "tenant.yaml").write_text(tenant_file("a", "a3\n", instances=2))
    r = httpx.post(f"{admin}/tenants/a/reload", headers=auth, timeout=30)
    assert r.status_code == 200 and get("a.test").text == "a3\n"
    assert apps()["b"]["loadedAt"] == before["b"]["loadedAt"]
    assert httpx.post(f"{admin}/tenants/zzz/reload", headers=auth, timeout=5).status_code == 404


def test_tenant_file_may_hold_only_what_a_tenant_owns(tmp_path) -> None:
    (tmp_path / "t.yaml").write_text('listen: { plain: 9 }\nsites: [ { hosts: [t.test], routes: [ { path: /, respond: {} } ] } ]\n')
    (tmp_path / "main.yaml").write_text('tenants: { t: { file: t.yaml } }\nsites: [ { hosts: [t.test], routes: [ { path: /, respond: {} } ] } ]\n')
    run = subprocess.run(["node", str(ROOT / "bin" / "anomaly.js"), "check", str(tmp_path / "main.yaml")], capture_output=True, text=True, timeout=30)
    assert run.returncode == 1 and "t.yaml" in run.stderr and "listen" in run.stderr, run.stderr
    (tmp_path / "t.yaml").write_text('sites: [ { hosts: [t.test], routes: [ { path: /, respond: {} } ] } ]\n')
    run = subprocess.run(["node", str(ROOT / "bin" / "anomaly.js"), "check", str(tmp_path / "main.yaml")], capture_output=True, text=True, timeout=30)
    assert run.returncode == 1 and 'host "t.test" is already served' in run.stderr, run.stderr
