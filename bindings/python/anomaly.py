"""anomaly: the guest library of Python apps (runs inside pyodide, one interpreter per worker thread).

An app file (app.py) defines ``app``: an ``anomaly.App`` router, a function ``handler(req)`` (plain or
``async def``), or an unmodified WSGI application (``app(environ, start_response)``, e.g. Flask or
Bottle). The host builds a ``Request`` per call; whatever the handler returns is turned into
(status, headers, body) by ``answer()``.

Nothing here talks to the host directly: the host glue (runtimes/python/host.py) calls
``_request_from_frame`` and ``answer``.
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
    case-insensitively (the host sends them lower-case). Stored as name -> first value, plus the lists of
    the (rare) names that repeat, so that building one costs a C-level dict(zip(...))."""

    __slots__ = ("_first", "_many", "_lower")

    def __init__(self, first: dict[str, str] | None = None, many: dict[str, list[str]] | None = None,
                 lower: bool = False) -> None:
        self._first: dict[str, str] = first if first is not None else {}
        self._many = many
        self._lower = lower

    def get(self, name: str, default: Any = None) -> Any:
        return self._first.get(name.lower() if self._lower else name, default)

    def all(self, name: str) -> list[str]:
        key = name.lower() if self._lower else name
        if self._many is not None and key in self._many:
            return list(self._many[key])
        v = self._first.get(key)
        return [] if v is None else [v]

    getall = all

    def __getitem__(self, name: str) -> str:
        return self._first[name.lower() if self._lower else name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name.lower() if self._lower else name) in self._first

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def keys(self) -> list[str]:
        return list(self._first)

    def items(self) -> Iterator[tuple[str, str]]:
        """Every (name, value) pair, repeated names included."""
        many = self._many
        for k, v in self._first.items():
            if many is not None and k in many:
                for x in many[k]:
                    yield k, x
            else:
                yield k, v

    def to_dict(self) -> dict[str, list[str]]:
        """Name -> list of values (a copy)."""
        many = self._many
        if many is None:
            return {k: [v] for k, v in self._first.items()}
        return {k: list(many[k]) if k in many else [v] for k, v in self._first.items()}

    def __repr__(self) -> str:
        return f"MultiDict({self.to_dict()!r})"


def _pairs_to_multi(pairs: Iterable[tuple[str, str]], lower: bool = False) -> MultiDict:
    first: dict[str, str] = {}
    many: dict[str, list[str]] = {}
    for k, v in pairs:
        if k in first:
            many.setdefault(k, [first[k]]).append(v)
        else:
            first[k] = v
    return MultiDict(first, many or None, lower)


def _section(parts: list[str], at: int) -> tuple[dict[str, str], dict[str, list[str]] | None, int]:
    """One counted section of the frame at `at`: "<n>" (or "*<n>" when the host knows a name repeats), then
    n name/value pairs. Returns (first values, repeated values or None, index after the section)."""
    head = parts[at]
    start = at + 1
    if head[:1] != "*":
        n = int(head)
        end = start + 2 * n
        fast = dict(zip(parts[start:end:2], parts[start + 1:end:2]))
        if len(fast) == n:
            return fast, None, end
        # A name repeats after all (headers as received are not marked): take the slow path.
    else:
        end = start + 2 * int(head[1:])
    first: dict[str, str] = {}
    many: dict[str, list[str]] = {}
    for i in range(start, end, 2):
        k, v = parts[i], parts[i + 1]
        if k in first:
            many.setdefault(k, [first[k]]).append(v)
        else:
            first[k] = v
    return first, many or None, end


class Request:
    """One request, already parsed by the host. ``body`` is bytes (``b""`` when there was none).
    headers, query, cookies and params are built from the host's frame on first use."""

    __slots__ = ("method", "path", "raw_query", "protocol", "scheme", "host", "remote", "body", "_parts",
                 "_headers", "_query", "_cookies", "_params", "_next", "_done")

    method: str
    path: str
    raw_query: str
    protocol: str
    scheme: str
    host: str
    remote: str
    body: bytes

    def _read_to(self, n: int) -> None:
        """Decodes sections up to the n-th (0 headers, 1 query, 2 cookies, 3 params): each starts where the
        previous one ended, so reading params reads the sections before it too."""
        done = self._done
        if done > n:
            return
        parts, at = self._parts, self._next
        while done <= n:
            first, many, at = _section(parts, at)
            if done == 0:
                self._headers = MultiDict(first, many, True)
            elif done == 1:
                self._query = MultiDict(first, many)
            elif done == 2:
                self._cookies = first
            else:
                self._params = first
            done += 1
        self._next, self._done = at, done

    @property
    def headers(self) -> MultiDict:
        if self._headers is None:
            self._read_to(0)
        return self._headers  # type: ignore[return-value]

    @property
    def query(self) -> MultiDict:
        if self._query is None:
            self._read_to(1)
        return self._query  # type: ignore[return-value]

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            self._read_to(2)
        return self._cookies  # type: ignore[return-value]

    @property
    def params(self) -> dict[str, str]:
        if self._params is None:
            self._read_to(3)
        return self._params  # type: ignore[return-value]

    @params.setter
    def params(self, value: dict[str, str]) -> None:
        self._read_to(3)
        self._params = value

    @classmethod
    def make(cls, method: str = "GET", path: str = "/", query: str = "", headers: dict[str, str] | None = None,
             body: bytes = b"", params: dict[str, str] | None = None) -> "Request":
        """A request built by hand (for unit tests of an app outside the server)."""
        self = cls.__new__(cls)
        self.method, self.path, self.raw_query = method, path, query
        self.protocol, self.scheme, self.host, self.remote = "h1", "http", "localhost", "127.0.0.1"
        self._parts, self._next, self._done = [], 0, 4
        self._headers = _pairs_to_multi(((k.lower(), v) for k, v in (headers or {}).items()), True)
        self._query = _pairs_to_multi(parse_qsl(query, keep_blank_values=True))
        self._cookies = {}
        self._params = dict(params or {})
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
    def html(s: str, status: int = 200) -> "Response":
        return _typed(s, status, "text/html; charset=utf-8")

    @staticmethod
    def json(value: Any, status: int = 200) -> "Response":
        return _typed(_dumps(value), status, _JSON)

    @staticmethod
    def bytes(b: bytes | bytearray | memoryview, status: int = 200) -> "Response":
        return Response(bytes(b), status, [("content-type", _OCTETS)])

    @staticmethod
    def redirect(url: str, status: int = 302) -> "Response":
        return Response(None, status, [("location", url)])

    def __repr__(self) -> str:
        return f"<Response {self.status}>"


