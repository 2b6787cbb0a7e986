"""The command line: `anomaly check`, `anomaly serve` (embedded demo, --static) and config reload."""
from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from conftest import IN_CI, AnomalyServer, free_port, require_tool, run_anomaly, ssl_context

PROBLEM_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<field>[^:\s]+): (?P<message>.+)$")

GOOD_YAML = """\
listen:
  tls: 8443
  plain: 8080
sites:
  - hosts: [localhost]
    routes:
      - path: /hello
        methods: [GET, HEAD]
        respond: { status: 200, body: "hello\\n" }
      - path: /old/*
        redirect: { to: /new/, status: 301 }
"""

# Problems on known lines: listen.tls (line 2) is not a port; the respond status (line 7) is out of range.
BAD_YAML = """\
listen:
  tls: "not a port"
sites:
  - hosts: [localhost]
    routes:
      - path: /hello
        respond: { status: 99 }
"""


# ------------------------------------------------------------------------------------------ check

def test_check_good_config(tmp_path: Path) -> None:
    cfg = tmp_path / "good.yaml"
    cfg.write_text(GOOD_YAML)
    r = run_anomaly("check", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == f"ok: {cfg}\n"


def test_check_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(BAD_YAML)
    r = run_anomaly("check", str(cfg))
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    assert lines, "no problem reported"
    problems = []
    for line in lines:
        m = PROBLEM_LINE.match(line)
        assert m, f"not in 'file:line:col: field: message' form: {line!r}"
        problems.append(m)
    assert all(m["file"] == str(cfg) for m in problems), lines
    by_line = {int(m["line"]): m for m in problems}
    assert 2 in by_line and by_line[2]["field"] == "listen.tls", lines
    assert 7 in by_line and by_line[7]["field"].endswith("respond.status"), lines


def test_check_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    r = run_anomaly("check", str(missing))
    assert r.returncode == 1
    out = (r.stdout + r.stderr).strip()
    assert str(missing) in out
    assert "Error:" not in out and "    at " not in out, f"stack trace instead of a message:\n{out}"


def test_check_yaml_syntax_error(tmp_path: Path) -> None:
    cfg = tmp_path / "syntax.yaml"
    cfg.write_text("sites:\n  - routes: [\n")
    r = run_anomaly("check", str(cfg))
    assert r.returncode == 1
    out = (r.stdout + r.stderr).strip()
    assert out.startswith(f"{cfg}:"), out
    assert "    at " not in out, f"stack trace instead of a message:\n{out}"


def test_check_usage() -> None:
    r = run_anomaly("check")
    assert r.returncode == 2
    assert "usage" in r.stderr.lower()


def test_unknown_command() -> None:
    r = run_anomaly("frobnicate")
    assert r.returncode == 2
    assert "frobnicate" in r.stderr


# --------------------------------------------------------------------------- serve: embedded demo

def _port_busy(port: int) -> bool:
    for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.create_connection((addr, port), timeout=0.3):
                return True
        except OSError:
            pass
        del family
    return False


def _curl(curl: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([curl, "-sS", "-w", "\n%{http_version} %{http_code}", *args],
                          capture_output=True, text=True, timeout=20)


@pytest.mark.fixed_ports
def test_demo_serve_without_config(anomaly_process, tmp_path: Path) -> None:
    """`npm start`: the embedded demo on 8443 (TLS: h2 + h1) and 8080, with a CA under ANOMALY_DATA_DIR."""
    curl = require_tool("curl")
    busy = [p for p in (8443, 8080) if _port_busy(p)]
    if busy:
        message = f"ports {busy} are busy: the demo test needs 8443 and 8080"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    data_dir = tmp_path / "data"
    ca = data_dir / "pki" / "anomaly-local-ca.pem"
    demo = anomaly_process(["serve"], env={"ANOMALY_DATA_DIR": str(data_dir)}, ready_ports=(8443, 8080), ready_files=(ca,))

    h1 = _curl(curl, "--http1.1", "-k", "https://localhost:8443/hello")
    assert h1.returncode == 0, h1.stderr
    assert h1.stdout == "hello from anomaly\n\n1.1 200"
    h2 = _curl(curl, "--http2", "-k", "https://localhost:8443/hello")
    assert h2.returncode == 0, h2.stderr
    assert h2.stdout == "hello from anomaly\n\n2 200"
    verified = _curl(curl, "--http2", "--cacert", str(ca), "https://localhost:8443/")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.endswith("\n2 200")
    assert "<html" in verified.stdout.lower(), "the demo site's index page"
    plain = _curl(curl, "http://localhost:8080/hello")
    assert plain.stdout == "hello from anomaly\n\n1.1 200"

    # With worker processes (the default) the ports accept as soon as one worker listens; the
    # supervisor prints the URLs once every worker serves.
    demo.wait_for_log(lambda l: "https://localhost:8443/" in str(l), timeout=30)
    text = "\n".join(demo.output())
    assert "https://localhost:8443/" in text, "the startup output names the URL"
    assert str(ca) in text, "the startup output names the CA path"
    demo.wait_for_log(lambda _: len(demo.access_log()) >= 4, timeout=5)
    # Each worker writes its own access lines: compare as a multiset, not in order.
    paths = sorted(l.get("path") for l in demo.access_log())
    assert paths == ["/", "/hello", "/hello", "/hello"], paths
    assert demo.stop() == 0


def test_serve_static_dir(anomaly_process, tmp_path: Path, anomaly_storage: Path) -> None:
    """`anomaly serve --static DIR --port N`: zero-config static site over TLS."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>t</title>static index\n")
    (site / "a.txt").write_text("file a\n")
    port = free_port()
    ca = anomaly_storage / "pki" / "anomaly-local-ca.pem"
    proc = anomaly_process(["serve", "--static", str(site), "--port", str(port)], ready_ports=(port,), ready_files=(ca,))
    with httpx.Client(verify=ssl_context(ca), http2=True, timeout=10) as c:
        index = c.get(f"https://localhost:{port}/")
        a = c.get(f"https://localhost:{port}/a.txt")
        missing = c.get(f"https://localhost:{port}/missing.txt")
    assert index.status_code == 200 and "static index" in index.text
    assert index.http_version == "HTTP/2"
    assert a.status_code == 200 and a.text == "file a\n"
    assert missing.status_code == 404
    assert proc.stop() == 0


# ------------------------------------------------------------------------------------------ reload

def _site(body: str) -> dict:
    return {"sites": [{"routes": [{"path": "/hello", "respond": {"body": body}}]}]}


def test_sighup_reload_applies_new_config(anomaly_server) -> None:
    srv: AnomalyServer = anomaly_server(_site("one\n"))
    with httpx.Client(timeout=10) as c:
        assert c.get(f"{srv.plain_url}/hello").text == "one\n"
        line = srv.reload(_site("two\n"))
        assert line is not None, f"no reload log line after SIGHUP\n{srv.describe()}"
        assert int(line.get("level", 30)) < 50, f"reload failed: {line}"
        assert c.get(f"{srv.plain_url}/hello").text == "two\n"
    with httpx.Client(verify=ssl_context(srv.ca_path), http2=True, timeout=10) as c:
        assert c.get(f"{srv.tls_url}/hello").text == "two\n"
    assert srv.running


def test_sighup_with_invalid_config_keeps_old_one(anomaly_server) -> None:
    srv: AnomalyServer = anomaly_server(_site("one\n"))
    bad = {"sites": [{"routes": [{"path": "/hello", "respond": {"status": 99}}]}]}
    line = srv.reload(bad)
    assert line is not None, f"nothing logged after SIGHUP with an invalid config\n{srv.describe()}"
    assert int(line.get("level", 0)) >= 50, f"an invalid config must be logged as an error: {line}"
    assert "status" in json.dumps(line), f"the error should name the bad field: {line}"
    assert srv.running
    with httpx.Client(timeout=10) as c:
        assert c.get(f"{srv.plain_url}/hello").text == "one\n"
    # And a later valid config is still picked up.
    good = srv.reload(_site("three\n"))
    assert good is not None and int(good.get("level", 30)) < 50, json.dumps(good)
    with httpx.Client(timeout=10) as c:
        assert c.get(f"{srv.plain_url}/hello").text == "three\n"


def test_reload_keeps_existing_connections(anomaly_server) -> None:
    """A keep-alive connection opened before the reload is served by the new config afterwards."""
    srv: AnomalyServer = anomaly_server(_site("before\n"))
    with httpx.Client(verify=ssl_context(srv.ca_path), http2=True, timeout=10) as c:
        assert c.get(f"{srv.tls_url}/hello").text == "before\n"
        srv.reload(_site("after\n"))
        r = c.get(f"{srv.tls_url}/hello")
    assert r.status_code == 200
    assert r.text == "after\n"


def test_sigterm_exit_code(anomaly_server) -> None:
    srv: AnomalyServer = anomaly_server(_site("x\n"))
    assert srv.proc is not None
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(15) == 0, srv.describe()
