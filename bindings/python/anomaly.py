"""anomaly: the guest library of Python apps (runs inside pyodide, one interpreter per worker thread).

An app file (app.py) defines ``app``: an ``anomaly.App`` router, a function ``handler(req)`` (plain or
``async def``), or an unmodified WSGI application (``app(environ, start_response)``, e.g. Flask or
Bottle). The host builds a ``Request`` per call; whatever the handler returns is turned into
(status, headers, body) by ``answer()``.

Nothing here talks to the host directly: the host glue (runtimes/python/host.py) calls
``Request._from_frame`` and ``answer``.
"""
from __future__ import annotations

import inspect
import io
import json as _json
import sys
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qsl, unquote

__all__ = [
    "App", "MultiDict", "Request", "Response", "bytes_", "html", "json", "redirect", "text", "wsgi", "WSGI",
]

_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"
_OCTETS = "application/octet-stream"


class MultiDict:
    """Name -> values in order. ``get`` gives the first value, ``all`` every value; header maps match names
    case-insensitively (the host sends them lower-case)."""

    __slots__ = ("_d", "_lower")

    def __init__(self, data: dict[str, list[str]] | None = None, lower: bool = False) -> None:
        self._d: dict[str, list[str]] = data if data is not None else {}
        self._lower = lower

    def _key(self, name: str) -> str:
        return name.lower() if self._lower else name

    def get(self, name: str, default: Any = None) -> Any:
        values = self._d.get(self._key(name))
        return values[0] if values else default

    def all(self, name: str) -> list[str]:
        return list(self._d.get(self._key(name), ()))

    getall = all

    def __getitem__(self, name: str) -> str:
        values = self._d.get(self._key(name))
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self._d

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def keys(self) -> list[str]:
        return list(self._d)

    def items(self) -> Iterator[tuple[str, str]]:
        """Every (name, value) pair, repeated names included."""
        for k, vs in self._d.items():
            for v in vs:
                yield k, v

    def to_dict(self) -> dict[str, list[str]]:
        """Name -> list of values (a copy)."""
        return {k: list(vs) for k, vs in self._d.items()}

    def __repr__(self) -> str:
        return f"MultiDict({self._d!r})"


def _pairs_to_multi(pairs: Iterable[tuple[str, str]], lower: bool = False) -> MultiDict:
    d: dict[str, list[str]] = {}
    for k, v in pairs:
        if k in d:
            d[k].append(v)
        else:
            d[k] = [v]
    return MultiDict(d, lower)


