"""Shared fixtures for the conformance suite: real anomaly servers, real clients, real sockets.

Fixtures
  anomaly_server          factory, function scope: anomaly_server(config, files=None, env=None) -> AnomalyServer
  anomaly_process         factory for any other `anomaly ...` command line that keeps running -> AnomalyProcess
  anomaly_server_module   the same factory, module scope (one server shared by the tests of a module)
  require_tool            the require_tool() function below, as a fixture
  anomaly_storage         the session's storage directory (holds the local development CA)
  suite_note              suite_note(text): a line for the end-of-run summary (h2spec counts, flaky cases)

Helpers importable by test modules (``from conftest import ...``): require_tool, free_port, ssl_context,
run_anomaly, AnomalyServer, AnomalyProcess, ROOT, ANOMALY_BIN, IN_CI.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANOMALY_BIN = ROOT / "bin" / "anomaly.js"
BUILT_MAIN = ROOT / "dist" / "src" / "cli" / "main.js"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Where src/tls writes the local development CA, relative to `storage`.
CA_RELATIVE_PATH = Path("pki") / "anomaly-local-ca.pem"
# A ceiling, not a wait: a server with every app engine (pyodide, a JVM) on a busy 2-core CI
# machine was seen to need more than 20 s to open its ports.
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0
RELOAD_SETTLE = 0.5


# --------------------------------------------------------------------------------------------- tools

def _tool_candidates(name: str) -> list[str]:
    env_override = os.environ.get(name.upper().replace("-", "_"))  # e.g. H2SPEC=/path/to/h2spec
    found = [env_override] if env_override else []
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    found.append(str(ROOT / ".tools" / "bin" / name))
    return found


def require_tool(name: str) -> str:
    """Absolute path of an external tool; skips the test loudly when missing (fails when CI=true)."""
    for candidate in _tool_candidates(name):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    reason = f"REQUIRED TOOL MISSING: '{name}' is not installed (not on PATH, not in .tools/bin)"
    if IN_CI:
        pytest.fail(f"{reason}; CI=true, so this is a failure, not a skip")
    pytest.skip(f"*** {reason}: test skipped ***")


@pytest.fixture(name="require_tool")
def require_tool_fixture() -> Callable[[str], str]:
    return require_tool


# ------------------------------------------------------------------------------------------ network

def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (small race window: the server binds it just after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def ssl_context(ca_path: str | os.PathLike[str], alpn: list[str] | None = None) -> ssl.SSLContext:
    """A client context that trusts only the given CA (and verifies host names)."""
    ctx = ssl.create_default_context(cafile=str(ca_path))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def run_anomaly(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Runs a one-shot `anomaly ARGS...` (check, version) and returns the completed process (text)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("NODE_OPTIONS", None)
    return subprocess.run(["node", str(ANOMALY_BIN), *args], capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=str(ROOT), stdin=subprocess.DEVNULL)


# -------------------------------------------------------------------------------- end-of-run notes

_NOTES = pytest.StashKey[list[str]]()


@pytest.fixture
def suite_note(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """suite_note(text): a line printed in the terminal summary at the end of the run (even with -q)."""
    notes = request.config.stash.setdefault(_NOTES, [])
    return notes.append


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    notes = config.stash.get(_NOTES, [])
    if notes:
        terminalreporter.section("anomaly conformance notes")
        for line in notes:
            terminalreporter.write_line(line)


# ----------------------------------------------------------------------------------------- the build

@pytest.fixture(scope="session", autouse=True)
def anomaly_build() -> Path:
    """Every test here needs the compiled server: stop the run at once, clearly, when it is missing."""
    if not BUILT_MAIN.is_file():
        pytest.exit(
            f"anomaly is not built: {BUILT_MAIN.relative_to(ROOT)} is missing.\n"
            "Run `npm install` (its prepare script builds) or `npx tsc -p .` in the repository root, "
            "or use `npm test`, which builds first.",
            returncode=2,
        )
    if shutil.which("node") is None:
        pytest.exit("node is not on PATH: the server cannot be started", returncode=2)
    return BUILT_MAIN


@pytest.fixture(scope="session")
def anomaly_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One storage dir for the whole session, so the local CA is generated once."""
    return tmp_path_factory.mktemp("storage")


# -------------------------------------------------------------------------------------------- server

def _substitute(value: Any, placeholder: str, replacement: str) -> Any:
    if isinstance(value, str):
        return value.replace(placeholder, replacement)
    if isinstance(value, list):
        return [_substitute(v, placeholder, replacement) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, placeholder, replacement) for k, v in value.items()}
    return value


def _is_reload_line(line: Any) -> bool:
    return isinstance(line, dict) and ("reload" in str(line.get("msg", "")).lower() or int(line.get("level", 0)) >= 50)


