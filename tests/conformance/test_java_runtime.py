"""Java specifics over real HTTP: runaway handlers (a busy loop, Thread.sleep) are answered 504 at the
deadline while other requests keep flowing; without a JDK the Java apps answer 503 with a log line
saying what is missing and the rest of the server runs; the JVM leaves anomaly's signals alone.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import AnomalyServer, require_tool

HELLO = 'import anomaly.*;\npublic class App implements Handler {\n  public Response handle(Request r) { return Response.text("hello"); }\n}\n'
LOOP = 'import anomaly.*;\npublic class App implements Handler {\n  static volatile long n;\n  public Response handle(Request r) { for (;;) n++; }\n}\n'
SLEEP = 'import anomaly.*;\npublic class App implements Handler {\n  public Response handle(Request r) throws Exception { Thread.sleep(60_000); return Response.text("late"); }\n}\n'


def _route(name: str, **extra: object) -> dict[str, object]:
    return {"path": f"/{name}/*", "app": {"file": f"{{root}}/{name}/App.java", "instances": 2, **extra}}


@pytest.fixture(scope="module")
def srv(anomaly_server_module) -> AnomalyServer:
    require_tool("javac")
    config = {"sites": [{"routes": [_route("hello"), _route("loop", deadline="500ms"), _route("sleep", deadline="500ms"),
                                    _route("edit"), {"path": "/plain", "respond": {"body": "plain"}}]}]}
    return anomaly_server_module(config, {"hello/App.java": HELLO, "loop/App.java": LOOP, "sleep/App.java": SLEEP,
                                          "edit/App.java": HELLO.replace('"hello"', '"version 1"')})


def _save(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.rename(path)  # editors save by rename


def _answers(c: httpx.Client, path: str, want: str, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if c.get(path).text == want:
            return True
        time.sleep(0.05)
    return False


def test_a_broken_edit_keeps_the_old_version_then_a_fix_loads(srv: AnomalyServer) -> None:
    app = srv.root / "edit" / "App.java"
    with httpx.Client(base_url=srv.plain_url, timeout=30) as c:
        assert c.get("/edit/").text == "version 1"
        mark = len(srv.log_lines())
        _save(app, HELLO.replace('return Response.text("hello");', 'return Response.text("version 2")'))  # no semicolon
        line = srv.wait_for_log(lambda l: isinstance(l, dict) and l.get("level", 0) >= 50 and "edit/App.java:3" in str(l.get("msg", "")), timeout=10, start=mark)
        assert line is not None, srv.describe()
        assert "';' expected" in line["msg"], line
        for _ in range(5):
            assert c.get("/edit/").text == "version 1"  # rolled back: the old version serves
        _save(app, HELLO.replace('"hello"', '"version 3"'))
        assert _answers(c, "/edit/", "version 3", within=5.0), srv.describe()


def test_runaway_handlers_answer_504_while_others_flow(srv: AnomalyServer) -> None:
    with httpx.Client(base_url=srv.plain_url, timeout=30) as c:
        assert c.get("/hello/").text == "hello"  # loaded and warm
    served: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=srv.plain_url, timeout=10) as c:
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    r = c.get("/hello/")
                    if r.status_code == 200 and r.text == "hello":
                        served.append(time.monotonic() - t0)
                    else:
                        failures.append(f"{r.status_code} {r.text[:80]}")
                except httpx.HTTPError as e:
                    failures.append(repr(e))

    def runaway(path: str) -> tuple[int, float]:
        with httpx.Client(base_url=srv.plain_url, timeout=30) as c:
            t0 = time.monotonic()
            r = c.get(path)
            return r.status_code, time.monotonic() - t0

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.2)
        before = len(served)
        # Both instances of each runaway app at once, twice (the second round meets the replacements).
        for _ in range(2):
            with ThreadPoolExecutor(4) as pool:
                results = list(pool.map(runaway, ["/loop/", "/loop/", "/sleep/", "/sleep/"]))
            for status, took in results:
                assert status == 504, results
                assert took < 3.0, f"answered after {took:.1f} s: {results}"
        during = len(served) - before
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:5]
    assert during > 20, f"only {during} hello requests served while the runaways ran"
    with httpx.Client(base_url=srv.plain_url, timeout=10) as c:
        assert c.get("/plain").text == "plain"
        assert c.get("/hello/").text == "hello"
    lines = [l for l in srv.log_lines() if isinstance(l, dict) and l.get("kind") == "deadline"]
    assert any("loop/App.java" in str(l.get("msg", "")) for l in lines), srv.describe()


def test_jvm_leaves_signals_to_anomaly(anomaly_server) -> None:
    require_tool("javac")
    server = anomaly_server({"sites": [{"routes": [_route("hello")]}]}, {"hello/App.java": HELLO})
    with httpx.Client(base_url=server.plain_url, timeout=30) as c:
        assert c.get("/hello/").text == "hello"  # the JVM is running inside the server now
    line = server.reload({"sites": [{"routes": [_route("hello"), {"path": "/plain", "respond": {"body": "plain"}}]}]}, timeout=15)
    assert line is not None and line.get("level", 0) < 50, server.describe()
    with httpx.Client(base_url=server.plain_url, timeout=30) as c:
        assert c.get("/plain").text == "plain"
    assert server.stop() == 0, server.describe()


def test_without_a_jdk_java_apps_answer_503_and_the_rest_serves(anomaly_server, tmp_path: Path) -> None:
    # A PATH holding only node: no java, no javac; JAVA_HOME empty.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    node = shutil.which("node")
    assert node is not None
    os.symlink(node, bin_dir / "node")
    server = anomaly_server({"sites": [{"routes": [_route("hello"), {"path": "/plain", "respond": {"body": "plain"}}]}]},
                            {"hello/App.java": HELLO}, env={"PATH": str(bin_dir), "JAVA_HOME": ""})
    with httpx.Client(base_url=server.plain_url, timeout=30) as c:
        r = c.get("/hello/")
        assert r.status_code == 503, r.text
        assert c.get("/plain").text == "plain"
    line = server.wait_for_log(lambda l: isinstance(l, dict) and "need a JDK" in str(l.get("msg", "")), timeout=5)
    assert line is not None, server.describe()
    assert "default-jdk-headless" in line["msg"] and "JAVA_HOME" in line["msg"]