class Request:
    """One request, already parsed by the host. ``body`` is bytes (``b""`` when there was none)."""

    __slots__ = ("method", "path", "raw_query", "protocol", "scheme", "host", "remote", "headers", "query",
                 "cookies", "params", "body")

    method: str
    path: str
    raw_query: str
    protocol: str
    scheme: str
    host: str
    remote: str
    headers: MultiDict
    query: MultiDict
    cookies: dict[str, str]
    params: dict[str, str]
    body: bytes

    @classmethod
    def _from_frame(cls, frame: str, body: bytes) -> "Request":
        """Decodes the host's frame: fixed fields, then counted (name, value) pairs of headers, query,
        cookies and params, NUL-separated (a frame starting with "[" is the same list as JSON, used
        when a value contains NUL)."""
        parts = _json.loads(frame) if frame[:1] == "[" else frame.split("\0")
        self = cls.__new__(cls)
        (self.method, self.path, self.raw_query, self.protocol, self.scheme, self.host, self.remote) = parts[:7]
        i = 7
        maps = []
        for _ in range(4):
            n = int(parts[i])
            i += 1
            d: dict[str, list[str]] = {}
            end = i + 2 * n
            while i < end:
                k = parts[i]
                v = parts[i + 1]
                i += 2
                if k in d:
                    d[k].append(v)
                else:
                    d[k] = [v]
            maps.append(d)
        self.headers = MultiDict(maps[0], True)
        self.query = MultiDict(maps[1])
        self.cookies = {k: v[-1] for k, v in maps[2].items()}
        self.params = {k: v[-1] for k, v in maps[3].items()}
        self.body = body
        return self

    @classmethod
    def make(cls, method: str = "GET", path: str = "/", query: str = "", headers: dict[str, str] | None = None,
             body: bytes = b"", params: dict[str, str] | None = None) -> "Request":
        """A request built by hand (for unit tests of an app outside the server)."""
        self = cls.__new__(cls)
        self.method, self.path, self.raw_query = method, path, query
        self.protocol, self.scheme, self.host, self.remote = "h1", "http", "localhost", "127.0.0.1"
        self.headers = _pairs_to_multi(((k.lower(), v) for k, v in (headers or {}).items()), True)
        self.query = _pairs_to_multi(parse_qsl(query, keep_blank_values=True))
        self.cookies = {}
        self.params = dict(params or {})
        self.body = body
        return self

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes become U+FFFD)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; raises ValueError (json.JSONDecodeError) when it is not."""
        return _json.loads(self.body)

    def form(self) -> MultiDict:
        """An application/x-www-form-urlencoded body as a MultiDict."""
        return _pairs_to_multi(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"


class Response:
    """An answer: ``Response(body, status=200, headers=None)``; headers a dict (value or list of values) or
    a list of (name, value). ``set`` replaces a header, ``append`` adds one; both return the response."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, body: Any = None, status: int = 200, headers: Any = None) -> None:
        self.status = status
        self.headers: list[tuple[str, str]] = _header_list(headers)
        self.body = body

    def set(self, name: str, value: Any) -> "Response":
        low = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != low]
        self.headers.append((name, str(value)))
        return self

    def append(self, name: str, value: Any) -> "Response":
        self.headers.append((name, str(value)))
        return self

    @staticmethod
    def text(s: str, status: int = 200) -> "Response":
        return Response(s, status, [("content-type", _TEXT)])

    @staticmethod
    def html(s: str, status: int = 200) -> "Response":
        return Response(s, status, [("content-type", "text/html; charset=utf-8")])

    @staticmethod
    def json(value: Any, status: int = 200) -> "Response":
        return Response(_dumps(value), status, [("content-type", _JSON)])

    @staticmethod
    def bytes(b: bytes | bytearray | memoryview, status: int = 200) -> "Response":
        return Response(bytes(b), status, [("content-type", _OCTETS)])

    @staticmethod
    def redirect(url: str, status: int = 302) -> "Response":
        return Response(None, status, [("location", url)])

    def __repr__(self) -> str:
        return f"<Response {self.status}>"


def _dumps(value: Any) -> str:
    return _json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


text = Response.text
html = Response.html
json = Response.json
bytes_ = Response.bytes
redirect = Response.redirect


def _header_list(headers: Any) -> list[tuple[str, str]]:
    if not headers:
        return []
    out: list[tuple[str, str]] = []
    items = headers.items() if isinstance(headers, dict) else headers
    for k, v in items:
        if isinstance(v, (list, tuple)):
            out.extend((str(k), str(x)) for x in v)
        else:
            out.append((str(k), str(v)))
    return out


# ---- the router -------------------------------------------------------------------------------------

class _Route:
    __slots__ = ("method", "parts", "rest", "handler")

    def __init__(self, method: str | None, pattern: str, handler: Callable[..., Any]) -> None:
        self.method = method
        segs = [s for s in pattern.split("/") if s != ""]
        self.rest: str | None = None
        if segs and segs[-1].startswith("*"):
            self.rest = segs.pop()[1:] or "rest"
        self.parts: list[tuple[bool, str]] = [(s.startswith(":"), s[1:] if s.startswith(":") else s) for s in segs]
        self.handler = handler

    def match(self, segs: list[str]) -> dict[str, str] | None:
        n = len(self.parts)
        if len(segs) < n or (self.rest is None and len(segs) != n):
            return None
        params: dict[str, str] = {}
        for (is_param, name), seg in zip(self.parts, segs):
            if is_param:
                if seg == "":
                    return None
                params[name] = unquote(seg)
            elif name != seg:
                return None
        if self.rest is not None:
            params[self.rest] = unquote("/".join(segs[n:]))
        return params


