"""Host glue inside each interpreter (runtimes/python/worker.ts and main.ts call these functions).

Every loaded app version is its own module (``anomaly_app_<instance>``), so versions of an app share an
interpreter (hot reload costs an exec, not a new interpreter) without seeing each other's globals.
Results cross to JavaScript as short lists: ``[status, headers, body]`` (headers NUL-joined, body
str, bytes or None) or ``[0, kind, message, line]`` on failure.
"""
from __future__ import annotations

import asyncio
import inspect
import sys
import traceback
import types
from typing import Any

import anomaly

# instance id -> (handler, file, module name, max response bytes)
_apps: dict[int, tuple[Any, str, str, int]] = {}
# call id -> task of an async handler (cancelled at its deadline)
_tasks: dict[int, "asyncio.Task[Any]"] = {}
_Response = anomaly.Response
_from_frame = anomaly._request_from_frame
_answer = anomaly.answer


def _line_in(e: BaseException, file: str) -> int:
    if isinstance(e, SyntaxError) and e.filename == file and e.lineno:
        return e.lineno
    line = 0
    for fr in traceback.extract_tb(e.__traceback__):
        if fr.filename == file and fr.lineno:
            line = fr.lineno
    return line


def _failure(e: BaseException, file: str, kind: str) -> list[Any]:
    if isinstance(e, KeyboardInterrupt):
        return [0, "deadline", "interrupted at the deadline", _line_in(e, file)]
    if isinstance(e, MemoryError):
        return [0, "memory", "MemoryError: out of memory", _line_in(e, file)]
    if isinstance(e, asyncio.CancelledError):
        return [0, "deadline", "cancelled at the deadline", _line_in(e, file)]
    return [0, kind, f"{type(e).__name__}: {e}", _line_in(e, file)]


def load(inst: int, file: str, code: str, max_response: int) -> list[Any] | None:
    name = f"anomaly_app_{inst}"
    try:
        compiled = compile(code, file, "exec", dont_inherit=True)
        mod = types.ModuleType(name)
        mod.__file__ = file
        sys.modules[name] = mod  # dataclasses, pickle and friends look modules up by name
        exec(compiled, mod.__dict__)
        _apps[inst] = (anomaly.handler_of(mod.__dict__, file), file, name, max_response)
        return None
    except BaseException as e:  # noqa: BLE001 - a load error of any kind is reported, not raised
        sys.modules.pop(name, None)
        return _failure(e, file, "load")


def unload(inst: int) -> None:
    entry = _apps.pop(inst, None)
    if entry is not None:
        sys.modules.pop(entry[2], None)


def _finish(result: Any, max_response: int) -> Any:
    """The answer for the host: one string "<tag><status>\\0<n>\\0<len>\\0<name>\\0<value>...\\0<body>" (tag "s": str
    body, "n": none; len: the body's length in characters) — a string crosses to JavaScript ~5x faster than a
    list — or [status, headers, bytes]. A NUL inside a header would shift the fields: the host finds it by
    the body's length (runtimes/python/marshal.ts decodeAnswer), so no scan here."""
    if type(result) is _Response:
        # The helpers' shape (text, html, json): a str body and one (name, value) pair of strings,
        # answered without answer()'s normalisation (one Python call less per request).
        headers = result.headers
        body = result.body
        status = result.status
        if type(body) is str and type(status) is int and len(headers) == 1 and len(body) <= max_response:
            pair = headers[0]
            if type(pair) is tuple and len(pair) == 2:
                name, value = pair
                if type(name) is str and type(value) is str:
                    return f"s{status}\0001\000{len(body)}\000{name}\000{value}\000{body}"
    status, flat, body = _answer(result)
    if body is None:
        return "\0".join(["n" + str(status), str(len(flat) >> 1), "0", *flat, ""])
    n = len(body)
    if n > max_response:
        # len(str) counts characters, never more than its UTF-8 bytes: the host re-checks strings in bytes.
        return [0, "response", f"response body of {n} bytes exceeds {max_response}", 0]
    if type(body) is str:
        if len(flat) == 2:  # one header, the helpers' shape: an f-string is one step, a join of a list three
            return f"s{status}\0001\000{n}\000{flat[0]}\000{flat[1]}\000{body}"
        return "\0".join(["s" + str(status), str(len(flat) >> 1), str(n), *flat, body])
    headers = "\0".join(flat)
    if headers and headers.count("\0") != len(flat) - 1:
        return [0, "response", "header names and values must not contain NUL", 0]
    return [status, headers, body]