class _OutputReader:
    """Collects a pipe's lines on a thread so the server never blocks on a full pipe."""

    def __init__(self, stream: Any, sink: list[tuple[str, str]], name: str, lock: threading.Lock) -> None:
        self._thread = threading.Thread(target=self._run, args=(stream, sink, name, lock), daemon=True)
        self._thread.start()

    @staticmethod
    def _run(stream: Any, sink: list[tuple[str, str]], name: str, lock: threading.Lock) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with lock:
                sink.append((name, line))
        stream.close()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class AnomalyProcess:
    """A running `node bin/anomaly.js ARGS...` with its output captured line by line.

    Ready when every port in `ready_ports` accepts TCP on 127.0.0.1 and every file in `ready_files`
    exists (READY_TIMEOUT s, else the test fails showing the output).
    """

    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
                 ready_ports: tuple[int, ...] = (), ready_files: tuple[Path, ...] = (), *, start: bool = True) -> None:
        self.args = args
        self.cwd = cwd or ROOT
        self.ready_ports = ready_ports
        self.ready_files = ready_files
        self._output: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._readers: list[_OutputReader] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self._terminated = False
        if start:
            self.start(env)

    # -- process -----------------------------------------------------------------------------------
    def start(self, env: dict[str, str] | None = None) -> None:
        full_env = dict(os.environ)
        full_env.pop("NODE_OPTIONS", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            ["node", str(ANOMALY_BIN), *self.args],
            cwd=str(self.cwd), env=full_env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._readers = [
            _OutputReader(self.proc.stdout, self._output, "stdout", self._lock),
            _OutputReader(self.proc.stderr, self._output, "stderr", self._lock),
        ]
        self._wait_ready()

    def _not_ready(self) -> list[str]:
        missing = [f"file {f} does not exist" for f in self.ready_files if not f.is_file()]
        missing += [f"port {p} does not accept connections" for p in self.ready_ports if not _port_accepts(p)]
        return missing

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._readers_join()
                pytest.fail(f"anomaly exited with code {self.proc.returncode} before it was ready\n{self.describe()}")
            if not self._not_ready():
                return
            time.sleep(0.05)
        missing = self._not_ready()
        self._kill()
        pytest.fail(f"anomaly not ready after {READY_TIMEOUT:.0f}s: {'; '.join(missing)}\n{self.describe()}")

    def _readers_join(self) -> None:
        for r in self._readers:
            r.join(2.0)

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._readers_join()

    # -- output ------------------------------------------------------------------------------------
    def output(self, stream: str | None = None) -> list[str]:
        """Raw captured lines, stdout and stderr interleaved in arrival order (or just one stream)."""
        with self._lock:
            return [line for name, line in self._output if stream is None or name == stream]

    def log_lines(self) -> list[Any]:
        """stdout lines so far: parsed JSON objects where they parse, raw strings otherwise."""
        parsed: list[Any] = []
        for line in self.output("stdout"):
            try:
                parsed.append(json.loads(line))
            except ValueError:
                parsed.append(line)
        return parsed

    def access_log(self) -> list[dict[str, Any]]:
        """The access-log lines (JSON, msg "request")."""
        return [l for l in self.log_lines() if isinstance(l, dict) and l.get("msg") == "request"]

    def wait_for_log(self, predicate: Callable[[Any], bool], timeout: float = 5.0, start: int = 0) -> Any:
        """The first log line (index >= start) matching predicate; fails the test on timeout.

        Exceptions in predicate (KeyError, TypeError, AttributeError) count as "no match", so
        `lambda l: l["msg"] == "x"` is fine on raw-string lines.
        """
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_lines()[start:]:
                try:
                    if predicate(line):
                        return line
                except (KeyError, TypeError, AttributeError):
                    pass
            if time.monotonic() >= deadline:
                pytest.fail(f"no matching log line within {timeout}s\n{self.describe()}")
            time.sleep(0.05)

    def describe(self, last: int = 60) -> str:
        lines = self.output()
        shown = lines[-last:]
        head = f"--- anomaly {' '.join(self.args)}: output ({len(lines)} lines, last {len(shown)}) ---"
        return "\n".join([head, *shown, "--- end of output ---"])

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        """Sends SIGTERM once (a second SIGTERM means "exit now" to anomaly, so never repeat it)."""
        if self.proc is not None and self.proc.poll() is None and not self._terminated:
            self._terminated = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM (unless already sent), wait up to `timeout` s, then SIGKILL; returns the exit code
        (negative = killed by that signal)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._readers_join()
        self.exit_code = self.proc.returncode
        return self.exit_code


class AnomalyServer(AnomalyProcess):
    """`anomaly serve <config>` on two free ports, with its own temp dir (`root`) for files."""

    def __init__(self, config: dict[str, Any], files: dict[str, bytes | str] | None, env: dict[str, str] | None,
                 storage: Path, workdir: Path) -> None:
        self.workdir = workdir
        self.root = workdir / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "anomaly.yaml"
        self.storage = storage
        self.tls_port = free_port()
        self.plain_port = free_port()
        while self.plain_port == self.tls_port:
            self.plain_port = free_port()
        self.tls_url = f"https://127.0.0.1:{self.tls_port}"
        self.plain_url = f"http://127.0.0.1:{self.plain_port}"
        self.ca_path = storage / CA_RELATIVE_PATH

        for rel, content in (files or {}).items():
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)

        self.config: dict[str, Any] = {}
        self._write_config(config)
        super().__init__(["serve", str(self.config_path)], env={"ANOMALY_DATA_DIR": str(storage), **(env or {})},
                         cwd=workdir, ready_ports=(self.tls_port, self.plain_port), ready_files=(self.ca_path,))

    def effective_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The config as written: ports, storage and JSON logs filled in, "{root}" replaced."""
        full = _substitute(copy.deepcopy(config), "{root}", str(self.root))
        listen = {"tls": self.tls_port, "plain": self.plain_port, "address": "127.0.0.1"}
        listen.update(full.get("listen") or {})
        full["listen"] = listen
        full.setdefault("storage", str(self.storage))
        # One process unless a test asks for workers: per-process state (memory caches, app
        # instances, counters) stays simple to assert on; test_workers.py covers the supervisor.
        full.setdefault("workers", 1)
        full.setdefault("log", {"format": "json", "level": "info", "access": True})
        return full

    def _write_config(self, config: dict[str, Any]) -> None:
        self.config = self.effective_config(config)
        # JSON is YAML: no PyYAML needed. Write then rename so a reload never reads half a file.
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.config, indent=2) + "\n")
        tmp.replace(self.config_path)

    def reload(self, new_config: dict[str, Any], timeout: float = 5.0) -> Any:
        """Rewrites the config file (same ports/storage) and sends SIGHUP.

        Returns the first log line after the signal that mentions a reload or is an error
        (level >= 50), or None when none came within `timeout`. anomaly also watches the file, so
        one rewrite can cause two reloads (watcher and SIGHUP): this waits until such lines stop
        coming (RELOAD_SETTLE s), so that a late line is not taken for the next reload's.
        """
        assert self.proc is not None
        mark = len(self.log_lines())
        self._write_config(new_config)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        first: Any = None
        seen = 0
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            matching = [l for l in self.log_lines()[mark:] if _is_reload_line(l)]
            if len(matching) != seen:
                seen, last_change = len(matching), time.monotonic()
                first = first or matching[0]
            elif first is not None and time.monotonic() - last_change >= RELOAD_SETTLE:
                break
            time.sleep(0.05)
        return first


ServerFactory = Callable[..., AnomalyServer]


class ServerPool:
    """Starts servers in per-server temp dirs; stops every one of them at teardown."""

    def __init__(self, storage: Path, tmp_root: Path) -> None:
        self.storage = storage
        self.tmp_root = tmp_root
        self.servers: list[AnomalyProcess] = []

    def start(self, config: dict[str, Any], files: dict[str, bytes | str] | None = None,
              env: dict[str, str] | None = None) -> AnomalyServer:
        workdir = Path(tempfile.mkdtemp(prefix="srv-", dir=self.tmp_root))
        server = AnomalyServer(config, files, env, self.storage, workdir)
        self.servers.append(server)
        return server

    def process(self, args: list[str], env: dict[str, str] | None = None, ready_ports: tuple[int, ...] = (),
                ready_files: tuple[Path, ...] = ()) -> AnomalyProcess:
        proc = AnomalyProcess(args, env={"ANOMALY_DATA_DIR": str(self.storage), **(env or {})},
                              ready_ports=ready_ports, ready_files=ready_files)
        self.servers.append(proc)
        return proc

    def stop_all(self) -> None:
        for server in self.servers:
            was_running = server.running
            code = server.stop()
            if was_running and code != 0:
                # Not turned into a test error (teardown), but kept visible.
                sys.stderr.write(f"\nnote: anomaly {' '.join(server.args)} exited with {code} on SIGTERM\n")


@pytest.fixture(scope="session")
def _server_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture
def anomaly_server(anomaly_storage: Path, _server_tmp: Path) -> Iterator[ServerFactory]:
    """Factory: anomaly_server(config, files=None, env=None) -> AnomalyServer; all stopped at teardown."""
    pool = ServerPool(anomaly_storage, _server_tmp)
    yield pool.start
    pool.stop_all()


@pytest.fixture(scope="module")
def anomaly_server_module(anomaly_storage: Path, _server_tmp: Path) -> Iterator[ServerFactory]:
    """Same factory, module scope: for module-scoped fixtures that share one server among tests."""
    pool = ServerPool(anomaly_storage, _server_tmp)
    yield pool.start
    pool.stop_all()


@pytest.fixture
def anomaly_process(anomaly_storage: Path, _server_tmp: Path) -> Iterator[Callable[..., AnomalyProcess]]:
    """Factory for other command lines: anomaly_process(args, env=None, ready_ports=(), ready_files=()).

    ANOMALY_DATA_DIR defaults to the session storage; stopped at teardown like servers.
    """
    pool = ServerPool(anomaly_storage, _server_tmp)
    yield pool.process
    pool.stop_all()