class App:
    """A small router: ``app.get('/users/:id', handler)``; ``:name`` matches one segment, ``*name`` (last)
    the rest of the path. Routes are tried in order; GET routes answer HEAD; no match is 404, a matching
    path with another method 405 with ``allow``. Handlers take the Request (params merged into
    ``req.params``) and may be ``async def``. Also usable as a decorator: ``@app.get('/')``."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []

    def route(self, method: str | None, pattern: str, handler: Callable[..., Any] | None = None) -> Any:
        def add(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._routes.append(_Route(method.upper() if method else None, pattern, fn))
            return fn
        return add if handler is None else add(handler)

    def get(self, pattern: str, handler: Callable[..., Any] | None = None) -> Any:
        return self.route("GET", pattern, handler)

    def head(self, pattern: str, handler: Callable[..., Any] | None = None) -> Any:
        return self.route("HEAD", pattern, handler)

    def post(self, pattern: str, handler: Callable[..., Any] | None = None) -> Any:
        return self.route("POST", pattern, handler)

    def put(self, pattern: str, handler: Callable[..., Any] | None = None) -> Any:
        return self.route("PUT", pattern, handler)

    def patch(self, pattern: str, handler: Callable[..., Any] | None = None) -> Any:
        return self.route("PATCH", pattern, handler)

    def delete(self, pattern: str, handler: Callable[..., Any] | None = None) -> Any:
        return self.route("DELETE", pattern, handler)

    def options(self, pattern: str, handler: Callable[..., Any] | None = None) -> Any:
        return self.route("OPTIONS", pattern, handler)

    def all(self, pattern: str, handler: Callable[..., Any] | None = None) -> Any:
        return self.route(None, pattern, handler)

    def __call__(self, req: Request) -> Any:
        segs = [s for s in req.path.split("/")][1:] if req.path.startswith("/") else req.path.split("/")
        if segs and segs[-1] == "":
            segs.pop()
        allowed: list[str] = []
        for r in self._routes:
            params = r.match(segs)
            if params is None:
                continue
            if r.method is None or r.method == req.method or (r.method == "GET" and req.method == "HEAD"):
                if params:
                    merged = dict(req.params)
                    merged.update(params)
                    req.params = merged
                return r.handler(req)
            for m in ((r.method, "HEAD") if r.method == "GET" else (r.method,)):
                if m not in allowed:
                    allowed.append(m)
        if allowed:
            return Response("method not allowed", 405, [("content-type", _TEXT), ("allow", ", ".join(allowed))])
        return Response("not found", 404, [("content-type", _TEXT)])


# ---- WSGI -------------------------------------------------------------------------------------------

class WSGI:
    """Runs a WSGI application (PEP 3333) as a handler. Apps defined as ``app(environ, start_response)`` are
    wrapped automatically; wrap explicitly with ``anomaly.wsgi(app)`` when detection cannot tell."""

    def __init__(self, application: Callable[..., Any]) -> None:
        self.application = application

    def __call__(self, req: Request) -> Response:
        host, _, port = req.host.partition(":") if not req.host.startswith("[") else (req.host, "", "")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": req.method,
            "SCRIPT_NAME": "",
            # PEP 3333: the decoded path as a "bytes in a str" (latin-1) string.
            "PATH_INFO": unquote(req.path, encoding="latin-1"),
            "QUERY_STRING": req.raw_query,
            "SERVER_NAME": host or "localhost",
            "SERVER_PORT": port or ("443" if req.scheme == "https" else "80"),
            "SERVER_PROTOCOL": "HTTP/2" if req.protocol in ("h2", "h3") else "HTTP/1.1",
            "REMOTE_ADDR": req.remote,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": req.scheme,
            "wsgi.input": io.BytesIO(req.body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if req.body:
            environ["CONTENT_LENGTH"] = str(len(req.body))
        for name, value in req.headers.items():
            if name == "content-type":
                environ["CONTENT_TYPE"] = value
                continue
            if name == "content-length":
                continue
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + value if key in environ else value
        state: dict[str, Any] = {}
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            if exc_info is not None and state.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"] = status
            state["headers"] = headers
            return written.append

        result = self.application(environ, start_response)
        try:
            for chunk in result:
                if chunk:
                    written.append(chunk)
                    state["sent"] = True
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if "status" not in state:
            raise RuntimeError("the WSGI application did not call start_response")
        return Response(b"".join(written), int(state["status"].split(" ", 1)[0]), list(state["headers"]))


def wsgi(application: Callable[..., Any]) -> WSGI:
    return WSGI(application)


def _takes_two(obj: Callable[..., Any]) -> bool:
    """True for callables of two required positional parameters: (environ, start_response)."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    required = [p for p in sig.parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    return len(required) == 2


