"""HTTP/2 abuse (issue 9): each attack is bounded — the abusive connection is refused or closed,
the server's memory stays bounded, and another client keeps being served meanwhile.

Frames are written with the `h2` library (or by hand where h2 refuses to produce them) on a raw
TLS socket with ALPN h2.
"""
from __future__ import annotations

import os
import socket
import ssl
import struct
import threading
import time
from typing import Any, Callable

import h2.config
import h2.connection
import h2.events
import httpx
import pytest

CONFIG = {"sites": [{"routes": [{"path": "/*", "respond": {"body": "ok\n"}}]}]}
MAX_STREAMS = 250  # what the server advertises (SETTINGS_MAX_CONCURRENT_STREAMS)


@pytest.fixture(scope="module")
def server(anomaly_server_module) -> Any:
    return anomaly_server_module(CONFIG)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def h2_socket(server) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(server.ca_path))
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", server.tls_port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    assert s.selected_alpn_protocol() == "h2"
    return s


def new_conn(s: ssl.SSLSocket) -> h2.connection.H2Connection:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    s.sendall(conn.data_to_send())
    return conn


HEADERS = [(":method", "GET"), (":path", "/"), (":scheme", "https"), (":authority", "localhost")]


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def read_until_closed(s: ssl.SSLSocket, conn: h2.connection.H2Connection, seconds: float) -> list[Any]:
    """Feeds what the server sends into `conn` until it closes the connection or `seconds` pass."""
    events: list[Any] = []
    s.settimeout(0.5)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, ssl.SSLError, OSError):
            break
        if not data:
            break
        try:
            events += conn.receive_data(data)
        except Exception:  # noqa: BLE001 - a protocol error on our side ends the reading too
            break
    return events


class Bystander:
    """Another client doing ordinary HTTP/2 requests while an attack runs; counts its outcomes."""

    def __init__(self, server) -> None:
        self.ok = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(server,), daemon=True)

    def _run(self, server) -> None:
        with httpx.Client(http2=True, verify=str(server.ca_path), timeout=5) as client:
            while not self._stop.is_set():
                try:
                    r = client.get(server.tls_url + "/")
                    if r.status_code == 200:
                        self.ok += 1
                    else:
                        self.failed += 1
                except httpx.HTTPError:
                    self.failed += 1
                time.sleep(0.01)

    def __enter__(self) -> "Bystander":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bounded(server, attack: Callable[[], None], suite_note, name: str, max_growth_mib: float = 64) -> None:
    before = rss_mib(server.proc.pid)
    cpu0, t0 = cpu_seconds(server.proc.pid), time.monotonic()
    with Bystander(server) as other:
        attack()
        time.sleep(0.5)
    after = rss_mib(server.proc.pid)
    cpu = cpu_seconds(server.proc.pid) - cpu0
    suite_note(f"h2 {name}: RSS {before:.0f} -> {after:.0f} MiB; server CPU {cpu:.2f} s over {time.monotonic() - t0:.1f} s; "
               f"bystander {other.ok} ok, {other.failed} failed")
    assert other.ok > 0 and other.failed == 0, f"bystander: {other.ok} ok, {other.failed} failed"
    assert after - before < max_growth_mib
    # And the server still answers a fresh client.
    assert httpx.get(server.tls_url + "/", verify=str(server.ca_path)).status_code == 200


def test_rapid_reset_is_bounded(server, suite_note) -> None:
    """CVE-2023-44487: streams opened and reset at once, many thousand times."""
    def attack() -> None:
        s = h2_socket(server)
        conn = new_conn(s)
        try:
            for i in range(20_000):
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, HEADERS, end_stream=True)
                conn.reset_stream(sid)
                if i % 100 == 0:
                    s.sendall(conn.data_to_send())
            s.sendall(conn.data_to_send())
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass  # the server gave up on us: that is the point
        events = read_until_closed(s, conn, 5)
        s.close()
        goaway = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
        suite_note(f"h2 rapid reset: server sent GOAWAY {[int(g.error_code) for g in goaway]}")
    bounded(server, attack, suite_note, "rapid reset")


def test_continuation_flood_is_bounded(server, suite_note) -> None:
    """CVE-2024-27983 family: a HEADERS frame followed by endless CONTINUATION frames."""
    def attack() -> None:
        s = h2_socket(server)
        conn = new_conn(s)
        s.sendall(conn.data_to_send())
        first = conn.encoder.encode(HEADERS)
        # HEADERS without END_HEADERS (flags: END_STREAM only), then CONTINUATION frames of junk fields.
        junk = conn.encoder.encode([("x-junk", "a" * 1000)])
        data = frame(0x1, 0x1, 1, first)
        sent = 0
        try:
            s.sendall(data)
            for _ in range(20_000):  # ~20 MB of header block
                s.sendall(frame(0x9, 0x0, 1, junk))
                sent += len(junk)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        suite_note(f"h2 CONTINUATION flood: {sent // 1024} KiB of header block sent before the server stopped reading")
        s.close()
    bounded(server, attack, suite_note, "CONTINUATION flood")


def test_settings_flood_is_bounded(server, suite_note) -> None:
    def attack() -> None:
        s = h2_socket(server)
        conn = new_conn(s)
        try:
            for _ in range(50_000):
                s.sendall(frame(0x4, 0x0, 0, struct.pack(">HI", 0x3, 100)))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        read_until_closed(s, conn, 3)
        s.close()
    bounded(server, attack, suite_note, "SETTINGS flood")


def test_ping_flood_is_bounded(server, suite_note) -> None:
    """PINGs sent without ever reading the ACKs."""
    def attack() -> None:
        s = h2_socket(server)
        new_conn(s)
        try:
            for i in range(100_000):
                s.sendall(frame(0x6, 0x0, 0, struct.pack(">Q", i)))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        s.close()
    bounded(server, attack, suite_note, "PING flood")


def test_too_many_streams_are_refused(server, suite_note) -> None:
    """More concurrent streams than advertised: the extra ones are refused, the connection lives."""
    s = h2_socket(server)
    conn = new_conn(s)
    events = read_until_closed(s, conn, 1)
    advertised = [e.changed_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS) for e in events if isinstance(e, h2.events.RemoteSettingsChanged)]
    assert advertised and advertised[0] is not None and advertised[0].new_value == MAX_STREAMS
    # Open streams without ending them (no END_STREAM), past the limit, ignoring our own h2 state's cap.
    conn.update_settings({})
    enc = conn.encoder
    block = enc.encode([*HEADERS[:1], (":path", "/"), *HEADERS[2:]])
    payload = b"".join(frame(0x1, 0x4, 2 * i + 1, block if i == 0 else enc.encode(HEADERS)) for i in range(MAX_STREAMS + 50))
    s.sendall(payload)
    s.settimeout(2)
    seen = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            seen += chunk
    except (socket.timeout, ssl.SSLError, OSError):
        pass
    # Count RST_STREAM frames with REFUSED_STREAM (0x7) in what came back.
    refused = 0
    i = 0
    while i + 9 <= len(seen):
        length = int.from_bytes(seen[i:i + 3], "big")
        kind = seen[i + 3]
        if kind == 0x3 and seen[i + 9:i + 13] == struct.pack(">I", 0x7):
            refused += 1
        i += 9 + length
    s.close()
    suite_note(f"h2 streams past the limit ({MAX_STREAMS}): {refused} of 50 refused with REFUSED_STREAM")
    assert refused >= 50
