"""Probes for lesson 08 (streaming, server-sent events, WebSockets, uploads): clients with time in them.

Every exercise makes an app that must behave well *over time*: a client that leaves in the
middle, reads nothing, publishes while another listens, uploads in pieces. A hidden test
describes such a scenario as JSON; a probe here plays it next to the learner's app with the
clients of ``coursekit.streams`` (the notebook's self-checks use the same ones), and answers
with what the clients saw and what was left behind (open connections, subscriptions, files),
as plain data. Cases that wait are played concurrently, so a batch costs its longest case.

This module is public: it holds the harness, never an answer and no expectation; the
assertions stay in the hidden suite. Only the standard library and coursekit are imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import os
import shutil
import tempfile
import time
import tracemalloc
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coursekit.sqlite_watch import watching_open_db
from coursekit.streams import collector_held, http_call, sse_blocks, websocket_clients

SETTLE = 0.02  # seconds a scenario waits after each step, for the app's tasks to run
CLOSE_WITHIN = 0.5  # how long after a client left its resources are watched for (the statements' half second)


def _raised(exc: BaseException) -> dict:
    return {"raised": f"{type(exc).__name__}: {str(exc)[:200]}"}


def _http(seen) -> dict:
    """What a client saw of an HTTP call, as plain data (the body as text)."""
    return {
        "status": seen.status,
        "headers": [[name.lower(), value] for name, value in seen.headers],
        "chunks": seen.chunks,
        "pieces_read": seen.pieces_read,
        "complete": seen.complete,
        "returned": seen.returned_at is not None,
        "app_error": seen.error,
    }


@contextlib.asynccontextmanager
async def _tracing(enabled: bool = True):
    """tracemalloc on for the block (it may already be), peak reset: yields a function that
    answers the peak since, in bytes above the memory in use at the start. Not ``enabled``:
    nothing is traced (tracing slows every allocation down) and the function answers None."""
    if not enabled:
        yield lambda: None
        return
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        yield lambda: tracemalloc.get_traced_memory()[1] - start
    finally:
        if not was_tracing:
            tracemalloc.stop()


# -- export_csv ------------------------------------------------------------------------------


def _table(make_invoices_db: Callable, rows: int, folder: Path) -> str:
    """A table of ``rows`` invoices in ``folder``, made once per probe call and copied for each
    case (an app may write to its copy). The folder goes when the call ends: the reference's
    side runs in the grader's own process, and its /tmp is the machine's."""
    made = folder / f"pristine-{rows}.db"
    if not made.exists():
        make_invoices_db(str(made), rows)
    copy = Path(tempfile.mkdtemp(dir=folder)) / "invoices.db"
    shutil.copyfile(made, copy)
    return str(copy)


async def export_runs(factory: Callable, make_invoices_db: Callable, cases: list[dict]) -> list[dict]:
    """Each case ``{"rows", "query", "leave_after_chunks", "stall_after_chunks", "leave_after",
    "memory", "body", "watch_close", "slow_fetch"}``: a fresh table of ``rows`` invoices, an app
    from ``factory(db_path)``, one GET /invoices.csv?<query> (the client leaving after
    ``leave_after_chunks`` chunks, or ``leave_after`` seconds after the start, reading nothing
    after ``stall_after_chunks``), each query or fetch in a worker thread lasting
    ``slow_fetch`` seconds at least. Answers what the client saw, the body (when ``body``) or
    its sha256 and size, the peak memory during the call (when ``memory``), and the connections
    ``open_db`` gave (``coursekit.sqlite_watch``): how many, how many were closed when the call
    ended, (when ``watch_close``) how many within half a second after, the garbage collector
    held meanwhile (``coursekit.streams.collector_held``), and how many were closed while
    another thread was still inside a query on them."""
    answers = []
    with tempfile.TemporaryDirectory(prefix="lesson08_export_") as scratch:
        for case in cases:
            answers.append(await _export_run(factory, make_invoices_db, case, Path(scratch)))
    return answers


async def _export_run(factory: Callable, make_invoices_db: Callable, case: dict, folder: Path) -> dict:
    rows = int(case["rows"])
    try:
        app = factory(_table(make_invoices_db, rows, folder))
    except Exception as exc:
        return {"error": _raised(exc)}
    slow = float(case.get("slow_fetch", 0.0))
    with watching_open_db(factory.__globals__, slow) as opened, collector_held():
        async with _tracing(bool(case.get("memory"))) as peak:
            seen = await http_call(
                app,
                "GET",
                "/invoices.csv" + (f"?{case['query']}" if case.get("query") else ""),
                leave_after_chunks=case.get("leave_after_chunks"),
                leave_after=case.get("leave_after"),
                stall_after_chunks=case.get("stall_after_chunks"),
                chunk_delay=0.005 if case.get("leave_after_chunks") else 0.0,
                keep_body=True,
                timeout=float(case.get("timeout", 3.0)),
            )
            memory = peak()
        closed_at_end = sum(db.closed for db in opened)
        deadline = time.perf_counter() + (CLOSE_WITHIN if case.get("watch_close") else 0.0)
        while sum(db.closed for db in opened) < len(opened) and time.perf_counter() < deadline:  # noqa: ASYNC110 (polls the learner's object: no event of ours to wait on)
            await asyncio.sleep(0.02)
        closed_later = sum(db.closed for db in opened)
    answer = {
        **_http(seen),
        "opened": len(opened),
        "closed_at_end": closed_at_end,
        "closed_within": closed_later,
        "closed_during_a_query": sum(db.closed_during_a_query for db in opened),
        "size": len(seen.body),
        "sha256": hashlib.sha256(bytes(seen.body)).hexdigest(),
    }
    if case.get("memory"):
        answer["peak"] = memory
    if case.get("body"):
        answer["body"] = seen.text
    return answer


# -- format_sse ------------------------------------------------------------------------------


def format_calls(format_sse: Callable, cases: list[dict]) -> list:
    """``format_sse(data, **fields)`` for each case ``{"data": ..., "fields": {...}}``: the text
    it returned, or {"raised": "Type: message"}."""
    answers: list = []
    for case in cases:
        try:
            value = format_sse(case.get("data"), **case.get("fields", {}))
            answers.append(value if isinstance(value, str) else {"returned": repr(value)[:200]})
        except Exception as exc:
            answers.append(_raised(exc))
    return answers


# -- sse_feed --------------------------------------------------------------------------------


async def _sse_session(factory: Callable, feed_class: type, case: dict) -> dict:
    feed = feed_class()
    for text in case.get("before", []):
        feed.publish(text)
    options = {key: case[key] for key in ("retry_ms", "heartbeat") if key in case}
    try:
        app = factory(feed, **options)
    except Exception as exc:
        return {"error": _raised(exc)}
    headers = [] if case.get("last_event_id") is None else [("Last-Event-ID", case["last_event_id"])]
    listening: list[int] = []
    call = asyncio.ensure_future(
        http_call(
            app,
            "GET",
            "/events",
            headers=headers,
            leave_after=case["leave_after"],
            stall_after_chunks=case.get("stall_after_chunks"),
            chunk_delay=float(case.get("chunk_delay", 0.0)),
            timeout=case["leave_after"] + 1.5,
        )
    )
    for kind, value in case.get("script", []):
        if kind == "wait":
            await asyncio.sleep(value)
        elif kind == "publish":
            feed.publish(value)
        elif kind == "count":
            listening.append(len(feed.subscribers))
    seen = await call
    left = time.perf_counter()
    while feed.subscribers and time.perf_counter() - left < CLOSE_WITHIN:  # noqa: ASYNC110 (polls the learner's object: no event of ours to wait on)
        await asyncio.sleep(0.02)
    return {
        **_http(seen),
        "blocks": sse_blocks(seen.text),
        "listening": listening,
        "subscribed_after": len(feed.subscribers),
        "returned_after_leaving": seen.returned_after_leaving,
    }


async def sse_sessions(factory: Callable, feed_class: type, cases: list[dict]) -> list[dict]:
    """Each case, all at once, with a feed of its own: ``{"before": [texts published first],
    "last_event_id": header or None, "retry_ms", "heartbeat" (given when present),
    "script": [["wait", s] | ["publish", text] | ["count", null], ...] played while the client
    listens, "stall_after_chunks": chunks after which the client reads nothing (optional),
    "chunk_delay": seconds each chunk takes to send, a slow line (optional),
    "leave_after": seconds until the client leaves}``. Answers the parsed blocks, the
    subscriptions counted at each "count", those left half a second after the client left
    (the garbage collector held throughout: ``coursekit.streams.collector_held``), and how long the call took
    to end after the client left."""
    with collector_held():
        return list(await asyncio.gather(*(_sse_session(factory, feed_class, case) for case in cases)))


# -- ws_room ---------------------------------------------------------------------------------

_session: contextvars.ContextVar[int | None] = contextvars.ContextVar("lesson08_room_session", default=None)
_made_in: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # task -> the session whose code made it


@contextlib.contextmanager
def _tasks_told_apart() -> Any:
    """While the block runs, each task made on this loop is noted with the session that made it
    (a task made by a task inherits its context, so the app's tasks carry their session), so that
    sessions played at once can each count their own."""
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()

    def factory(loop, coro, **options):
        task = previous(loop, coro, **options) if previous else asyncio.Task(coro, loop=loop, **options)
        if _session.get() is not None:
            _made_in[task] = _session.get()
        return task

    loop.set_task_factory(factory)
    try:
        yield
    finally:
        loop.set_task_factory(previous)


def _running_tasks() -> int:
    """Tasks made in this session (by the app or for its clients) that have not ended."""
    return sum(owner == _session.get() and not task.done() for task, owner in list(_made_in.items()))


async def _room_session(factory: Callable, case: dict) -> dict:
    _session.set(id(case))
    try:
        app = factory(case["tokens"], **({"backlog": case["backlog"]} if "backlog" in case else {}))
    except Exception as exc:
        return {"error": _raised(exc)}
    clients: dict[str, Any] = {}
    delays: list[float] = []
    running: list[int] = []
    async with websocket_clients(app) as connect:
        for step in case["script"]:
            kind, name = step[0], step[1] if len(step) > 1 else None
            if kind == "count_tasks":
                running.append(_running_tasks())
            elif kind == "connect":
                clients[name] = await connect(step[2], wait=0.5)
            elif kind == "say":
                clients[name].say(step[2])
            elif kind == "leave":
                clients[name].leave()
            elif kind == "stop_reading":
                clients[name].stop_reading()
            elif kind == "resume_reading":
                clients[name].resume_reading()
            elif kind == "wait":
                await asyncio.sleep(float(step[1]))
            elif kind == "timed_say":  # how long until every other reading client has it
                senders_count = {other: len(c.texts) for other, c in clients.items()}
                started = time.perf_counter()
                clients[name].say(step[2])
                readers = [c for other, c in clients.items() if other in step[3]]
                while (  # noqa: ASYNC110 (polls what the learner's room delivered: no event of ours)
                    any(len(c.texts) <= senders_count[o] for o, c in clients.items() if c in readers)
                    and time.perf_counter() - started < 1.0
                ):
                    await asyncio.sleep(0.002)
                delays.append(time.perf_counter() - started)
            await asyncio.sleep(SETTLE)
        awaited = [clients[name].task for name in case.get("await_end", []) if name in clients]
        if awaited:  # the clients whose endpoint should end: given up to end_wait seconds, together
            await asyncio.wait(awaited, timeout=float(case.get("end_wait", 0.5)))
        ended = {name: client.task.done() for name, client in clients.items()}
        report = {
            name: {
                "accepted": client.accepted.is_set(),
                "close_code": client.close_code,
                "texts": list(client.texts),
                "ended": ended[name],
                "error": client.error,
            }
            for name, client in clients.items()
        }
    return {"clients": report, "delays": delays, "running_tasks": running}


async def room_sessions(factory: Callable, cases: list[dict]) -> list[dict]:
    """Each case, all at once, with an app of its own: ``{"tokens", "backlog" (when given),
    "script": [step, ...], "await_end": [clients], "end_wait": seconds}``, steps being ``["connect", client, path]``,
    ``["say", client, text]``, ``["leave", client]``, ``["stop_reading", client]``,
    ``["resume_reading", client]``, ``["wait", seconds]``, ``["timed_say", client, text,
    [readers]]`` (noting the seconds until every named reader got the message) and
    ``["count_tasks"]`` (noting how many tasks made in the session are still running: the
    clients' endpoints and whatever the app started), each followed by a short pause. Answers,
    per client: accepted, close code, texts read, whether its endpoint ended (the clients named
    in ``await_end`` given up to ``end_wait`` seconds at the end, together), its error; the
    delays; and the task counts."""
    with _tasks_told_apart():
        return list(await asyncio.gather(*(_room_session(factory, case) for case in cases)))


# -- upload_stream ---------------------------------------------------------------------------


def _listing(folder: Path) -> dict:
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest() if (folder / name).is_file() else "folder"
        for name in sorted(os.listdir(folder))
    }


def _pieces(spec: list) -> list[bytes]:
    """Pieces described as [size, byte] pairs (or text), made here: big bodies do not travel."""
    return [item.encode() if isinstance(item, str) else bytes([item[1]]) * item[0] for item in spec]


async def upload_runs(factory: Callable, cases: list[dict]) -> list[dict]:
    """Each case ``{"limit", "name", "pieces": [[size, byte] | text], "content_length":
    "exact" | number | None, "hang_up_after": pieces or None, "existing": {name: text},
    "memory": bool}``, in a fresh folder holding ``existing``: one POST /uploads/<name>.
    Answers what the client saw, the body as text, the folder just before each piece (``name``
    "absent", "as before" or "changed", and how many new files), the folder after (name ->
    sha256), and the peak memory (when ``memory``)."""
    answers = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="lesson08_upload_") as scratch:
            answers.append(await _upload_run(factory, case, Path(scratch)))
    return answers


async def _upload_run(factory: Callable, case: dict, folder: Path) -> dict:
    for name, text in case.get("existing", {}).items():
        (folder / name).write_text(text)
    before = _listing(folder)
    try:
        app = factory(str(folder), case["limit"])
    except Exception as exc:
        return {"error": _raised(exc)}
    pieces = _pieces(case["pieces"])
    headers = []
    if case.get("content_length") == "exact":
        headers.append(("content-length", str(sum(map(len, pieces)))))
    elif case.get("content_length") is not None:
        headers.append(("content-length", str(case["content_length"])))
    looked: list[dict] = []

    def look(number: int) -> None:
        # Names only, and the bytes of a file that was there before (small): reading what
        # is being uploaded would count in the memory measured.
        path, present = folder / case["name"], os.listdir(folder)
        if not path.exists():
            state = "absent"
        elif (
            case["name"] in before
            and path.is_file()
            and hashlib.sha256(path.read_bytes()).hexdigest() == before[case["name"]]
        ):
            state = "as before"
        else:
            state = "changed"
        looked.append({"name": state, "new_files": len([name for name in present if name not in before])})

    async with _tracing(bool(case.get("memory"))) as peak:
        seen = await http_call(
            app,
            "POST",
            f"/uploads/{case['name']}",
            headers=headers,
            body=pieces,
            hang_up_after_pieces=case.get("hang_up_after"),
            before_piece=look,
            timeout=3.0,
        )
        memory = peak()
    del pieces
    answer = {**_http(seen), "text": seen.text, "looked": looked, "before": before, "after": _listing(folder)}
    if case.get("memory"):
        answer["peak"] = memory
    return answer