def handler_of(namespace: dict[str, Any], file: str) -> Callable[[Request], Any]:
    """The handler an app file defines: ``app`` (App, handler or WSGI app), else ``handler``, else
    ``application`` (the WSGI convention)."""
    for name in ("app", "handler", "application"):
        obj = namespace.get(name)
        if obj is None:
            continue
        if isinstance(obj, (App, WSGI)):
            return obj
        if not callable(obj):
            raise TypeError(f"{file}: `{name}` is not callable")
        return WSGI(obj) if _takes_two(obj) else obj
    raise TypeError(f"{file} must define `app` (an anomaly.App, a function of the request, or a WSGI app) or `handler`")


# ---- answers ----------------------------------------------------------------------------------------

def answer(result: Any) -> tuple[int, str, Any]:
    """Turns what a handler returned into (status, NUL-joined header names and values, body) where body
    is str, bytes or None. A str is text/plain; bytes octet-stream; a Response or a dict
    {status, headers, body} as given; a (body, status[, headers]) tuple like Flask; other values JSON."""
    if isinstance(result, str):
        return 200, "content-type\0" + _TEXT, result
    if isinstance(result, Response):
        status, headers, body = result.status, result.headers, result.body
    elif isinstance(result, (bytes, bytearray, memoryview)):
        return 200, "content-type\0" + _OCTETS, bytes(result)
    elif isinstance(result, dict) and result and set(result) <= {"status", "headers", "body"}:
        status, headers, body = result.get("status", 200), _header_list(result.get("headers")), result.get("body")
    elif isinstance(result, tuple) and 2 <= len(result) <= 3 and isinstance(result[1], int):
        inner = answer(result[0])
        extra = _header_list(result[2]) if len(result) == 3 else []
        names = {k.lower() for k, _ in extra}
        kept = inner[1].split("\0") if inner[1] else []
        pairs = [(kept[i], kept[i + 1]) for i in range(0, len(kept), 2) if kept[i].lower() not in names]
        return result[1], "\0".join(x for kv in pairs + extra for x in kv), inner[2]
    elif result is None:
        return 204, "", None
    else:
        return 200, "content-type\0" + _JSON, _dumps(result)
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError(f"status must be an int, got {status!r}")
    if body is None or isinstance(body, (str, bytes)):
        pass
    elif isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    else:
        body = _dumps(body)
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers = list(headers) + [("content-type", _JSON)]
    flat = "\0".join(f"{k}\0{v}" for k, v in headers) if headers else ""
    if headers and flat.count("\0") != 2 * len(headers) - 1:
        raise ValueError("header names and values must not contain NUL")
    return status, flat, body
