"""A small HTTP/3 client over aioquic for the conformance tests and bench/h3load.py.

One `H3Client` is one QUIC connection; `request()` may be called concurrently (one stream each).
"""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Any, Optional

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamReset


@dataclass
class H3Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    trailers: list[tuple[str, str]] = field(default_factory=list)
    reset_code: Optional[int] = None

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k == name:
                return v
        return None


class _Pending:
    def __init__(self) -> None:
        self.headers: Optional[list[tuple[str, str]]] = None
        self.trailers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reset_code: Optional[int] = None


class _H3Connection(H3Connection):
    """aioquic checks content-length against DATA on every response, even HEAD's (RFC 9110 §9.3.2
    lets a HEAD response carry the length of the body it omits): skip the check for HEAD streams."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_streams: set[int] = set()

    def _check_content_length(self, stream: Any) -> None:
        if stream.stream_id not in self.head_streams:
            super()._check_content_length(stream)


class H3Protocol(QuicConnectionProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = _H3Connection(self._quic)
        self.pending: dict[int, _Pending] = {}
        self.terminated: Optional[ConnectionTerminated] = None
        self.closed_event = asyncio.Event()

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            self.terminated = event
            self.closed_event.set()
            for p in self.pending.values():
                if not p.done.done():
                    p.done.set_exception(ConnectionError(f"connection closed: 0x{event.error_code:x} {event.reason_phrase!r}"))
        elif isinstance(event, StreamReset):
            p = self.pending.get(event.stream_id)
            if p is not None and not p.done.done():
                p.reset_code = event.error_code
                p.done.set_result(None)
        for h3_event in self.h3.handle_event(event):
            self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        p = self.pending.get(getattr(event, "stream_id", -1))
        if p is None:
            return
        if isinstance(event, HeadersReceived):
            decoded = [(k.decode("latin1"), v.decode("latin1")) for k, v in event.headers]
            if p.headers is None:
                p.headers = decoded
            else:
                p.trailers = decoded
        elif isinstance(event, DataReceived):
            p.body.extend(event.data)
        if getattr(event, "stream_ended", False) and not p.done.done():
            p.done.set_result(None)

    async def request(self, method: str, authority: str, path: str, headers: Optional[list[tuple[str, str]]] = None,
                      body: bytes = b"", chunk: int = 64 * 1024) -> H3Response:
        stream_id = self._quic.get_next_available_stream_id()
        p = _Pending()
        self.pending[stream_id] = p
        if method == "HEAD":
            self.h3.head_streams.add(stream_id)
        fields = [(b":method", method.encode()), (b":scheme", b"https"), (b":authority", authority.encode()),
                  (b":path", path.encode())]
        fields += [(k.encode(), v.encode()) for k, v in (headers or [])]
        self.h3.send_headers(stream_id, fields, end_stream=not body)
        self.transmit()
        offset = 0
        while offset < len(body):
            piece = body[offset:offset + chunk]
            offset += len(piece)
            self.h3.send_data(stream_id, piece, end_stream=offset >= len(body))
            self.transmit()
            await asyncio.sleep(0)
        await p.done
        del self.pending[stream_id]
        status = int(dict(p.headers or []).get(":status", "0"))
        return H3Response(status, [(k, v) for k, v in (p.headers or []) if not k.startswith(":")], bytes(p.body),
                          p.trailers, p.reset_code)


def client_configuration(ca_path: Optional[str] = None, verify: bool = True) -> QuicConfiguration:
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name="localhost")
    if ca_path is not None:
        config.load_verify_locations(ca_path)
    if not verify:
        config.verify_mode = ssl.CERT_NONE
    config.max_stream_data = 1 << 20
    config.max_data = 16 << 20
    return config


def h3_connect(host: str, port: int, ca_path: Optional[str] = None, verify: bool = True, wait_connected: bool = True):
    """`async with h3_connect(...) as client:` -> H3Protocol."""
    return connect(host, port, configuration=client_configuration(ca_path, verify), create_protocol=H3Protocol,
                   wait_connected=wait_connected)