# What handlers return most: known not to be awaitable without asking inspect (ABC checks are slow).
_PLAIN = frozenset((str, dict, tuple, list, bytes, type(None), anomaly.Response))


def entry(inst: int) -> Any:
    """The call of one instance on the main thread (runtimes/python/main.ts, direct.ts): bound, so a request
    crosses as (frame, body), body bytes (or a JS Uint8Array) or None. Returns the answer, a failure
    list, or the task of an async handler."""
    handler, file, _, max_response = _apps[inst]
    from_frame = _from_frame

    def call(frame: str, body: Any = None) -> Any:
        try:
            data = b"" if body is None else body if type(body) is bytes else body.to_bytes()
            result = handler(from_frame(frame, data))
            if type(result) in _PLAIN or not inspect.isawaitable(result):
                return _finish(result, max_response)
            global _last_task
            _last_task = asyncio.ensure_future(_settle(result, file, max_response))
            return _last_task
        except BaseException as e:  # noqa: BLE001
            return _failure(e, file, "exception")

    return call


# The task entry() returned last, until the host files it under its call id (hold): the host's own
# proxy of a task cannot cancel it later (pyodide destroys a PyProxy once its then() is used).
_last_task: Any = None


def hold(call_id: int) -> None:
    global _last_task
    task, _last_task = _last_task, None
    if task is not None and not task.done():
        _tasks[call_id] = task
        task.add_done_callback(lambda _t: _tasks.pop(call_id, None))


def call(inst: int, call_id: int, frame: str, body: Any) -> Any:
    """Runs one request. Returns the result list, or an asyncio Future of it for async handlers."""
    handler, file, _, max_response = _apps[inst]
    try:
        req = _from_frame(frame, body.to_bytes() if body is not None else b"")
        result = handler(req)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(_settle(result, file, max_response))
            _tasks[call_id] = task
            task.add_done_callback(lambda _t: _tasks.pop(call_id, None))
            return task
        return _finish(result, max_response)
    except BaseException as e:  # noqa: BLE001
        return _failure(e, file, "exception")


async def _settle(awaitable: Any, file: str, max_response: int) -> list[Any]:
    try:
        result = await awaitable
        return _finish(result, max_response)
    except BaseException as e:  # noqa: BLE001
        return _failure(e, file, "exception")


def cancel(call_id: int) -> bool:
    task = _tasks.get(call_id)
    if task is None:
        return False
    task.cancel()
    return True


# Main thread: the watchdog repeats SIGINT until the call returns (pyodide can miss a single write), so
# only the first one of a call raises KeyboardInterrupt; the host calls rearm() once the call is over.
_stopping = False


def _on_sigint(signum: int, frame: Any) -> None:
    global _stopping
    if not _stopping:
        _stopping = True
        raise KeyboardInterrupt


def rearm() -> None:
    global _stopping
    _stopping = False


def use_main_thread(schedule: Any) -> None:
    """Set up an interpreter on the main thread (runtimes/python/main.ts): SIGINT raises KeyboardInterrupt
    once per call, and every asyncio callback runs through the host's ``schedule(callback, ms)``, which
    runs it under the watchdog: a slice of an async handler that never yields is stopped too."""
    import signal

    import pyodide.webloop

    signal.signal(signal.SIGINT, _on_sigint)
    pyodide.webloop.scheduleCallback = schedule
