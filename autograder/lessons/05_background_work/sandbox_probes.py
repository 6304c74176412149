"""Probes for lesson 05 (background work and queues): queue scenarios described in JSON.

The exercises take a SQLite connection, jobs and callables, none of which can cross the
sandbox boundary. So a hidden test describes a scenario as JSON and a probe here plays it
against the learner's functions, with the lesson's own setup functions (``create_queue``,
``connect``, ``enqueue``, ``job_row``: the released setup cell, passed in as ``defined``
names), and answers in JSON. The same scenario can be played against any implementation,
so answers compare as plain data.

This module is public: it holds the harness (opening connections, running threads and a
forked worker, reading tables), never an exercise's answer. It imports only the standard
library, coursekit and ``plain``.

Steps of ``script`` (each answers one JSON value, in order)::

    {"op": "enqueue", "kind": "k", "payload": {...}, "now": 0.0, "key": null}  -> job id
    {"op": "put", "id": 1, "set": {"state": "running", "worker": "w", ...}}     -> null
    {"op": "claim", "worker": "w", "now": 1.0, "lease": 5.0}                     -> job | null
    {"op": "ack", "id": 1, "worker": "w", "result": {...}}                       -> bool
    {"op": "fail", "id": 1, "worker": "w", "error": "e", "now": 2.0, "u": 0.5,
     "max_attempts": 3, "base": 1.0, "cap": 60.0}                                -> state | null
    {"op": "handle", "job": {...}}                                               -> bool
    {"op": "row", "id": 1}                                                       -> job_row | null
    {"op": "count", "table": "payments"}                                         -> rows

A step whose call raises answers {"raised": "TypeName: message"} and the script goes on; a
transaction the call left open is rolled back first, unless the step says
``"leave_open": true`` (then the steps after it see what the call left behind).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from autograder.sandbox.plain import plain as _plain
from coursekit.processes import forked, wait_until

TABLES = ("jobs", "processed", "payments", "report_requests")
JOB_COLUMNS = ("state", "attempts", "run_at", "lease_until", "worker", "last_error", "idempotency_key")
AFTER_ALL_SECONDS = 0.1  # how long a worker that has run out of jobs waits before its SIGTERM
RACE_PAUSE = 0.002  # seconds each write statement waits before it runs: it widens race windows


def fresh_queue(setup: dict, name: str = "grading") -> str:
    """A new queue file in the temporary folder (the sandbox's own); returns its path."""
    if not name.isidentifier():
        raise ValueError("name must be an identifier")
    folder = tempfile.mkdtemp(prefix=f"lesson05_{name}_")
    return setup["create_queue"](str(Path(folder) / "queue.db"))


def _raised(exc: BaseException) -> dict:
    return {"raised": f"{type(exc).__name__}: {str(exc)[:200]}"}


def _step(db, setup: dict, learner: dict, step: dict) -> Any:
    op = step["op"]
    if op == "enqueue":
        return setup["enqueue"](
            db,
            step.get("kind", "job"),
            step.get("payload", {}),
            now=step.get("now", 0.0),
            idempotency_key=step.get("key"),
        )
    if op == "put":
        columns = [column for column in step["set"] if column in JOB_COLUMNS]
        if columns:
            assignments = ", ".join(f"{column} = ?" for column in columns)
            db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", [*(step["set"][c] for c in columns), step["id"]])  # noqa: S608 (names from the suite's own list, values bound)
        return None
    if op == "row":
        return setup["job_row"](db, step["id"])
    if op == "count":
        if step["table"] not in TABLES:
            raise ValueError("unknown table")
        return db.execute(f"SELECT COUNT(*) FROM {step['table']}").fetchone()[0]  # noqa: S608 (names from the suite's own list, values bound)
    if op == "claim":
        return learner["claim"](db, step["worker"], step["now"], step["lease"])
    if op == "ack":
        return learner["ack"](db, step["id"], step["worker"], step.get("result"))
    if op == "fail":
        options = {key: step[key] for key in ("max_attempts", "base", "cap") if key in step}
        return learner["fail"](db, step["id"], step["worker"], step["error"], step["now"], step["u"], **options)
    if op == "handle":
        return learner["handle_once"](db, step["job"])
    raise ValueError(f"unknown op {op!r}")


def script(setup: dict, learner: dict, steps: list[dict], empty: str | None = None) -> list:
    """Play ``steps`` on a fresh queue (a copy of the queue file ``empty``, when given: copying
    is much cheaper than creating) through one connection; one answer per step."""
    if empty is None:
        path = fresh_queue(setup, "script")
    else:
        path = str(Path(tempfile.mkdtemp(prefix="lesson05_script_")) / "queue.db")
        shutil.copyfile(empty, path)
    db = setup["connect"](path)
    answers = []
    try:
        for step in steps:
            try:
                answers.append(_plain(_step(db, setup, learner, step)))
            except Exception as exc:
                answers.append(_raised(exc))
                if db.in_transaction and not step.get("leave_open"):  # it would block the next steps
                    db.execute("ROLLBACK")
    finally:
        db.close()
    return answers


def scripts(setup: dict, learner: dict, many: list[list[dict]]) -> list[list]:
    """``script`` for each list of steps, each on a fresh queue of its own."""
    empty = fresh_queue(setup, "empty")  # closed, so the whole queue is in this one file
    return [script(setup, learner, steps, empty) for steps in many]


def _racing_connection(setup: dict, path: str):
    """A connection whose every write statement pauses a little before it starts (before it
    takes any lock), as a busy machine would: a read-then-write that is not one atomic step
    is then overtaken by another worker almost every time."""
    db = setup["connect"](path)

    def pause(statement: str) -> None:
        if statement.lstrip()[:6].upper() in ("UPDATE", "INSERT", "DELETE"):
            time.sleep(RACE_PAUSE)

    db.set_trace_callback(pause)
    return db


def _threads(count: int, target: Callable[[int], None], seconds: float) -> bool:
    # All start at once, from a barrier: a thread started late (a busy machine takes milliseconds
    # to start one) would find the others done, and a race that is there would not show.
    barrier = threading.Barrier(count)

    def together(number: int) -> None:
        try:
            barrier.wait(seconds)
        except threading.BrokenBarrierError:
            pass
        target(number)

    threads = [threading.Thread(target=together, args=(number,), daemon=True) for number in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


def claim_race(setup: dict, claim: Callable, workers: int = 4, jobs: int = 30, seconds: float = 3.0) -> dict:
    """``workers`` threads, each with its own connection, claim until ``claim`` answers None.

    Answers {"claims": [[worker, job id], ...], "errors": [...], "finished": bool,
    "jobs": jobs}. Claims use now=1.0 and a 60 s lease, on jobs due at 0.0.
    """
    path = fresh_queue(setup, "race")
    with closing(setup["connect"](path)) as db:
        for number in range(jobs):
            setup["enqueue"](db, "race", {"n": number}, now=0.0)
    claims: list[list] = []
    errors: list[str] = []

    def work(number: int) -> None:
        name = f"w{number}"
        db = _racing_connection(setup, path)
        try:
            for _ in range(jobs * 2):  # bounded: a claim that never answers None stops here
                job = claim(db, name, 1.0, 60.0)
                if job is None:
                    return
                claims.append([name, _plain(job).get("id") if isinstance(job, dict) else _plain(job)])
        except Exception as exc:
            errors.append(_raised(exc)["raised"])
        finally:
            db.close()

    finished = _threads(workers, work, seconds)
    return {"claims": claims, "errors": errors, "finished": finished, "jobs": jobs}


def handle_race(setup: dict, handle_once: Callable, deliveries: int = 3, seconds: float = 3.0) -> dict:
    """The same job delivered ``deliveries`` times at once, by as many threads with their own
    connections. Answers {"answers": [...], "payments": rows, "errors": [...]}."""
    path = fresh_queue(setup, "handle")
    with closing(setup["connect"](path)) as db:
        job_id = setup["enqueue"](db, "pay", {"invoice_id": 7, "amount_cents": 1250}, now=0.0, idempotency_key="pay-7")
        job = setup["job_row"](db, job_id)
    answers: list = []
    errors: list[str] = []

    def deliver(number: int) -> None:
        db = _racing_connection(setup, path)
        try:
            answers.append(_plain(handle_once(db, dict(job))))
        except Exception as exc:
            errors.append(_raised(exc)["raised"])
        finally:
            db.close()

    _threads(deliveries, deliver, seconds)
    with closing(setup["connect"](path)) as db:
        payments = [dict(row) for row in db.execute("SELECT invoice_id, amount_cents, idempotency_key FROM payments")]
    return {"answers": answers, "payments": payments, "errors": errors}


# Another worker's claim of one job (the harness's own, not exercise 1's answer): it lands only
# while the job is due, as any correct claim would take it.
TAKEOVER = (
    "UPDATE jobs SET state = 'running', worker = :worker, lease_until = :now + 30.0, attempts = attempts + 1 "
    "WHERE id = :id AND ((state = 'ready' AND run_at <= :now) OR (state = 'running' AND lease_until <= :now))"
)


def fail_during_takeover(setup: dict, fail: Callable, attempts: int = 2, max_attempts: int = 5) -> dict:
    """A job running for w1 whose lease ran out; w1 calls ``fail`` while w2 takes the job over
    from a connection of its own.

    The takeover is tried just before each statement ``fail`` runs after its first one (so
    between a read and a write that are two steps), once per statement, without waiting: where
    ``fail`` holds the write lock, the try finds the queue locked. Once ``fail`` has returned it
    is tried once more (the claim then comes after the failure). Answers {"answer": fail's
    answer, "took_over": whether the takeover landed, "row": the job's row as committed}."""
    import sqlite3

    path = fresh_queue(setup, "takeover")
    other = setup["connect"](path)
    other.execute("PRAGMA busy_timeout = 0")  # a try, never a wait: fail may hold the lock
    job_id = setup["enqueue"](other, "report", {"n": 1}, now=0.0)
    other.execute(
        "UPDATE jobs SET state = 'running', worker = 'w1', attempts = ?, lease_until = 5.0 WHERE id = ?",
        (attempts, job_id),
    )
    took_over = [False]
    statements = [0]

    def take_over() -> None:
        if took_over[0]:
            return
        try:
            took_over[0] = other.execute(TAKEOVER, {"worker": "w2", "now": 10.0, "id": job_id}).rowcount == 1
        except sqlite3.OperationalError:  # locked: fail holds the write lock now
            pass

    def before_statement(statement: str) -> None:
        statements[0] += 1
        if statements[0] > 1:
            take_over()

    db = setup["connect"](path)
    db.set_trace_callback(before_statement)
    try:
        try:
            answer = _plain(fail(db, job_id, "w1", "timeout", 10.0, 0.5, max_attempts=max_attempts))
        except Exception as exc:
            answer = _raised(exc)
        db.set_trace_callback(None)
        take_over()
        return {"answer": answer, "took_over": took_over[0], "row": setup["job_row"](other, job_id)}
    finally:
        db.close()
        other.close()


async def key_in_flight(setup: dict, factory: Callable, hold: float = 0.5) -> dict:
    """``factory(path)``'s app gets POST /reports with an Idempotency-Key while another
    request with that key is still being written: a thread has begun a transaction that records
    its report request and its job (the key's), and commits it ``hold`` seconds later, the POST
    sent meanwhile (an app that blocks the event loop while it waits for the lock blocks nothing
    the thread needs). Answers {"status", "json" (or None), "first_job": the other request's job id,
    "tables": {"jobs": n, "report_requests": n}}."""
    import asyncio

    import httpx

    path = fresh_queue(setup, "inflight")
    app = factory(path)
    began = threading.Event()
    first: dict[str, Any] = {}

    def other_request() -> None:
        with closing(setup["connect"](path)) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                request_id = db.execute(
                    "INSERT INTO report_requests (invoice_id, requested_at) VALUES (5, 0.0)"
                ).lastrowid
                first["job"] = setup["enqueue"](
                    db, "report", {"invoice_id": 5, "request_id": request_id}, idempotency_key="report-5"
                )
                began.set()
                time.sleep(hold)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    thread = threading.Thread(target=other_request, daemon=True)
    thread.start()
    await asyncio.to_thread(began.wait, 5.0)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=20.0) as client:
            response = await client.post("/reports", json={"invoice_id": 5}, headers={"Idempotency-Key": "report-5"})
    finally:
        await asyncio.to_thread(thread.join, 10.0)
    try:
        body = response.json()
    except ValueError:
        body = None
    with closing(setup["connect"](path)) as db:
        counts = {
            table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 (names from the suite's own list, values bound)
            for table in ("jobs", "report_requests")
        }
    return {"status": response.status_code, "json": body, "first_job": first.get("job"), "tables": counts}


def work(setup: dict, path: str, step: dict) -> None:
    """A worker's progress on a job, written straight into the queue: ``step`` has the job's
    "id" and its new "state", "attempts", "error" (last_error) and "result" (stored as JSON)."""
    with closing(setup["connect"](path)) as db:
        db.execute(
            "UPDATE jobs SET state = ?, attempts = ?, last_error = ?, result = ? WHERE id = ?",
            (step["state"], step["attempts"], step["error"], json.dumps(step["result"]), step["id"]),
        )


def rows(setup: dict, path: str, table: str) -> list[dict]:
    """Every row of one of the lesson's tables, as plain dicts (payload left as text)."""
    if table not in TABLES:
        raise ValueError("unknown table")
    with closing(setup["connect"](path)) as db:
        return [_plain(row) for row in db.execute(f"SELECT * FROM {table} ORDER BY rowid")]  # noqa: S608 (names from the suite's own list, values bound)


def break_enqueue(setup: dict, path: str, invoice_id: int) -> bool:
    """From now on, adding a job whose payload names ``invoice_id`` fails (the queue table
    refuses it), as a full disk or a constraint would: what happens to the business row?"""
    with closing(setup["connect"](path)) as db:
        db.execute(
            "CREATE TRIGGER IF NOT EXISTS refuse_job BEFORE INSERT ON jobs "
            f"WHEN json_extract(NEW.payload, '$.invoice_id') = {int(invoice_id)} "
            "BEGIN SELECT RAISE(ABORT, 'the queue refused the job'); END"
        )
    return True


# --- a worker process and SIGTERM (exercise graceful_worker) ---------------------------------


def _worker_child(run_worker: Callable, folder: str, scenario: dict) -> None:
    """In the forked child: run the learner's loop on an in-memory list of jobs."""
    log = Path(folder, "log")
    pending = list(range(scenario.get("jobs", 0)))

    def note(line: str) -> None:
        with log.open("a") as handle:
            handle.write(line + "\n")

    idle_takes = [0]
    taken: list[int] = []

    def take():
        if scenario.get("idle") or not pending:
            idle_takes[0] += 1
            return None
        taken.append(pending[0])  # a job taken is a job claimed: it must be handled
        return {"id": pending.pop(0)}

    def handle(job) -> None:
        note(f"start {job['id']}")
        if job["id"] == scenario.get("raises_at"):
            raise RuntimeError("the job failed")
        durations = scenario.get("durations")
        time.sleep(durations[job["id"]] if durations else scenario.get("job_seconds", 0.4))
        note(f"end {job['id']}")

    def ours(signum, frame) -> None:  # the handler in place before the worker started
        pass

    signal.signal(signal.SIGTERM, ours)
    outcome: dict[str, Any] = {}
    try:
        outcome["returned"] = _plain(
            run_worker(take, handle, poll=scenario.get("poll", 0.05), until_empty=scenario.get("until_empty", False))
        )
    except BaseException as exc:  # SystemExit and KeyboardInterrupt included: report them
        outcome["raised"] = _raised(exc)["raised"]
    outcome["handler_restored"] = signal.getsignal(signal.SIGTERM) is ours
    outcome["idle_takes"] = idle_takes[
        0
    ]  # how often take() answered None: a loop that never waits asks thousands of times
    outcome["taken"] = list(taken)
    if scenario.get("again"):  # a second loop in the same process, on the jobs left, until the queue is empty
        pending.extend(range(scenario["jobs"], scenario["jobs"] + scenario["again"]))
        try:
            outcome["again"] = {
                "returned": _plain(run_worker(take, handle, poll=scenario.get("poll", 0.05), until_empty=True))
            }
        except BaseException as exc:
            outcome["again"] = _raised(exc)
        outcome["taken"] = list(taken)
    Path(folder, "outcome.json").write_text(json.dumps(outcome))
    os._exit(0)


def worker_scenario(run_worker: Callable, scenario: dict) -> dict:
    """Fork a worker running ``run_worker(take, handle, poll=..., until_empty=...)``.

    scenario: {"jobs": 3, "job_seconds": 0.4, "durations": [seconds per job] (instead of
    job_seconds), "poll": 0.05, "until_empty": false, "idle": false, "raises_at": a job whose
    handle() raises RuntimeError as it starts (none by default), "again": a number of jobs
    added once the first call has ended, for a second call (until_empty=True) in the same
    process (its answer in the outcome's "again"),
    "sigterm": "during_job" | "at_job" | "after_all" | "idle" | null, "at": 0, "idle_seconds": 0.3}.
    With "during_job", SIGTERM is sent as the first job starts; with "at_job", as job ``at``
    starts; with "after_all", once the last job has ended and the worker has waited a while
    (it is idle then); with "idle", after ``idle_seconds``. Answers {"log": [...], "outcome":
    {...} | null, "exitcode": int | null,
    "stopped_after": seconds from SIGTERM to exit (null without SIGTERM), "still_running": bool,
    "signalled": whether the worker was still there to get its SIGTERM}.
    """
    folder = tempfile.mkdtemp(prefix="lesson05_worker_")
    log = Path(folder, "log")
    log.touch()
    stopped_after = None
    with forked(_worker_child, run_worker, folder, scenario, grace=0.5) as child:
        when = scenario.get("sigterm")
        if when == "during_job":
            wait_until(lambda: "start" in log.read_text(), 2.0, 0.005)
        elif when == "at_job":
            wait_until(lambda: f"start {scenario['at']}\n" in log.read_text(), 2.0, 0.005)
        elif when == "after_all":
            jobs = scenario.get("jobs", 0)
            wait_until(lambda: not jobs or f"end {jobs - 1}\n" in log.read_text(), 2.0, 0.005)
            time.sleep(AFTER_ALL_SECONDS)
        elif when == "idle":
            time.sleep(scenario.get("idle_seconds", 0.3))
        signalled = bool(when) and child.is_alive()
        if signalled:
            sent = time.monotonic()
            os.kill(child.pid, signal.SIGTERM)
            child.join(2.0)
            stopped_after = time.monotonic() - sent if not child.is_alive() else None
        else:
            child.join(2.5)
        still_running = child.is_alive()
    outcome_file = Path(folder, "outcome.json")
    return {
        "log": log.read_text().split("\n")[:-1],
        "outcome": json.loads(outcome_file.read_text()) if outcome_file.exists() else None,
        "exitcode": None if still_running else child.exitcode,
        "stopped_after": stopped_after,
        "still_running": still_running,
        "signalled": signalled,
    }


def worker_scenarios(run_worker: Callable, scenarios: list[dict]) -> list[dict]:
    """``worker_scenario`` for each scenario, all at once: each forks a worker of its own and
    watches it from a thread of its own, so the batch costs its longest scenario."""
    from concurrent.futures import ThreadPoolExecutor

    if not scenarios:
        return []
    with ThreadPoolExecutor(max_workers=len(scenarios)) as threads:
        return list(threads.map(lambda scenario: worker_scenario(run_worker, scenario), scenarios))


# --- the jobs app (exercise jobs_app): sessions of requests on a fresh queue -------------------


async def _jobs_session(setup: dict, factory: Callable, empty: str, steps: list[dict]) -> dict:
    import httpx

    path = str(Path(tempfile.mkdtemp(prefix="lesson05_app_")) / "queue.db")
    shutil.copyfile(empty, path)
    app = factory(path)
    answers: list = []
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for step in steps:
            if step["op"] == "work":
                answers.append(work(setup, path, step))
                continue
            headers = {} if step.get("key") is None else {"Idempotency-Key": step["key"]}
            response = await client.request(step["method"], step["path"], json=step.get("json"), headers=headers)
            try:
                body = response.json()
            except ValueError:
                body = None
            answers.append({"status": response.status_code, "json": body, "location": response.headers.get("location")})
    return {"answers": answers, "tables": {table: rows(setup, path, table) for table in ("jobs", "report_requests")}}


async def jobs_sessions(setup: dict, factory: Callable, sessions: list[list[dict]]) -> list[dict]:
    """For each session: a fresh queue, ``factory(path)`` made on it, and the session's steps
    in order: ``{"op": "request", "method", "path", "json", "key"}`` (the key is sent as
    Idempotency-Key) answers {"status", "json" (None if not JSON), "location"}; ``{"op": "work",
    "id", "state", "attempts", "error", "result"}`` writes a worker's progress into the job's
    row and answers None. Then every row of ``jobs`` and ``report_requests``."""
    empty = fresh_queue(setup, "empty")
    return [await _jobs_session(setup, factory, empty, steps) for steps in sessions]
