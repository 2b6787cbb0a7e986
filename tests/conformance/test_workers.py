"""Worker processes (issue 8): a supervisor and N workers sharing the listening sockets.

Reloads are rolled through the workers, a crashed worker is restarted, SIGUSR2 replaces every
worker (a binary upgrade), and none of it drops a request of a client under load.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest


def config(body: str = "v0\n", workers: int = 2) -> dict[str, Any]:
    return {
        "workers": workers,
        "log": {"format": "json", "level": "info", "access": True},
        "sites": [{"routes": [{"path": "/", "respond": {"body": body}}]}],
    }


def serving_line(server) -> dict[str, Any]:
    return server.wait_for_log(lambda l: "worker processes serving" in l["msg"], timeout=30)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def get(url: str) -> httpx.Response:
    # A new connection per request, so the kernel picks a worker each time.
    with httpx.Client(http2=False, timeout=5) as client:
        return client.get(url, headers={"connection": "close"})


def test_workers_share_the_ports_and_both_serve(anomaly_server) -> None:
    server = anomaly_server(config())
    line = serving_line(server)
    pids = line["pids"]
    assert len(pids) == 2 and all(alive(p) for p in pids)
    assert server.proc.pid not in pids
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: get(server.plain_url + "/").status_code, range(200)))
    assert statuses == [200] * 200
    # Every request was answered by a worker (the pid in the access log), and both took some.
    wait_until(lambda: len(server.access_log()) >= 200, 5, "200 access-log lines")
    served_by = {l["pid"] for l in server.access_log()}
    assert served_by <= set(pids)
    assert served_by == set(pids), f"one worker took every connection: {served_by}"
    # TLS is shared the same way.
    assert httpx.get(server.tls_url + "/", verify=str(server.ca_path)).text == "v0\n"
    # Workers run without V8's memory reducer (its idle-time GCs slowed a worker for life: supervisor.ts).
    for pid in pids:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert b"--no-memory-reducer" in f.read().split(b"\0"), f"worker {pid} runs with the memory reducer"


def test_keep_alive_connections_opened_at_once_are_spread_evenly(anomaly_server) -> None:
    """The default round-robin accept: a burst of keep-alive connections (wrk -c50's start) must not
    pile onto the first worker awake, which held a 2-worker server to 0.62-0.76x a node cluster's
    req/s in bench/run.mjs (0.89x with round-robin)."""
    server = anomaly_server(config())
    serving_line(server)
    # Warm both workers first: a worker still busy finishing its start acknowledges handed-over
    # connections late, and the supervisor then gives the burst to the other one (31/9 once in CI).
    for _ in range(20):
        assert get(server.plain_url + "/").status_code == 200
    wait_until(lambda: len(server.access_log()) >= 20, 5, "the warm-up's access-log lines")
    warmed = len(server.access_log())
    clients = [httpx.Client(http2=False, timeout=5) for _ in range(40)]
    try:
        with ThreadPoolExecutor(40) as pool:
            statuses = list(pool.map(lambda c: c.get(server.plain_url + "/").status_code, clients))
        assert statuses == [200] * 40
    finally:
        for c in clients:
            c.close()
    wait_until(lambda: len(server.access_log()) >= warmed + 40, 5, "40 more access-log lines")
    per_worker: dict[int, int] = {}
    for l in server.access_log()[warmed:]:
        per_worker[l["pid"]] = per_worker.get(l["pid"], 0) + 1
    # The supervisor hands each connection to the next free worker: not strictly alternating, but
    # neither worker may end up with most of them (kernel accept gave 11/29 in the same test).
    assert len(per_worker) == 2 and min(per_worker.values()) >= 10, f"connections per worker: {per_worker}"


def test_kernel_accept_serves_from_every_worker(anomaly_server) -> None:
    server = anomaly_server({**config(), "worker_accept": "kernel"})
    pids = serving_line(server)["pids"]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: get(server.plain_url + "/").status_code, range(100)))
    assert statuses == [200] * 100
    wait_until(lambda: len(server.access_log()) >= 100, 5, "100 access-log lines")
    assert {l["pid"] for l in server.access_log()} <= set(pids)


def test_crashed_worker_is_restarted(anomaly_server) -> None:
    server = anomaly_server(config())
    victim, other = serving_line(server)["pids"]
    mark = len(server.log_lines())
    os.kill(victim, signal.SIGKILL)
    crash = server.wait_for_log(lambda l: "exited unexpectedly" in l["msg"], timeout=10, start=mark)
    assert crash["signal"] == "SIGKILL" and crash["level"] == 50
    restarted = server.wait_for_log(lambda l: "restarted" in l["msg"], timeout=30, start=mark)
    assert alive(restarted["pid"]) and restarted["pid"] not in (victim, other)
    assert alive(other)
    assert all(get(server.plain_url + "/").status_code == 200 for _ in range(20))


def test_bad_reload_keeps_every_worker_on_the_old_config(anomaly_server) -> None:
    server = anomaly_server(config("old\n"))
    serving_line(server)
    bad = config("new\n")
    bad["sites"][0]["routes"][0]["respond"]["status"] = "not a status"
    line = server.reload(bad)
    assert line is not None and line["level"] >= 50 and "not reloaded" in line["msg"]
    assert {get(server.plain_url + "/").text for _ in range(20)} == {"old\n"}
    line = server.reload(config("new\n"))
    assert line is not None and line["msg"] == "configuration reloaded", line
    assert {get(server.plain_url + "/").text for _ in range(20)} == {"new\n"}


def test_reloads_worker_kill_and_upgrade_under_load_lose_nothing(anomaly_server, require_tool, suite_note) -> None:
    """Issue 8 acceptance: wrk through 10 config reloads and a worker kill: 0 socket errors, 0 non-2xx.

    Also a SIGUSR2 (every worker replaced by a fresh process) in the same run.
    """
    wrk = require_tool("wrk")
    server = anomaly_server(config("v0\n"))
    first_pids = serving_line(server)["pids"]
    load = subprocess.Popen([wrk, "-t2", "-c16", "-d14s", server.plain_url + "/"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1)
        for i in range(1, 11):
            line = server.reload(config(f"v{i}\n"), timeout=20)
            assert line is not None and line["msg"] == "configuration reloaded", line
        mark = len(server.log_lines())
        os.kill(first_pids[0], signal.SIGTERM)  # a worker told to stop by someone else: drains, exits, comes back
        server.wait_for_log(lambda l: "restarted" in l["msg"], timeout=30, start=mark)
        mark = len(server.log_lines())
        server.proc.send_signal(signal.SIGUSR2)
        replaced = server.wait_for_log(lambda l: l["msg"] == "every worker replaced", timeout=40, start=mark)
        out, _ = load.communicate(timeout=40)
    finally:
        if load.poll() is None:
            load.kill()
    assert not set(replaced["pids"]) & set(first_pids)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    suite_note(f"workers under wrk: {total} requests through 10 reloads, a worker SIGTERM and a SIGUSR2; "
               f"socket errors: {errors.group(1) if errors else 'none'}; non-2xx: {non2xx.group(1) if non2xx else 0}")
    assert errors is None, out
    assert non2xx is None, out
    assert total > 1000
    assert get(server.plain_url + "/").text == "v10\n"


def test_sigterm_stops_the_supervisor_and_every_worker(anomaly_server) -> None:
    server = anomaly_server(config())
    pids = serving_line(server)["pids"]
    assert server.stop() == 0
    wait_until(lambda: not any(alive(p) for p in pids), 5, "the workers to exit")


def test_workers_flag_overrides_the_config(anomaly_process, tmp_path, anomaly_storage) -> None:
    from conftest import free_port

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>hi</h1>\n")
    port = free_port()
    ca = anomaly_storage / "pki" / "anomaly-local-ca.pem"
    proc = anomaly_process(["serve", "--static", str(site), "--port", str(port), "--workers", "3"], ready_ports=(port,), ready_files=(ca,))
    line = proc.wait_for_log(lambda l: "worker processes serving" in l["msg"], timeout=30)
    assert len(line["pids"]) == 3
    assert httpx.get(f"https://127.0.0.1:{port}/", verify=str(ca)).text == "<h1>hi</h1>\n"
