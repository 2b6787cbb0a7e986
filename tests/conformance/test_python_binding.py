"""The Python guest library (bindings/python/anomaly.py) in plain CPython: it has no pyodide dependency,
so its router, request decoding, answers and WSGI adapter are checked here in milliseconds (the
engine itself is covered by tests/unit/runtimes/python.test.ts and test_python_apps.py)."""
from __future__ import annotations

import importlib.util
import json
import sys
from types import ModuleType

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def anomaly() -> ModuleType:
    spec = importlib.util.spec_from_file_location("anomaly", ROOT / "bindings" / "python" / "anomaly.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["anomaly_under_test"] = mod
    spec.loader.exec_module(mod)
    return mod


def frame(*fields: str) -> str:
    return "\0".join(fields)


def test_request_from_frame_is_decoded_lazily(anomaly: ModuleType) -> None:
    f = frame("POST", "/a%20b", "x=1&x=2", "h2", "https", "example.com", "10.0.0.1",
              "2", "content-type", "text/plain", "x-multi", "one",
              "*3", "x", "1", "x", "2", "y", "",
              "1", "sid", "abc",
              "1", "id", "7")
    req = anomaly._request_from_frame(f, b"body")
    assert (req.method, req.path, req.raw_query, req.protocol, req.scheme, req.host, req.remote) == \
        ("POST", "/a%20b", "x=1&x=2", "h2", "https", "example.com", "10.0.0.1")
    assert req._headers is None  # nothing decoded yet
    assert req.params == {"id": "7"}  # reading a later section decodes the earlier ones on the way
    assert req.headers.get("Content-Type") == "text/plain"
    assert req.query.all("x") == ["1", "2"] and req.query.get("x") == "1" and req.query.get("y") == ""
    assert req.query.to_dict() == {"x": ["1", "2"], "y": [""]}
    assert list(req.query.items()) == [("x", "1"), ("x", "2"), ("y", "")]
    assert req.cookies == {"sid": "abc"}
    assert req.text() == "body"


def test_unmarked_repeats_are_found(anomaly: ModuleType) -> None:
    # headers as received are not marked "*n": the guest sees that dict(zip(...)) came out shorter
    f = frame("GET", "/", "", "h1", "http", "h", "r", "3", "x", "1", "y", "2", "x", "3", "0", "0", "0")
    req = anomaly._request_from_frame(f, b"")
    assert req.headers.all("X") == ["1", "3"] and req.headers.get("x") == "1" and req.headers.get("y") == "2"


def test_json_frame_when_a_value_has_nul(anomaly: ModuleType) -> None:
    f = json.dumps(["GET", "/", "a=%00", "h1", "http", "h", "r", "0", "1", "a", "\u0000", "0", "0"])
    req = anomaly._request_from_frame(f, b"")
    assert req.query.get("a") == "\0"


def test_router_params_methods_and_fallbacks(anomaly: ModuleType) -> None:
    app = anomaly.App()

    @app.get("/users/:id")
    def user(req):  # noqa: ANN001, ANN202
        return anomaly.json({"id": req.params["id"]})

    app.get("/files/*path", lambda req: req.params["path"])
    app.post("/users", lambda req: anomaly.json(req.json(), 201))
    assert anomaly.answer(app(anomaly.Request.make(path="/users/j%C3%B6rg"))) == (200, ["content-type", "application/json"], '{"id":"jörg"}')
    assert anomaly.answer(app(anomaly.Request.make(path="/files/a/b%20c")))[2] == "a/b c"
    assert anomaly.answer(app(anomaly.Request.make("HEAD", "/users/1")))[0] == 200
    created = anomaly.answer(app(anomaly.Request.make("POST", "/users", body=b'{"n": 1}')))
    assert created[0] == 201 and json.loads(created[2]) == {"n": 1}
    wrong = app(anomaly.Request.make("DELETE", "/users/1"))
    assert wrong.status == 405 and ("allow", "GET, HEAD") in wrong.headers
    assert app(anomaly.Request.make(path="/nope")).status == 404


def test_answer_shapes(anomaly: ModuleType) -> None:
    R = anomaly.Response
    assert anomaly.answer("hi") == (200, ["content-type", "text/plain; charset=utf-8"], "hi")
    assert anomaly.answer(b"\x00") == (200, ["content-type", "application/octet-stream"], b"\x00")
    assert anomaly.answer(None) == (204, [], None)
    assert anomaly.answer([1, 2]) == (200, ["content-type", "application/json"], "[1,2]")
    assert anomaly.answer({"status": 201, "headers": {"x": [1, 2]}, "body": {"a": 1}}) == \
        (201, ["x", "1", "x", "2", "content-type", "application/json"], '{"a":1}')
    assert anomaly.answer(("made", 201, {"content-type": "text/x"})) == (201, ["content-type", "text/x"], "made")
    assert anomaly.answer(R.redirect("/there")) == (302, ["location", "/there"], None)
    res = R.text("t").set("Content-Type", "text/html").append("set-cookie", "a=1").append("set-cookie", "b=2")
    assert anomaly.answer(res)[1] == ["Content-Type", "text/html", "set-cookie", "a=1", "set-cookie", "b=2"]
    with pytest.raises(TypeError):
        anomaly.answer({"status": "200"})
    with pytest.raises(ValueError):
        anomaly.answer(R.json(float("nan")))


def test_wsgi_adapter(anomaly: ModuleType) -> None:
    seen = {}

    def wsgi_app(environ, start_response):  # noqa: ANN001, ANN202
        seen.update(environ)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return iter([b"no ", b"such ", environ["wsgi.input"].read()])

    handler = anomaly.handler_of({"app": wsgi_app}, "app.py")
    res = handler(anomaly.Request.make("PUT", "/p%C3%A4th", "q=1", {"Content-Type": "a/b", "X-Y": "z", "Cookie": "c=1"}, b"thing"))
    assert (res.status, res.headers, res.body) == (404, [("Content-Type", "text/plain")], b"no such thing")
    assert seen["PATH_INFO"] == "/päth".encode().decode("latin-1")
    assert seen["QUERY_STRING"] == "q=1" and seen["CONTENT_TYPE"] == "a/b" and seen["CONTENT_LENGTH"] == "5"
    assert seen["HTTP_X_Y"] == "z" and seen["HTTP_COOKIE"] == "c=1" and seen["REQUEST_METHOD"] == "PUT"


def test_handler_lookup(anomaly: ModuleType) -> None:
    def one(req):  # noqa: ANN001, ANN202
        return "x"

    assert anomaly.handler_of({"handler": one}, "f.py") is one
    assert isinstance(anomaly.handler_of({"application": lambda e, s: []}, "f.py"), anomaly.WSGI)
    with pytest.raises(TypeError, match="must define"):
        anomaly.handler_of({}, "f.py")
