"""Fault: the disk cache's filesystem is full (issue 9). Answers keep flowing (served, just not
stored), nothing half-written is left behind, one warning line says why, and once there is room
again entries are stored as before.

The full disk is a 256 KiB tmpfs mounted for the test (root only; CI runs as root).
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import IN_CI


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Any:
    mount = tmp_path / "full"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True, text=True)
    if r.returncode != 0:
        message = f"REQUIRED CAPABILITY MISSING: cannot mount a tmpfs to fill ({r.stderr.strip() or r.returncode})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_disk_full_serves_without_storing(anomaly_server, tiny_fs: Path) -> None:
    big = "x" * 150_000  # two of these do not fit in 256 KiB
    server = anomaly_server({
        "caches": {"disk": {"store": "disk", "path": str(tiny_fs / "cache")}},
        "sites": [{"routes": [
            {"path": "/big/*", "respond": {"body": big, "headers": {"cache-control": "max-age=600"}}, "cache": {"zone": "disk"}},
            {"path": "/small/*", "respond": {"body": "small\n", "headers": {"cache-control": "max-age=600"}}, "cache": {"zone": "disk"}},
        ]}],
    })
    with httpx.Client(timeout=10) as c:
        statuses = [c.get(f"{server.plain_url}/big/{i}") for i in range(6)]
        assert all(r.status_code == 200 and r.text == big for r in statuses)
        # The disk filled up after the first object: later ones are answered but not stored.
        again = [c.get(f"{server.plain_url}/big/{i}") for i in range(6)]
        assert all(r.status_code == 200 and r.text == big for r in again)
        hits = sum("hit" in r.headers.get("cache-status", "") for r in again)
        assert hits <= 1, [r.headers.get("cache-status") for r in again]
    line = server.wait_for_log(lambda l: "store operation failed" in l["msg"], timeout=5)
    assert line["code"] == "ENOSPC" and line["level"] == 40
    # No temporary files left behind once the background writes (started after each answer) are over:
    # a write of the second batch may still be in flight when the first failure's line shows up.
    def leftovers() -> list[Path]:
        return [p for p in (tiny_fs / "cache").rglob("*") if p.is_file() and p.parent.name == "tmp"]
    deadline = time.monotonic() + 3
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers() == []
    # Room again: small entries are stored (a MISS, then a HIT).
    for p in (tiny_fs / "cache").rglob("*"):
        if p.is_file():
            os.unlink(p)
    with httpx.Client(timeout=10) as c:
        first = c.get(f"{server.plain_url}/small/a")
        assert first.status_code == 200
        # The store writes in the background, after the answer went out: poll for the hit.
        deadline = time.monotonic() + 3
        while True:
            second = c.get(f"{server.plain_url}/small/a")
            if "hit" in second.headers.get("cache-status", "") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert second.status_code == 200
    assert "hit" in second.headers.get("cache-status", ""), second.headers.get("cache-status")
