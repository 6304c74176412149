"""Probes for lesson 09 (deployment): run the learner's objects on scenarios, report in JSON.

The exercises hand back Python objects (a uvicorn Server subclass, an ASGI middleware, an app
with metrics) or a configuration text that gunicorn must run, none of which can cross the
sandbox boundary. A hidden test names a scenario; a probe here plays it next to the learner's
code (forking a server process where signals are involved, starting gunicorn where its
configuration is graded) and answers with what it saw. Times are seconds relative to the
first signal. Nothing here is a test or an answer: the hidden suite decides.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"

# -- capacity_plan -----------------------------------------------------------------------------


def capacity_plans(capacity_plan: Any, cases: list[dict]) -> list[dict]:
    """capacity_plan(**case) for each case: {"value": the plan} or {"raised": type name}."""
    answers = []
    for case in cases:
        try:
            plan = capacity_plan(case["curve"], **{key: value for key, value in case.items() if key != "curve"})
            answers.append({"value": json.loads(json.dumps(plan, default=repr))})
        except Exception as exc:  # the learner's error is data
            answers.append({"raised": type(exc).__name__})
    return answers


# -- request_log -------------------------------------------------------------------------------


STREAM_PAUSE = 0.05  # seconds after each chunk of /stream
AFTER_PAUSE = 0.1  # seconds /after works once its response is complete


def _probe_app(structlog: Any, noted: dict) -> Any:
    """/ok (201, the context as JSON), /stream (3 chunks STREAM_PAUSE apart), /boom (raises at
    once), /late (raises after a chunk), /empty (returns without answering), /bind (binds
    order_id), /after (answers, then works AFTER_PAUSE more before returning, as a background
    task does), /done-then-raise (answers, then raises, as a failing background task does).
    ``noted`` (perf_counter): when /stream sent its response's start, and when it began to send
    its last body message; when /after began its work after the response."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            await send({"type": "lifespan.startup.complete"})
            return
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})
            return
        path = scope["path"]
        if path == "/boom":
            raise KeyError("boom")
        if path == "/empty":
            return
        if path == "/bind":
            structlog.contextvars.bind_contextvars(order_id="o-9")
        noted["start"] = time.perf_counter()
        await send(
            {
                "type": "http.response.start",
                "status": 201 if path == "/ok" else 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        if path in ("/stream", "/late"):
            for chunk in range(3):
                await send({"type": "http.response.body", "body": b"[%d]" % chunk, "more_body": True})
                if path == "/late":
                    raise ValueError("late")
                await asyncio.sleep(STREAM_PAUSE)
            noted["last_body"] = time.perf_counter()
            await send({"type": "http.response.body", "body": b""})
            return
        body = json.dumps(structlog.contextvars.get_contextvars(), default=repr).encode()
        await send({"type": "http.response.body", "body": body})
        if path == "/after":
            noted["after_response"] = time.perf_counter()
            await asyncio.sleep(AFTER_PAUSE)
        if path == "/done-then-raise":
            raise RuntimeError("after the response")

    return app


class _TimedStream(io.StringIO):
    """A text stream that notes when it was first written to (perf_counter)."""

    first_write: float | None = None

    def write(self, text: str) -> int:
        if self.first_write is None:
            self.first_write = time.perf_counter()
        return super().write(text)


def _channel(inbox: list[dict], sent: list[dict]) -> tuple:
    """receive and send for one scenario's call, bound to its own lists: an app that keeps them
    beyond its call (a task left running) still reaches that scenario's, never a later one's."""

    async def receive():
        if inbox:
            return inbox.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    return receive, send


async def request_logs(request_log: Any, scenarios: list[dict]) -> list[dict]:
    """Each scenario {"path", "query", "headers": [[name, value]], "type": "http"|"lifespan"|
    "websocket", "outer": {key: value}}: run it through request_log(probe app, stream), one
    after the other, all in this task (as requests share a context in tests, or in an app called
    in a loop: what a middleware leaves in the context shows in the next scenario); report the
    lines written, the response start, the body, what was raised, and the structlog context
    right after. ``outer`` is bound before the call, as a layer around the middleware would (a
    job's id), and unbound after the report. Header names reach the app in lower case, as a
    server passes them (the ASGI specification)."""
    import structlog

    structlog.contextvars.clear_contextvars()
    reports = []
    for scenario in scenarios:
        stream = _TimedStream()
        noted: dict[str, float] = {}
        app = request_log(_probe_app(structlog, noted), stream)
        sent: list[dict] = []
        kind = scenario.get("type", "http")
        inbox = {
            "http": [{"type": "http.request", "body": b"", "more_body": False}],
            "lifespan": [{"type": "lifespan.startup"}],
            "websocket": [{"type": "websocket.connect"}],
        }[kind]
        receive, send = _channel(inbox, sent)
        path = scenario.get("path", "/ok")
        scope = {
            "type": kind,
            "asgi": {"version": "3.0"},
            "path": path,
            "raw_path": path.encode(),
            "query_string": scenario.get("query", "").encode(),
            "root_path": "",
            "scheme": "http",
            "headers": [(name.lower().encode(), value.encode()) for name, value in scenario.get("headers", [])],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        if kind == "http":
            scope.update(method=scenario.get("method", "GET"), http_version="1.1")
        if kind == "lifespan":  # as a server makes it: no path, no headers, nothing of a connection
            scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        raised = None
        outer = scenario.get("outer", {})
        structlog.contextvars.bind_contextvars(**outer)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(5):  # in this task, not one of its own (as wait_for would make)
                await app(scope, receive, send)
        except Exception as exc:
            raised = type(exc).__name__
        elapsed_ms = (time.perf_counter() - started) * 1000
        lines = []
        for line in stream.getvalue().splitlines():
            if line.strip():
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    lines.append({"not json": line[:200]})
        start = next((m for m in sent if m["type"] == "http.response.start"), None)
        headers = {}
        if start:
            for name, value in start.get("headers", []):
                headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        # From the response's start to its last body message: a lower bound of any latency
        # measured from the call to after that message, however the two were scheduled.
        stream_ms = (noted["last_body"] - noted["start"]) * 1000 if "last_body" in noted else None
        reports.append(
            {
                "lines": lines,
                "status": start["status"] if start else None,
                "headers": headers,
                "body": body.decode("utf-8", "replace"),
                "raised": raised,
                "elapsed_ms": elapsed_ms,
                "stream_ms": stream_ms,
                # Written before the app's work after its response began: once the response was complete.
                "written_at_completion": stream.first_write is not None
                and "after_response" in noted
                and stream.first_write < noted["after_response"],
                "sent": [m["type"] for m in sent],
                "context_after": json.loads(json.dumps(structlog.contextvars.get_contextvars(), default=repr)),
            }
        )
        structlog.contextvars.unbind_contextvars(*outer)
    structlog.contextvars.clear_contextvars()
    return reports


# -- add_metrics -------------------------------------------------------------------------------


def _metrics_probe_app() -> Any:
    """/invoices/{invoice_id} (404 from MISSING_INVOICES on), POST /invoices, /fail (raises),
    /slow (sleeps), /stream-fail (a streamed response that raises after its first chunk); a
    path with a slash added or dropped is redirected (307) by FastAPI's router, no route matched."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import StreamingResponse

    app = FastAPI()

    @app.get("/invoices/{invoice_id}")
    async def read_invoice(invoice_id: int):
        if invoice_id >= MISSING_INVOICES:
            raise HTTPException(404, "no such invoice")  # a route that matched, answering 404
        return {"id": invoice_id}

    @app.post("/invoices")
    async def create_invoice():
        return {"created": True}

    @app.get("/fail")
    async def fail():
        raise RuntimeError("broken")

    @app.get("/slow")
    async def slow(seconds: float = SLOW_SECONDS):
        await asyncio.sleep(seconds)
        return {"slow": True}

    @app.get("/stream-fail")
    async def stream_fail():
        async def chunks():
            yield b"first"
            raise RuntimeError("broken mid-stream")

        return StreamingResponse(chunks())

    return app


SLOW_SECONDS = 0.03  # what GET /slow takes at least, unless ?seconds= says otherwise
MISSING_INVOICES = 9000  # GET /invoices/{id} answers 404 from this id on


async def metrics_reports(add_metrics: Any, sessions: list[list[list[str]]]) -> list[dict]:
    """Each session, a list of [method, path]: a fresh probe app and registry through
    add_metrics, the requests sent, then /health and /metrics; report the statuses, the
    scraped samples (counters and histogram counts and sums), whether a second app clashed,
    what reached the server from GET /fail on that second app (the exception's class name, or
    None when the app answered it), and CONTENT_TYPE_LATEST. When add_metrics itself raises, the
    session reports only that ({"error"}): in a process that made metrics before (the registry
    of an earlier call), it is the first sign."""
    import httpx
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
    from prometheus_client.parser import text_string_to_metric_families

    reports = []
    for requests in sessions:
        registry = CollectorRegistry()
        try:
            app = add_metrics(_metrics_probe_app(), registry)
        except Exception as exc:  # the learner's error is data
            reports.append({"error": f"{type(exc).__name__}: {str(exc)[:200]}"})
            continue
        try:
            second = add_metrics(_metrics_probe_app(), CollectorRegistry())
            clash = None
        except Exception as exc:
            second, clash = None, type(exc).__name__
        fail_raised = "not run"
        if second is not None:  # as a server sees it: what the app raises, not the 500 the client gets
            raising = httpx.ASGITransport(app=second, raise_app_exceptions=True)
            async with httpx.AsyncClient(transport=raising, base_url="http://testserver") as client:
                try:
                    await client.get("/fail")
                    fail_raised = None
                except Exception as exc:
                    fail_raised = type(exc).__name__
        statuses = []
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            for method, path in requests:
                statuses.append((await client.request(method, path)).status_code)
            health = await client.get("/health")
            metrics = await client.get("/metrics")
            again = await client.get("/metrics")
        samples = []
        try:
            for family in text_string_to_metric_families(again.text):
                for sample in family.samples:
                    if sample.name.endswith("_bucket") or sample.name.endswith("_created"):
                        continue
                    samples.append([sample.name, dict(sorted(sample.labels.items())), sample.value])
            parsed = True
        except Exception:
            parsed = False
        reports.append(
            {
                "statuses": statuses,
                "health": [health.status_code, _json_or_text(health)],
                "metrics_status": metrics.status_code,
                "metrics_type": metrics.headers.get("content-type", ""),
                "parsed": parsed,
                "samples": samples,
                "clash": clash,
                "fail_raised": fail_raised,
                "content_type_latest": CONTENT_TYPE_LATEST,
            }
        )
    return reports


def _json_or_text(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:200]


# -- gunicorn_conf -----------------------------------------------------------------------------

LIGHT_APP = """
import os


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b'{"pid":%d}' % os.getpid()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _get_pid(port: int, timeout: float = 1.0) -> int | None:
    """GET /pid on a fresh connection: the answering worker's pid, or None."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as connection:
            connection.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := connection.recv(4096):
                data += chunk
        return json.loads(data.split(b"\r\n\r\n", 1)[1])["pid"] if data.startswith(b"HTTP/1.1 200") else None
    except (OSError, ValueError, KeyError, IndexError):
        return None


def _wait(condition: Any, seconds: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def gunicorn_begin(gunicorn_conf: Any, cases: list[dict]) -> str:
    """Each case {"workers": n, "start": bool, "kill": bool}: ``gunicorn_run`` with it, the
    cases at once, in the background (see ``outcome``). The learner's function is called here
    first, one case after the other, so that what it raises is its own error at once."""
    calls = []
    for case in cases:
        port = _free_port()
        calls.append(
            (
                gunicorn_conf(case["workers"], port),
                port,
                case["workers"],
                case.get("start", True),
                case.get("kill", True),
            )
        )
    return _in_background(_at_once, gunicorn_run, calls)


def gunicorn_run(text: Any, port: int, workers: int, start: bool = True, kill: bool = True) -> dict:
    """The settings gunicorn reads from ``text``, a configuration made for ``port``; then,
    with ``start``, gunicorn started with it (on a small app answering its pid, ``--bind``
    127.0.0.1:``port`` on the command line, which wins over the file's, so that nothing
    listens beyond loopback): does it answer, which workers serve, and, with ``kill``, is a
    SIGKILLed worker replaced while it answers."""
    report: dict[str, Any] = {"port": port, "type": type(text).__name__}
    if not isinstance(text, str):
        return report
    with tempfile.TemporaryDirectory(prefix="gunicorn-") as folder:  # tempfile's: the sandbox's or the run's
        return _gunicorn_in(folder, text, port, workers, start, kill, report)


def resolved_settings(path: str) -> dict[str, str]:
    """gunicorn's own reading of a configuration file, in this process: its ``Config`` loaded
    from the file as gunicorn loads one (``gunicorn/app/base.py``,
    ``Application.load_config_from_file``: the file run as a module, each known setting set
    and checked by its validator), then printed as ``--print-config`` prints it
    (``Config.__str__``): {setting: value as printed}. Raises what gunicorn raises."""
    from gunicorn.app.base import Application

    class Reader(Application):
        def __init__(self) -> None:  # not Application's: it would read this process's sys.argv
            self.usage, self.prog, self.callable = None, None, None
            self.load_default_config()

        def init(self, parser, opts, args):
            return None

        def load(self):
            return None

    reader = Reader()
    with _READING:  # one file at a time: gunicorn's loader goes through sys.modules["__config__"]
        module = sys.modules.get("__config__")  # put back what was there
        try:
            reader.load_config_from_file(path)
        except SystemExit as exc:  # gunicorn's loader exits on a file that does not run
            raise ValueError(f"the configuration file does not run (exit {exc.code})") from None
        finally:
            if module is None:
                sys.modules.pop("__config__", None)
            else:
                sys.modules["__config__"] = module
    return {
        key.strip(): value.strip()
        for key, _, value in (line.partition(" = ") for line in str(reader.cfg).splitlines() if " = " in line)
    }


_READING = threading.Lock()


def gunicorn_settings(gunicorn_conf: Any, cases: list[dict]) -> list[dict]:
    """Each case {"workers", "port"}: what gunicorn reads from ``gunicorn_conf(workers, port)``,
    {"settings": {...}}, or {"type": ...} for an answer that is not text, or {"error": ...}."""
    answers = []
    for case in cases:
        text = gunicorn_conf(case["workers"], case["port"])
        if not isinstance(text, str):
            answers.append({"type": type(text).__name__})
            continue
        with tempfile.TemporaryDirectory(prefix="gunicorn-") as folder:
            Path(folder, "gunicorn.conf.py").write_text(text)
            try:
                answers.append({"settings": resolved_settings(str(Path(folder, "gunicorn.conf.py")))})
            except Exception as exc:  # the learner's file is data
                answers.append({"error": f"{type(exc).__name__}: {str(exc)[:200]}"})
    return answers


def _gunicorn_in(folder: str, text: str, port: int, workers: int, start: bool, kill: bool, report: dict) -> dict:
    Path(folder, "gunicorn.conf.py").write_text(text)
    Path(folder, "light.py").write_text(LIGHT_APP)
    try:
        report["settings"] = resolved_settings(str(Path(folder, "gunicorn.conf.py")))
        report["config_ok"] = True
    except Exception as exc:  # the learner's file is data
        report["settings"], report["config_ok"], report["config_error"] = (
            {},
            False,
            f"{type(exc).__name__}: {exc}"[:300],
        )
    if not report["config_ok"] or not start or report["settings"].get("daemon") != "False":
        return report  # a daemon would leave the session this probe stops: never started
    # --no-control-socket: gunicorn's control socket defaults to one path per user
    # ($HOME/.gunicorn/gunicorn.ctl), which every gunicorn started at once would share.
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"{HOST}:{port}",
            "--no-control-socket",
            "light:app",
        ],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        report["answered"] = (
            _wait(lambda: _get_pid(port) is not None or process.poll() is not None, 30) and process.poll() is None
        )
        seen: set[int] = set()
        if report["answered"]:
            _wait(lambda: (seen.add(_get_pid(port) or 0), len(seen - {0}) >= workers)[1], 10, 0.02)
        seen.discard(0)
        report["workers_seen"] = len(seen)
        if kill and report["answered"] and seen:
            victim = min(seen)
            os.kill(victim, signal.SIGKILL)
            killed = time.monotonic()
            new: set[int] = set()
            report["replaced"] = _wait(lambda: (new.add(_get_pid(port) or 0), bool(new - seen - {0}))[1], 20, 0.02)
            report["replaced_after"] = time.monotonic() - killed
            report["answers_after"] = _get_pid(port) is not None
        report["supervisor_alive"] = process.poll() is None
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()
    return report


# -- DrainingServer ----------------------------------------------------------------------------


def _status(port: int, path: str, timeout: float = 3.0) -> int | str | None:
    """GET ``path`` on a fresh connection: the status; "refused" when the server did not take
    the connection or closed it without an answer; None when no answer came within ``timeout``
    (no evidence either way: a busy machine, or a loop held by the server's code)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as connection:
            connection.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            head = connection.recv(64)
    except TimeoutError:
        return None
    except OSError:
        return "refused"
    return int(head[9:12]) if head.startswith(b"HTTP/1.1 ") and head[9:12].isdigit() else "refused"


def _head(port: int, path: str, timeout: float = 3.0) -> dict:
    """GET ``path`` on a fresh connection: {"status", "headers": the header names, lower case}."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as connection:
            connection.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data and (chunk := connection.recv(4096)):
                data += chunk
    except OSError:
        return {"status": None, "headers": []}
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(lines[0][9:12]) if lines[0].startswith("HTTP/1.1 ") and lines[0][9:12].isdigit() else None
    return {
        "status": status,
        "headers": sorted({line.split(":", 1)[0].strip().lower() for line in lines[1:] if ":" in line}),
    }


def drain_handled(server_class: Any, readiness_class: Any, service_app: Any) -> dict:
    """A server made (not started) and its ``handle_exit(SIGTERM, None)`` called as uvicorn
    calls it, in the thread of a running event loop (a loop of its own, closed after: what the
    call schedules on it never runs): {"ready_after": readiness.ready right after the call}."""
    import uvicorn

    answer: dict[str, Any] = {}

    async def handled() -> None:
        readiness = readiness_class()
        server = server_class(uvicorn.Config(service_app(readiness)), readiness, 2.0)
        readiness.ready = True  # as the lifespan leaves it once started
        server.handle_exit(signal.SIGTERM, None)
        answer["ready_after"] = readiness.ready

    def run() -> None:
        try:
            asyncio.run(handled())
        except Exception as exc:  # the learner's error, reported as data
            answer["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return answer


def drain_begin(server_class: Any, readiness_class: Any, service_app: Any, scenarios: list[dict]) -> str:
    """``drain_scenarios`` in the background (see ``outcome``); one server is made here first,
    so that a class that cannot be made raises now, as the learner's own error."""
    import uvicorn

    readiness = readiness_class()
    server_class(uvicorn.Config(service_app(readiness)), readiness, 0.0)
    return _in_background(drain_scenarios, server_class, readiness_class, service_app, scenarios)


def drain_scenarios(server_class: Any, readiness_class: Any, service_app: Any, scenarios: list[dict]) -> list[dict]:
    """Each scenario {"drain": seconds, "signals": [seconds after the first], "work": seconds of
    an in-flight request sent before the first signal, "signal": "SIGTERM"|"SIGINT"}: serve
    service_app(readiness) with server_class(config, readiness, drain) in a forked process,
    signal it, and poll /ready and /work every 50 ms until it is gone (or WATCH seconds have
    passed). The scenarios run at once."""
    return _at_once(_drain_one, [(server_class, readiness_class, service_app, scenario) for scenario in scenarios])


# Bounds of one scenario, whatever the learner's server does, all far from what a working one
# needs even on a busy machine: a server that does not answer /ready within START_WITHIN is
# reported as not started (at once if its process ended), one still running WATCH seconds after
# the first signal as never gone, and no poll waits longer than POLL_TIMEOUT for an answer.
START_WITHIN, WATCH, POLL_TIMEOUT = 20.0, 6.0, 1.0

# Held from a scenario's listening socket to its fork and the parent's close of it: no other
# scenario's server gets a copy (one would keep accepting connections, never to answer them).
_FORKING = threading.Lock()


def _drain_one(server_class: Any, readiness_class: Any, service_app: Any, scenario: dict) -> dict:
    import uvicorn

    with _FORKING:
        sock = socket.socket()
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
        noted, noting = os.pipe()  # the server writes b"L" once its app's lifespan shutdown is complete
        pid = os.fork()
        if pid != 0:
            sock.close()
            os.close(noting)
    if pid == 0:  # the server
        try:
            asyncio.events._set_running_loop(None)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            for number in (signal.SIGTERM, signal.SIGINT):
                signal.signal(number, signal.SIG_DFL)
            os.close(noted)
            readiness = readiness_class()
            config = uvicorn.Config(
                _noting_shutdown(service_app(readiness), noting), lifespan="on", log_level="critical"
            )
            server_class(config, readiness, scenario["drain"]).run(sockets=[sock])
            os._exit(0)
        except BaseException:
            os._exit(3)
    # When the server's process ends, noted by a thread that waits for nothing else: the polls
    # below, slow on a server that is going away, never delay it.
    ended: list[float] = []
    waiter = threading.Thread(target=lambda: (os.waitpid(pid, 0), ended.append(time.monotonic())), daemon=True)
    waiter.start()
    report: dict[str, Any] = {"ready": [], "work": [], "gone": None}
    try:
        report["started"] = (
            _wait(lambda: bool(ended) or _status(port, "/ready", POLL_TIMEOUT) == 200, START_WITHIN) and not ended
        )
        if not report["started"]:
            return report
        head = next(
            (head for head in (_head(port, "/ready", POLL_TIMEOUT) for _ in range(3)) if head["status"] is not None),
            {"status": None, "headers": []},
        )
        report["before"], report["headers"] = head["status"], head["headers"]
        in_flight: list = []
        if scenario.get("work"):
            connection = socket.create_connection((HOST, port), timeout=WATCH)
            connection.sendall(f"GET /work?seconds={scenario['work']} HTTP/1.1\r\nHost: x\r\n\r\n".encode())

            def read() -> None:
                try:
                    head = connection.recv(64)
                    in_flight.append(int(head[9:12]) if head.startswith(b"HTTP/1.1 ") else None)
                except OSError:
                    in_flight.append(None)
                finally:
                    connection.close()

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            time.sleep(0.1)
        number = signal.SIGINT if scenario.get("signal") == "SIGINT" else signal.SIGTERM
        first = time.monotonic()
        pending = sorted(scenario.get("signals", [0.0]))
        while not ended and time.monotonic() - first < WATCH:
            while pending and pending[0] <= time.monotonic() - first:
                pending.pop(0)
                try:
                    os.kill(pid, number)
                except ProcessLookupError:
                    pass
            report["ready"].append([time.monotonic() - first, _status(port, "/ready", POLL_TIMEOUT)])
            report["work"].append([time.monotonic() - first, _status(port, "/work", POLL_TIMEOUT)])
            time.sleep(0.05)
        waiter.join(0.1)
        report["gone"] = ended[0] - first if ended else None
        if scenario.get("work"):
            reader.join(POLL_TIMEOUT)
            report["in_flight"] = in_flight[0] if in_flight else None
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        waiter.join(POLL_TIMEOUT)
        os.set_blocking(noted, False)
        try:
            report["lifespan_shutdown"] = os.read(noted, 8) == b"L"
        except BlockingIOError:  # nothing written, and the server still held its end
            report["lifespan_shutdown"] = False
        os.close(noted)
    return report


def _noting_shutdown(app: Any, noting: int) -> Any:
    """``app``, writing b"L" to the file descriptor ``noting`` once it has sent
    lifespan.shutdown.complete (the server ran the lifespan shutdown)."""

    async def noted_app(scope, receive, send):
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)

        async def send_noted(message):
            await send(message)
            if message["type"] == "lifespan.shutdown.complete":
                os.write(noting, b"L")

        return await app(scope, receive, send_noted)

    return noted_app


# -- probes that outlast a call: begun, then asked for their outcome ----------------------------

# A call to the sandbox has a few seconds (less under the mutation gate), and a server started,
# signalled and watched can take longer on a busy machine: such a probe runs in a thread of its
# own, begun by one call (`_in_background`, returning its id), its outcome asked for by others
# (`outcome`, as `suitekit.probe_in_background` does).
_RUNS: dict[str, dict] = {}


def _in_background(function: Any, *args: Any) -> str:
    run_id = f"run-{len(_RUNS)}-{time.monotonic_ns()}"
    run: dict[str, Any] = {"done": threading.Event()}

    def target() -> None:
        try:
            run["answer"] = {"value": function(*args)}
        except Exception as exc:  # the probe's own failure: the learner's code runs in other processes
            run["answer"] = {"failed": f"{type(exc).__name__}: {str(exc)[:300]}"}
        finally:
            run["done"].set()

    _RUNS[run_id] = run
    threading.Thread(target=target, daemon=True).start()
    return run_id


def _at_once(function: Any, calls: list[tuple]) -> list:
    """``function(*call)`` for each call, each in a thread of its own: a batch costs its longest."""
    results: list[Any] = [None] * len(calls)

    def one(index: int) -> None:
        results[index] = function(*calls[index])

    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


async def outcome(run_id: str, wait: float) -> dict:
    """{"done": false} while the run ``run_id`` goes on after ``wait`` seconds; then, once,
    {"done": true, "value": what it returned}, or {"done": true, "failed": what it raised}."""
    run = _RUNS[run_id]
    deadline = time.monotonic() + wait
    # The run's event is a threading.Event (set from the sandbox's call thread): nothing to await
    while not run["done"].is_set() and time.monotonic() < deadline:  # noqa: ASYNC110 (a thread's event)
        await asyncio.sleep(0.02)
    if not run["done"].is_set():
        return {"done": False}
    del _RUNS[run_id]
    return {"done": True, **run["answer"]}
