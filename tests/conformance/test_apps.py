"""The reference apps of apps/README.md, in every available language, over HTTP/1.1 and HTTP/2.

One server mounts every app of every engine under /<engine>/<app>/*; each test runs per engine and
protocol. The spec is apps/README.md: the Python and Java versions must pass this same suite.
"""
from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest

from conftest import ROOT, AnomalyServer, require_tool, ssl_context

# engine id -> (file extension, language name the apps report)
ENGINES: dict[str, tuple[str, str]] = {
    "quickjs": (".js", "js"),
    "fengari": (".lua", "lua"),
    "wasmoon": (".lua", "lua"),
    "java": (".java", "java"),
    "pyodide": (".py", "python"),
}
# Engines that need a tool on the machine (skipped loudly without it locally, a failure in CI).
NEEDS_TOOL = {"java": "javac"}
APPS = ("hello", "echo", "todo")


def _app_file(ext: str) -> str:
    # Java's file is named after its public class.
    return "App.java" if ext == ".java" else f"app{ext}"


def _routes() -> list[dict[str, Any]]:
    routes = []
    for engine, (ext, _) in ENGINES.items():
        for app in APPS:
            routes.append({
                "path": f"/{engine}/{app}/*",
                "app": {"file": str(ROOT / "apps" / app / _app_file(ext)), "engine": engine, "instances": 1},
            })
    return routes


@pytest.fixture(scope="module")
def srv(anomaly_server_module) -> AnomalyServer:
    return anomaly_server_module({"sites": [{"routes": _routes()}]})


@pytest.fixture(params=["h1", "h2"])
def http(request: pytest.FixtureRequest, srv: AnomalyServer) -> Iterator[httpx.Client]:
    with httpx.Client(verify=ssl_context(srv.ca_path), http2=request.param == "h2", http1=request.param == "h1",
                      base_url=srv.tls_url, timeout=15) as c:
        yield c


@pytest.fixture(params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> str:
    if request.param in NEEDS_TOOL:
        require_tool(NEEDS_TOOL[request.param])
    return request.param


def test_hello(http: httpx.Client, engine: str) -> None:
    r = http.get(f"/{engine}/hello/")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text == f"hello from {ENGINES[engine][1]}"


def test_echo_sees_the_parsed_request(http: httpx.Client, engine: str) -> None:
    r = http.post(f"/{engine}/echo/a/b?x=1&x=2&y=%C3%A9", content="héllo".encode(),
                  headers={"content-type": "text/plain", "x-multi": "one", "cookie": "sid=abc; theme=dark"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    seen = r.json()
    assert seen["language"] == ENGINES[engine][1]
    assert seen["method"] == "POST"
    assert seen["path"] == "/a/b"
    assert seen["query"] == {"x": ["1", "2"], "y": ["é"]}
    assert seen["headers"]["content-type"] == ["text/plain"]
    assert seen["headers"]["x-multi"] == ["one"]
    assert seen["cookies"] == {"sid": "abc", "theme": "dark"}
    assert seen["bodyLength"] == len("héllo".encode())
    assert seen["bodyText"] == "héllo"


def test_todo_api(http: httpx.Client, engine: str) -> None:
    base = f"/{engine}/todo/todos"
    created = http.post(base, json={"title": "write tests"})
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["title"] == "write tests" and item["done"] is False and isinstance(item["id"], int)
    assert created.headers["location"] == f"/todos/{item['id']}"
    assert created.headers["content-type"].startswith("application/json")

    listed = http.get(base)
    assert listed.status_code == 200
    assert item in listed.json()

    one = http.get(f"{base}/{item['id']}")
    assert one.status_code == 200 and one.json() == item

    patched = http.patch(f"{base}/{item['id']}", json={"done": True})
    assert patched.status_code == 200 and patched.json() == {**item, "done": True}

    assert http.patch(f"{base}/{item['id']}", json={"done": "yes"}).status_code == 400
    assert http.post(base, content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert http.post(base, json={"title": ""}).status_code == 400

    deleted = http.delete(f"{base}/{item['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    missing = http.get(f"{base}/{item['id']}")
    assert missing.status_code == 404 and missing.json() == {"error": "not found"}
    assert http.delete(f"{base}/{item['id']}").status_code == 404

    not_allowed = http.put(base, json={})
    assert not_allowed.status_code == 405
    assert "GET" in not_allowed.headers["allow"] and "POST" in not_allowed.headers["allow"]
    assert http.get(f"/{engine}/todo/elsewhere").status_code == 404