_new = object.__new__


def _request_from_frame(frame: str, body: bytes) -> Request:
    """The host's frame: 7 fixed fields, then counted sections of headers, query, cookies and params,
    NUL-separated (a frame starting with "[" is the same list as JSON, used when a value has a NUL).
    A plain function, not a classmethod: the host calls it once per request."""
    parts = _json.loads(frame) if frame[:1] == "[" else frame.split("\0")
    self = _new(Request)
    self.method, self.path, self.raw_query, self.protocol, self.scheme, self.host, self.remote = parts[:7]
    self.body = body
    self._parts = parts
    self._next = 7  # where the next unread section starts
    self._done = 0  # sections decoded so far
    self._headers = self._query = self._cookies = self._params = None
    return self


def _typed(body: Any, status: int, content_type: str) -> Response:
    """A Response with one content-type header, built without __init__'s header normalisation: the helpers
    are on every request's path, and in WebAssembly each Python-level step counts."""
    r = _new(Response)
    r.status = status
    r.headers = [("content-type", content_type)]
    r.body = body
    return r


def _make_dumps() -> Callable[[Any], str]:
    """json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False), built once: dumps with
    options makes a JSONEncoder and a C encoder per call, which in WebAssembly costs more than the encoding
    of a small answer. The C encoder itself is made per call: its circular-reference markers must start
    empty (without them a self-referencing value overflows WebAssembly's stack instead of raising)."""
    encoder = _json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    from json import encoder as _enc

    make = getattr(_enc, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    default, escape, join = encoder.default, _enc.encode_basestring, "".join

    def dumps(value: Any) -> str:
        return join(make({}, default, escape, None, ":", ",", False, False, False)(value, 0))

    return dumps


_dumps = _make_dumps()


def text(s: str, status: int = 200) -> Response:
    """A text/plain answer (also ``Response.text``): _typed written out, one call shorter, as most
    handlers return one."""
    r = _new(Response)
    r.status = status
    r.headers = [("content-type", _TEXT)]
    r.body = s
    return r


Response.text = staticmethod(text)  # type: ignore[attr-defined]

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

def _flat(headers: Any) -> list[str]:
    """Headers (a dict of value or list of values, or (name, value) pairs) as [name, value, name, value...]."""
    out: list[str] = []
    if not headers:
        return out
    for k, v in headers.items() if isinstance(headers, dict) else headers:
        k = k if type(k) is str else str(k)
        if isinstance(v, (list, tuple)):
            for x in v:
                out += (k, x if type(x) is str else str(x))
        else:
            out += (k, v if type(v) is str else str(v))
    return out


_TEXT_HEADERS = ["content-type", _TEXT]
_OCTET_HEADERS = ["content-type", _OCTETS]
_JSON_HEADERS = ["content-type", _JSON]


def answer(result: Any) -> tuple[int, list[str], Any]:
    """Turns what a handler returned into (status, [name, value, ...], body) where body is str, bytes or
    None. A str is text/plain; bytes octet-stream; a Response or a dict {status, headers, body} as given;
    a (body, status[, headers]) tuple like Flask; None is 204; other values JSON."""
    if type(result) is str:
        return 200, _TEXT_HEADERS, result
    if isinstance(result, Response):
        status, flat, body = result.status, _flat(result.headers), result.body
    elif type(result) is dict and result and result.keys() <= {"status", "headers", "body"}:
        status, flat, body = result.get("status", 200), _flat(result.get("headers")), result.get("body")
    elif isinstance(result, str):
        return 200, _TEXT_HEADERS, str(result)
    elif isinstance(result, (bytes, bytearray, memoryview)):
        return 200, _OCTET_HEADERS, bytes(result)
    elif isinstance(result, tuple) and 2 <= len(result) <= 3 and isinstance(result[1], int):
        _, inner, body = answer(result[0])
        extra = _flat(result[2]) if len(result) == 3 else []
        names = {extra[i].lower() for i in range(0, len(extra), 2)}
        flat = [x for i in range(0, len(inner), 2) if inner[i].lower() not in names for x in inner[i:i + 2]]
        return result[1], flat + extra, body
    elif result is None:
        return 204, [], None
    else:
        return 200, _JSON_HEADERS, _dumps(result)
    if type(status) is not int:
        raise TypeError(f"status must be an int, got {status!r}")
    if body is None or type(body) is str or type(body) is bytes:
        pass
    elif isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    elif isinstance(body, str):
        body = str(body)
    else:
        body = _dumps(body)
        if not any(flat[i].lower() == "content-type" for i in range(0, len(flat), 2)):
            flat = flat + _JSON_HEADERS
    return status, flat, body
