"""HTTP/1.1 request-smuggling and malformed-request corpus (used by test_http1_corpus.py).

Each case is one raw byte string sent on a fresh connection, with the answer expected from an
RFC 9112 conforming origin server and reverse proxy:

- ``status``: the first response's status code (None: no response, the connection is just closed);
- ``closes``: True when the server must close the connection after answering (framing it cannot
  trust: continuing would let the rest of the bytes be read as another request);
- ``requests``: how many requests a proxied upstream may see for it (0 for every refused case:
  a malformed request is never forwarded).

Requests go to "/c" (answered by the route under test), except where the target is the point.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    status: int | None
    closes: bool
    requests: int


def bad(name: str, raw: bytes) -> Case:
    """Refused: 400 and the connection closed, nothing forwarded."""
    return Case(name, raw, 400, True, 0)


def ok(name: str, raw: bytes, requests: int = 1, closes: bool = False) -> Case:
    return Case(name, raw, 200, closes, requests)


H = b"Host: a\r\n"
POST = b"POST /c HTTP/1.1\r\n" + H
GET = b"GET /c HTTP/1.1\r\n" + H

CASES: list[Case] = [
    # --- Content-Length / Transfer-Encoding disagreements (CL.TE, TE.CL, TE.TE) ---
    bad("cl-and-te", POST + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    bad("te-and-cl", POST + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"),
    bad("duplicate-cl-different", POST + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"),
    bad("duplicate-cl-same", POST + b"Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd"),
    bad("cl-list", POST + b"Content-Length: 4, 4\r\n\r\nabcd"),
    bad("cl-negative", POST + b"Content-Length: -1\r\n\r\n"),
    bad("cl-plus-sign", POST + b"Content-Length: +4\r\n\r\nabcd"),
    bad("cl-space-inside", POST + b"Content-Length: 1 2\r\n\r\nabcdefghijkl"),
    bad("cl-overflow", POST + b"Content-Length: 99999999999999999999\r\n\r\nabcd"),
    bad("cl-hex", POST + b"Content-Length: 0x4\r\n\r\nabcd"),
    bad("te-unknown", POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
    bad("te-chunked-not-last", POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
    bad("te-twice", POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    bad("te-identity", POST + b"Transfer-Encoding: identity\r\n\r\n"),
    bad("te-vertical-tab", POST + b"Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n"),
    bad("te-space-before-colon", POST + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    bad("te-in-http10", b"POST /c HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    # --- chunked framing ---
    bad("chunk-size-not-hex", POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
    bad("chunk-size-leading-space", POST + b"Transfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n"),
    bad("chunk-size-0x", POST + b"Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n"),
    bad("chunk-size-negative", POST + b"Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n"),
    bad("chunk-size-overflow", POST + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
    bad("chunk-data-too-long", POST + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"),
    bad("chunk-bare-lf", POST + b"Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n"),
    bad("trailer-obs-fold", POST + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n"),
    # --- header syntax ---
    bad("obs-fold", GET + b"X-A: b\r\n c\r\n\r\n"),
    bad("space-in-name", GET + b"X A: b\r\n\r\n"),
    bad("space-before-colon", GET + b"X-A : b\r\n\r\n"),
    bad("name-without-colon", GET + b"X-A\r\n\r\n"),
    bad("empty-name", GET + b": b\r\n\r\n"),
    bad("nul-in-name", GET + b"X\x00A: b\r\n\r\n"),
    bad("nul-in-value", GET + b"X-A: b\x00c\r\n\r\n"),
    bad("cr-in-value", GET + b"X-A: a\rb\r\n\r\n"),
    bad("bare-lf-line-ends", b"GET /c HTTP/1.1\nHost: a\n\n"),
    bad("bare-cr-line-end", b"GET /c HTTP/1.1\rHost: a\r\n\r\n"),
    # --- Host ---
    bad("no-host", b"GET /c HTTP/1.1\r\n\r\n"),
    bad("two-hosts", GET + b"Host: b\r\n\r\n"),
    bad("host-with-space", b"GET /c HTTP/1.1\r\nHost: a b\r\n\r\n"),
    bad("host-with-slash", b"GET /c HTTP/1.1\r\nHost: a/b\r\n\r\n"),
    bad("host-with-userinfo", b"GET /c HTTP/1.1\r\nHost: u@a\r\n\r\n"),
    # --- request line ---
    bad("invalid-method-char", b"G@T /c HTTP/1.1\r\n" + H + b"\r\n"),
    bad("lower-case-method", b"get /c HTTP/1.1\r\n" + H + b"\r\n"),
    bad("unknown-version", b"GET /c HTTP/1.2\r\n" + H + b"\r\n"),
    bad("lower-case-version", b"GET /c http/1.1\r\n" + H + b"\r\n"),
    bad("extra-token", b"GET /c HTTP/1.1 x\r\n" + H + b"\r\n"),
    bad("http-0.9", b"GET /c\r\n\r\n"),
    bad("space-in-target", b"GET /c d HTTP/1.1\r\n" + H + b"\r\n"),
    bad("del-in-target", b"GET /c\x7fd HTTP/1.1\r\n" + H + b"\r\n"),
    bad("raw-utf8-in-target", b"GET /\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n"),
    bad("fragment-in-target", b"GET /c#frag HTTP/1.1\r\n" + H + b"\r\n"),
    bad("authority-form-get", b"GET a:80 HTTP/1.1\r\n" + H + b"\r\n"),
    bad("absolute-form-userinfo", b"GET http://u@a/c HTTP/1.1\r\n" + H + b"\r\n"),
    Case("connect-to-origin", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405, True, 0),
    # Valid, if unusual: answered (and forwarded) normally.
    ok("cl-leading-zeros", POST + b"Content-Length: 004\r\n\r\nabcd"),
    ok("te-mixed-case", POST + b"Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n"),
    ok("te-trailing-space", POST + b"Transfer-Encoding: chunked \r\n\r\n0\r\n\r\n"),
    ok("te-tab", POST + b"Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n"),
    ok("chunk-extension", POST + b"Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\n\r\n"),
    ok("host-ipv6-literal", b"GET /c HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"),
    ok("absolute-form", b"GET http://a/c?x=1 HTTP/1.1\r\nHost: b\r\n\r\n"),
    ok("http-1.0-without-host", b"GET /c HTTP/1.0\r\n\r\n", closes=True),
    ok("pipelined-two", GET + b"\r\n" + GET + b"Connection: close\r\n\r\n", requests=2, closes=True),
    # The body of a GET with Content-Length is a body, not a second request.
    ok("get-with-body-holding-a-request", GET + b"Content-Length: 26\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n"),
]
