"""Probes for lesson 10 (the capstone): the learner's service, run next to their code, reported in JSON.

The steps take and make Python objects (routers, dependencies, an app with a lifespan), which
cannot cross the sandbox boundary. So a hidden test names a scenario, a probe here builds the
service from the learner's parts on a fresh database (the released setup cell's
``new_database``), runs the scenario and answers with what it saw: statuses, bodies, what
another connection read at a given moment, connections borrowed. Or it makes the service and
keeps it in the sandbox (``submission.make("$fixture:lesson10.read_service", ...)``), and the
test talks to it over ASGI.

This module is public: it holds the harness, never an exercise's answer, and no expectation;
the assertions stay in the hidden suite. Only the standard library is imported at the top.
"""

import atexit
import contextlib
import shutil
import sqlite3
import tempfile
from typing import Any

_WATCHED: dict[int, Any] = {}  # id(app) -> coursekit.data.BorrowedConnections of its engine
_PRISTINE: dict[int, str] = {}  # invoices added to Acme -> the URL of a database no app has served


def database(new_database: Any) -> str:
    """A fresh database of the service (the setup cell's ``new_database``) in a folder of the
    sandbox's own temporary folder, which the grader removes with the sandbox; its URL."""
    folder = tempfile.mkdtemp(prefix="lesson10-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # nbgrader's kernel, the reference: the system's /tmp
    return new_database(folder)


def fresh(new_database: Any, more: int = 0) -> str:
    """A fresh database of the service, with ``more`` invoices added to Acme (``add_invoices``),
    its URL: a copy of one made once per process with the setup cell's ``new_database``, so that
    a fresh service costs a file copy rather than a database made from the CSV files."""
    import os

    url = _PRISTINE.get(more)
    if url is None or not os.path.exists(_path(url)):
        url = _PRISTINE[more] = database(new_database)
        if more:
            add_invoices(url, more)
    return copy_of(url)


@contextlib.asynccontextmanager
async def lifespan_running(app: Any):
    """``app``'s lifespan run by asgi_lifespan's LifespanManager, as lesson 7's tests run it
    (every request then gets the lifespan's one ``state`` dict); yields the manager. An app
    whose lifespan call returns without starting up fails at once, not after the manager's
    time-out: a server would go on without a lifespan, which no step's app may do."""
    from asgi_lifespan import LifespanManager, LifespanNotSupported

    from coursekit.asgi import lifespan_must_start

    def failed() -> RuntimeError:
        return RuntimeError("the app returned from its lifespan without starting up (no lifespan.startup.complete)")

    try:
        async with LifespanManager(lifespan_must_start(app, failed), startup_timeout=5, shutdown_timeout=5) as manager:
            yield manager
    except LifespanNotSupported as exc:
        raise RuntimeError(str(exc.__cause__ or exc)) from None


def _path(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).database


def read(url: str, query: str, params: list | tuple = ()) -> list:
    """Rows of one query on the service's database, read with plain sqlite3, outside the app."""
    with contextlib.closing(sqlite3.connect(_path(url))) as db:
        return [list(row) for row in db.execute(query, params).fetchall()]


def write(url: str, statement: str, params: list | tuple = ()) -> None:
    """One statement on the service's database, committed, with plain sqlite3."""
    with contextlib.closing(sqlite3.connect(_path(url))) as db, db:
        db.execute(statement, params)


# --- step 1: the app, its engine, its sessions --------------------------------------------------


def _probe_router(get_session: Any, transaction_alias: Any, seen: dict) -> Any:
    """Routes that read, write and fail through the learner's get_session and Transaction."""
    from typing import Annotated

    from fastapi import APIRouter, Depends, HTTPException, Request
    from sqlalchemy import func, select, update
    from sqlalchemy.ext.asyncio import AsyncSession

    from coursekit import data

    Session = Annotated[AsyncSession, Depends(get_session)]
    router = APIRouter()

    async def also_a_session(session: Session) -> Any:
        return session

    @router.get("/probe/sessions")
    async def sessions(request: Request, first: Session, second: Annotated[Any, Depends(also_a_session)]) -> dict:
        seen.setdefault("sessions", []).append(first)
        users = (await first.execute(select(func.count()).select_from(data.users_table))).scalar_one()
        return {"same": first is second, "users": users, "class": type(first).__name__}

    async def reads_first(session: Session) -> None:  # as current_caller does: the session has a transaction going
        await session.execute(select(func.count()).select_from(data.tenants_table))

    @router.post("/probe/rename")
    async def rename(
        name: str,
        read: Annotated[None, Depends(reads_first)],
        session: transaction_alias,
        refuse: bool = False,
        crash: bool = False,
    ) -> dict:
        await session.execute(update(data.invoices_table).where(data.invoices_table.c.id == 1).values(customer=name))
        if refuse:
            raise HTTPException(409, "refused after writing")
        if crash:
            raise RuntimeError("a bug after writing")
        return {"renamed": name}

    @router.get("/probe/slow")
    async def slow(session: Session) -> dict:
        import asyncio

        await session.execute(select(1))
        await asyncio.sleep(2)  # cancelled before it ends (a server's timeout, a shutdown)
        return {}

    return router


async def session_report(make_app: Any, get_session: Any, transaction_alias: Any, new_database: Any) -> dict:
    """Step 1's scenario, on a fresh database, the collector off then on: the app made with the
    probe's router, its lifespan run; every observation the session promises need."""
    import asyncio
    import gc

    from coursekit import data
    from coursekit.asgi import http_scope
    from coursekit.streams import collector_held, http_call

    url = fresh(new_database)
    seen: dict = {}
    app = make_app(url, _probe_router(get_session, transaction_alias, seen))
    report: dict = {}

    def customer() -> str:
        return read(url, "SELECT customer FROM invoices WHERE id = 1")[0][0]

    async def ask(method: str, path: str) -> dict:
        answered: dict = {}

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                answered["status"], answered["customer_at_status"] = message["status"], customer()
            elif message["type"] == "http.response.body":
                answered["body"] = answered.get("body", b"") + message.get("body", b"")

        where, _, query = path.partition("?")
        try:
            await manager.app(http_scope(method, where, query=query), receive, send)
        except Exception as exc:  # the app's own error, after its 500 went out
            answered["raised"] = type(exc).__name__
        answered["body"] = answered.get("body", b"").decode("utf-8", "replace")
        answered["customer_after"] = customer()
        return answered

    with collector_held():
        async with lifespan_running(app) as manager:
            engine = getattr(app.state, "engine", None)
            sessions = getattr(app.state, "sessions", None)
            report["engine"] = type(engine).__name__
            report["sessions_bound_to_engine"] = getattr(sessions, "kw", {}).get("bind") is engine
            pool_at_start = id(engine.sync_engine.pool) if report["engine"] == "AsyncEngine" else None
            lent = data.watch(engine) if report["engine"] == "AsyncEngine" else None
            report["health"] = await ask("GET", "/health")
            report["sessions"] = [await ask("GET", "/probe/sessions") for _ in range(2)]
            ids = [id(session) for session in seen.get("sessions", [])]
            report["distinct_sessions"] = len(set(ids)) == len(ids) == 2
            report["refused"] = await ask("POST", "/probe/rename?name=refused&refuse=true")
            report["crashed"] = await ask("POST", "/probe/rename?name=crashed&crash=true")
            report["renamed"] = await ask("POST", "/probe/rename?name=stored")
            cut = await http_call(manager.app, "GET", "/probe/slow", timeout=0.5)
            report["cancelled"] = cut.returned_at is None
            await asyncio.sleep(0.1)
            report["borrowed"] = None if lent is None else lent.borrowed
            if lent is not None:
                await lent.close_borrowed()
        gc.collect()
        report["pool_replaced_at_shutdown"] = pool_at_start is not None and id(engine.sync_engine.pool) != pool_at_start
    return report


async def unreachable_health(make_app: Any) -> dict:
    """GET /health of an app made on a database that cannot be opened (a missing folder)."""

    from coursekit.asgi import drive, http_scope

    folder = tempfile.mkdtemp(prefix="lesson10-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    missing = f"sqlite+aiosqlite:///{folder}/no-such-folder/service.db"
    app = make_app(missing)
    async with lifespan_running(app) as manager:
        trace = await drive(manager.app, http_scope("GET", "/health"))
    return {
        "status": trace.status,
        "body": trace.body.decode("utf-8", "replace"),
        "raised": None if trace.exception is None else type(trace.exception).__name__,
    }


async def two_databases(make_app: Any, get_session: Any, transaction_alias: Any, new_database: Any) -> list:
    """Two apps made one after the other, alive together, on two databases (the second with 5
    users): what GET /probe/sessions answers from each, asked in turn, twice."""

    from coursekit.asgi import drive, http_scope

    urls = [fresh(new_database), fresh(new_database)]
    write(urls[1], "DELETE FROM users WHERE id > 5")  # plain sqlite3 enforces no foreign key
    apps = [make_app(url, _probe_router(get_session, transaction_alias, {})) for url in urls]
    answers = []
    async with lifespan_running(apps[0]) as first, lifespan_running(apps[1]) as second:
        for manager in (first, second, first, second):
            trace = await drive(manager.app, http_scope("GET", "/probe/sessions"))
            answers.append([trace.status, trace.json() if trace.status == 200 else None])
    return answers


def ordered_routers(make_app: Any, new_database: Any) -> Any:
    """An app of two routers answering the same path (the first one included must win), the
    second with a lifespan of its own that looks for app.state.sessions when it starts."""
    from contextlib import asynccontextmanager

    from fastapi import APIRouter

    @asynccontextmanager
    async def looks_for_sessions(app: Any):  # type: ignore[no-untyped-def]
        app.state.router_saw_sessions = getattr(app.state, "sessions", None) is not None
        yield

    first, second = APIRouter(), APIRouter(lifespan=looks_for_sessions)
    first.get("/probe/which")(lambda: {"router": "first"})
    second.get("/probe/which")(lambda: {"router": "second"})
    second.get("/probe/second")(lambda: {"router": "second"})
    return make_app(fresh(new_database), first, second)


def router_saw_sessions(app: Any) -> Any:
    return getattr(app.state, "router_saw_sessions", None)


# --- step 2: who is asking ------------------------------------------------------------------------


def read_service(make_app: Any, read_router: Any, current_caller: Any, require_admin: Any, new_database: Any) -> Any:
    """make_app(url, read_router(), <a router answering GET /probe/caller with what current_caller
    gave and kept on request.state.caller, and GET /probe/admin with what require_admin gave>) on
    a fresh database; the URL is kept on the app (``app.state.probe_url``) for ``read``."""
    from typing import Annotated
    from typing import Any as AnyType

    from fastapi import APIRouter, Depends, Request

    probe = APIRouter()

    @probe.get("/probe/caller")
    async def caller(request: Request, given: Annotated[AnyType, Depends(current_caller)]) -> dict:
        kept = getattr(request.state, "caller", None)
        fields = ("user_id", "tenant_id", "role", "tenant_slug")
        return {
            "given": {name: getattr(given, name, None) for name in fields},
            "kept": None if kept is None else {name: getattr(kept, name, None) for name in fields},
            "same": kept is given,
        }

    @probe.get("/probe/admin")
    async def admin(given: Annotated[AnyType, Depends(require_admin)]) -> dict:
        fields = ("user_id", "tenant_id", "role", "tenant_slug")
        return {"given": None if given is None else {name: getattr(given, name, None) for name in fields}}

    url = fresh(new_database)
    app = make_app(url, read_router(), probe)
    app.state.probe_url = url
    return app


def watch(app: Any) -> bool:
    """Count the connections ``app.state.engine`` lends from now on (``coursekit.data.watch``);
    False when the app keeps no engine there (its lifespan has not run, or keeps it elsewhere)."""
    from coursekit import data

    engine = getattr(getattr(app, "state", None), "engine", None)
    if engine is None or not hasattr(getattr(engine, "sync_engine", None), "pool"):
        return False
    _WATCHED[id(app)] = data.watch(engine)
    return True


def borrowed(app: Any) -> Any:
    """Connections lent since ``watch(app)`` and not given back; None when it is not watched."""
    watched = _WATCHED.get(id(app))
    return None if watched is None else watched.borrowed


async def close_app(app: Any) -> int:
    """Housekeeping, never a check: close the connections the app leaked (each an aiosqlite
    thread, and a sandbox may start only a few); answer how many."""
    watched = _WATCHED.pop(id(app), None)
    return 0 if watched is None else await watched.close_borrowed()


# --- shared by steps 3 to 6: a service on a fresh database, a client in the sandbox ----------------


def token(user_id: int) -> str:
    """The api_token of user ``user_id`` of datasets/users.csv (public fixtures, not secrets)."""
    from coursekit import data

    return next(row["api_token"] for row in data.rows("users") if row["id"] == user_id)


def headers_of(user_id: Any, extra: dict | None = None) -> dict:
    """``Authorization: Bearer <token>`` of user ``user_id`` (none for None), with ``extra``."""
    headers = {} if user_id is None else {"Authorization": f"Bearer {token(user_id)}"}
    return {**headers, **(extra or {})}


def copy_of(url: str) -> str:
    """A copy of the database at ``url`` in a new folder beside it, its URL: a fresh service
    costs a file copy, not a new database made from the CSV files."""
    import os

    folder = tempfile.mkdtemp(prefix="lesson10-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shutil.copyfile(_path(url), os.path.join(folder, "service.db"))
    return f"sqlite+aiosqlite:///{folder}/service.db"


@contextlib.asynccontextmanager
async def serving(app: Any):
    """``app`` with its lifespan running, and an httpx client on it (an exception in the app
    answers 500, as a server would); the connections it leaked closed afterwards (each is a
    thread of the sandbox)."""
    import httpx

    async with lifespan_running(app) as manager:
        watched = watch(app)
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
                yield http
        finally:
            if watched:
                await close_app(app)


def answer_of(response: Any) -> dict:
    """What a client saw of one response, as plain data: status, the headers the steps name,
    the JSON body (None when it is not JSON) and the text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    return {
        "status": response.status_code,
        "json": body,
        "text": response.text[:2000],
        "content_type": response.headers.get("content-type"),
        "location": response.headers.get("location"),
    }


# Scenarios that outlast a call: a step's scenario can take longer than one call to the sandbox
# may (``Limits.call_seconds``) on a machine busy with a whole class. ``begin`` starts one in the
# background (a task on the sandbox's loop, or a thread for one that blocks) and answers its id;
# ``outcome`` answers whether it ended, as ``autograder.suitekit.probe_in_background`` asks. What
# the learner's code raised is the scenario's answer, described as the sandbox describes it.
_RUNS: dict[str, Any] = {}


async def begin(name: str, *args: Any) -> str:
    """The probe ``name`` of this module, called with ``args`` in the background: its run's id."""
    import asyncio
    import inspect
    import time

    from autograder.sandbox.runner import describe_error

    function = globals()[name]

    async def run() -> dict:
        try:
            if inspect.iscoroutinefunction(function):
                return {"value": await function(*args)}
            return {"value": await asyncio.to_thread(function, *args)}
        except Exception as exc:  # the learner's code raised (a probe's own bug shows the same way)
            return {"value": {"raised": describe_error(exc)}}

    run_id = f"{name}-{len(_RUNS)}-{time.monotonic_ns()}"
    _RUNS[run_id] = asyncio.ensure_future(run())
    return run_id


async def outcome(run_id: str, wait: float) -> dict:
    """{"done": false} while the run ``run_id`` goes on after ``wait`` seconds; then, once,
    {"done": true, "value": its answer}."""
    import asyncio

    task = _RUNS[run_id]
    await asyncio.wait({task}, timeout=wait)
    if not task.done():
        return {"done": False}
    del _RUNS[run_id]
    return {"done": True, **task.result()}


# --- step 3: creating an invoice ----------------------------------------------------------------


def watched_broker(url: str) -> Any:
    """A StubBroker that keeps every message it is handed, and what another connection (plain
    sqlite3) read at that moment of the invoice and of its report job; while ``down`` it
    refuses messages as a broker that cannot be reached (after ``accept`` more, if set)."""
    from dramatiq.brokers.stub import StubBroker

    class WatchedBroker(StubBroker):
        def __init__(self) -> None:
            super().__init__()
            self.down = False
            self.accept: int | None = None  # while down, messages still accepted first
            self.refuse = 0  # while up, messages refused first (a broker that fails now and then)
            self.sent: list[dict] = []

        def enqueue(self, message: Any, *, delay: Any = None) -> Any:
            if self.down:
                if not self.accept:
                    raise ConnectionError("the broker cannot be reached")
                self.accept -= 1
            elif self.refuse:
                self.refuse -= 1
                raise ConnectionError("the broker failed to take the message")
            args = list(message.args)
            try:
                stored = read(
                    url,
                    "SELECT (SELECT COUNT(*) FROM invoices WHERE id = ?), "
                    "(SELECT COUNT(*) FROM report_jobs WHERE invoice_id = ?)",
                    (args[0], args[0]),
                )[0]
            except Exception:  # an argument sqlite3 cannot bind: nothing stored under it
                stored = [0, 0]
            self.sent.append(
                {
                    "actor": message.actor_name,
                    "args": args,
                    "kwargs": dict(message.kwargs),
                    "invoice_stored": stored[0] == 1,
                    "job_stored": stored[1] == 1,
                }
            )
            return super().enqueue(message, delay=delay)

    return WatchedBroker()


def _invoice(url: str, invoice_id: Any) -> dict | None:
    columns = (
        "id",
        "tenant_id",
        "user_id",
        "number",
        "customer",
        "amount_cents",
        "currency",
        "status",
        "issued_on",
        "due_on",
    )
    rows = read(url, f"SELECT {', '.join(columns)} FROM invoices WHERE id = ?", (invoice_id,))  # noqa: S608 (names from the suite's own list, values bound)
    return dict(zip(columns, rows[0], strict=True)) if rows else None


def _jobs(url: str) -> list:
    """Every report job: [idempotency_key, invoice_id, sent], in invoice order."""
    return [
        [key, invoice_id, sent == 1]
        for key, invoice_id, sent in read(
            url, "SELECT idempotency_key, invoice_id, sent_at IS NOT NULL FROM report_jobs ORDER BY invoice_id"
        )
    ]


def _count(url: str, table: str) -> int:
    return read(url, f"SELECT COUNT(*) FROM {table}")[0][0]  # noqa: S608 (names from the suite's own list, values bound)


def creation_service(
    make_app: Any, report_actor: Any, creation_router: Any, new_database: Any, url: str | None = None
) -> tuple[Any, Any, Any]:
    """``make_app(url, creation_router(report_actor(broker, url)))`` on a fresh database (or
    ``url``), its broker watched: (app, broker, actor)."""
    url = url or fresh(new_database)
    broker = watched_broker(url)
    actor = report_actor(broker, url)
    app = make_app(url, creation_router(actor))
    app.state.probe_url = url
    return app, broker, actor


async def _post(http: Any, url: str, user_id: Any, body: Any, key: str | None = None) -> dict:
    """POST /invoices as ``user_id`` (``body`` as JSON, or as the exact bytes of a str), and
    what it changed: the answer, the invoices and report jobs it added."""
    headers = headers_of(user_id, {} if key is None else {"Idempotency-Key": key})
    before = (_count(url, "invoices"), _count(url, "report_jobs"))
    if isinstance(body, str):
        response = await http.post(
            "/invoices", content=body.encode(), headers={**headers, "Content-Type": "application/json"}
        )
    else:
        response = await http.post("/invoices", json=body, headers=headers)
    seen = answer_of(response)
    seen["added"] = [_count(url, "invoices") - before[0], _count(url, "report_jobs") - before[1]]
    return seen


async def creation_report(
    make_app: Any, report_actor: Any, creation_router: Any, new_database: Any, refused: list, created: list
) -> dict:
    """Step 3's creations: each refused body (as user 3), then each ``[user, body]`` created in
    turn; then a POST whose report job cannot be written (a job under its key is there
    already). What each answered, the rows it left, and what the broker was handed."""
    app, broker, actor = creation_service(make_app, report_actor, creation_router, new_database)
    url = app.state.probe_url
    report: dict = {"actor_name": getattr(actor, "actor_name", None), "declared": sorted(broker.get_declared_actors())}
    async with serving(app) as http:
        report["refused"] = [await _post(http, url, 3, body) for body in refused]
        report["created"] = []
        for user_id, body in created:
            seen = await _post(http, url, user_id, body)
            seen["row"] = _invoice(url, (seen["json"] or {}).get("id")) if isinstance(seen["json"], dict) else None
            report["created"].append(seen)
        report["jobs"] = _jobs(url)
        report["messages"] = list(broker.sent)
        # The invoice's job cannot be stored: its key is taken. Both or neither: no invoice either.
        upcoming = read(url, "SELECT MAX(id) + 1 FROM invoices")[0][0]
        write(
            url, "INSERT INTO report_jobs (idempotency_key, invoice_id) VALUES (?, ?)", (f"report-{upcoming}", upcoming)
        )
        sent_before = len(broker.sent)
        blocked = await _post(http, url, 3, created[0][1])
        blocked["invoice_kept"] = _invoice(url, upcoming) is not None
        blocked["sent"] = len(broker.sent) - sent_before
        report["blocked"] = blocked
    return report


async def idempotency_report(
    make_app: Any, report_actor: Any, creation_router: Any, new_database: Any, steps: list
) -> list:
    """Each step ``[user, body, key]`` posted in turn on one fresh service (``body`` a str is
    sent as those exact bytes): what it answered, added, and handed the broker."""
    app, broker, _ = creation_service(make_app, report_actor, creation_router, new_database)
    url = app.state.probe_url
    seen = []
    async with serving(app) as http:
        for user_id, body, key in steps:
            sent_before = len(broker.sent)
            answer = await _post(http, url, user_id, body, key)
            answer["sent"] = len(broker.sent) - sent_before
            seen.append(answer)
    return seen


async def relay_report(
    make_app: Any, report_actor: Any, creation_router: Any, send_pending: Any, new_database: Any, body: dict
) -> dict:
    """The broker down while user 3 creates three invoices; up, ``send_pending`` twice; down
    again (after accepting one message) for two more invoices and a relay; then a second app
    on the same database started while the broker is down, and a third once it is up: whether
    the second started, and what the third's startup sent; then, the broker refusing one message
    once, two more invoices and two relays. Every message the broker took, in the order it took them."""
    app, broker, actor = creation_service(make_app, report_actor, creation_router, new_database)
    url = app.state.probe_url
    report: dict = {}

    async def relay() -> dict:
        before = len(broker.sent)
        try:
            answered: Any = await send_pending(app.state.sessions, actor)
        except Exception as exc:
            answered = {"raised": type(exc).__name__}
        return {"answered": answered, "sent": [message["args"] for message in broker.sent[before:]], "jobs": _jobs(url)}

    async with serving(app) as http:
        broker.down = True
        report["while_down"] = [await _post(http, url, 3, body) for _ in range(3)]
        report["jobs_while_down"] = _jobs(url)
        report["sent_while_down"] = len(broker.sent)
        broker.down = False
        report["relayed"] = await relay()
        report["relayed_again"] = await relay()
        broker.down, broker.accept = True, 0
        report["later"] = [await _post(http, url, 3, body) for _ in range(2)]
        broker.accept = 1
        report["partly_relayed"] = await relay()
    broker.accept = 0  # still down: an app starting now must start, and leave the job for later
    try:
        async with serving(make_app(url, creation_router(actor))):
            report["started_while_down"] = None
    except Exception as exc:
        report["started_while_down"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    report["jobs_after_down_start"] = _jobs(url)
    broker.down = False
    started_with = len(broker.sent)
    again = make_app(url, creation_router(actor))
    async with serving(again) as http:
        report["sent_at_startup"] = [message["args"] for message in broker.sent[started_with:]]
        report["jobs_after_startup"] = _jobs(url)
        broker.down = True
        report["last"] = [await _post(http, url, 3, body) for _ in range(2)]
        broker.down, broker.refuse = False, 1  # the next message fails, the ones after it go
        app = again
        report["flaky_relays"] = [await relay(), await relay()]
    report["taken"] = [message["args"] for message in broker.sent]
    return report


async def report_route_report(
    make_app: Any, report_actor: Any, creation_router: Any, new_database: Any, body: dict
) -> dict:
    """An invoice created by user 3 (Acme) and one by user 15 (Globex); their report asked for
    before and after their jobs ran (each message delivered twice, as a worker that died before
    acknowledging it would get it again), by their tenant and by another; the reports stored."""
    import asyncio

    app, broker, actor = creation_service(make_app, report_actor, creation_router, new_database)
    url = app.state.probe_url
    report: dict = {}
    async with serving(app) as http:
        mine = await _post(http, url, 3, body)
        theirs = await _post(http, url, 15, body)
        ids = [(each["json"] or {}).get("id") if isinstance(each["json"], dict) else None for each in (mine, theirs)]
        report["created"] = [mine["status"], theirs["status"]]
        report["invoices"] = [_invoice(url, invoice_id) for invoice_id in ids]

        async def ask(invoice_id: Any, user_id: int) -> dict:
            return answer_of(await http.get(f"/invoices/{invoice_id}/report", headers=headers_of(user_id)))

        report["pending"] = [await ask(ids[0], 3), await ask(ids[1], 15)]
        report["other_tenant_pending"] = await ask(ids[0], 28)
        report["no_job"] = await ask(1, 3)  # the dataset's invoice 1 (Acme) was never created here
        report["missing"] = await ask(99_999, 3)
        report["out_of_range"] = [await ask(odd, 3) for odd in (0, -1, 2**63, 2**64)]
        deliveries = []
        for round_ in range(2):
            for message in list(broker.sent):
                try:
                    await asyncio.to_thread(actor.fn, *message["args"], **message["kwargs"])
                    deliveries.append(None)
                except Exception as exc:  # a job that fails is retried by the broker: reported
                    deliveries.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            if round_ == 0:
                report["stored_once"] = read(
                    url, "SELECT idempotency_key, invoice_id, body, rendered_at FROM reports ORDER BY invoice_id"
                )
        report["deliveries"] = deliveries
        report["stored"] = read(
            url, "SELECT idempotency_key, invoice_id, body, rendered_at FROM reports ORDER BY invoice_id"
        )
        report["rendered"] = [await ask(ids[0], 3), await ask(ids[1], 15)]
        report["other_tenant_rendered"] = await ask(ids[1], 3)
    return report


async def creation_calls(
    make_app: Any, report_actor: Any, creation_router: Any, new_database: Any, sequences: list
) -> list:
    """Each sequence of ``[user, body, key]`` posts on a fresh service: per post its status, its
    JSON when 201 and its Location; then the report jobs and the messages' arguments."""
    seen = []
    for steps in sequences:
        app, broker, _ = creation_service(make_app, report_actor, creation_router, new_database)
        url = app.state.probe_url
        posts = []
        async with serving(app) as http:
            for user_id, body, key in steps:
                answer = await _post(http, url, user_id, body, key)
                posts.append(
                    {
                        "status": answer["status"],
                        "json": answer["json"] if answer["status"] == 201 else None,
                        "location": answer["location"] if answer["status"] == 201 else None,
                    }
                )
        seen.append({"posts": posts, "jobs": _jobs(url), "messages": [message["args"] for message in broker.sent]})
    return seen


# --- step 4: the listing ----------------------------------------------------------------------------


async def listing_answers(make_app: Any, routers: list, new_database: Any, steps: list) -> list:
    """One fresh database, a service per router factory of ``routers`` on it
    (``make_app(url, factory())``). Each step is ``{"user": id or None, "query": "status=..." or
    None}``, answered by each service (status, content-type, JSON body), or ``{"write": [sql,
    params]}``, done with plain sqlite3 between two requests (its place answered None)."""
    url = fresh(new_database)
    seen: list = []
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(serving(make_app(url, factory()))) for factory in routers]
        for step in steps:
            if "write" in step:
                write(url, *step["write"])
                seen.append(None)
                continue
            path = "/invoices" + (f"?{step['query']}" if step.get("query") is not None else "")
            answers = []
            for http in clients:
                response = await http.get(path, headers=headers_of(step.get("user")))
                try:
                    body: Any = response.json()
                except ValueError:
                    body = {"not JSON": response.text[:200]}
                answers.append(
                    {"status": response.status_code, "content_type": response.headers.get("content-type"), "body": body}
                )
            seen.append(answers)
    return seen


async def listing_sequences(make_app: Any, listing_router: Any, new_database: Any, sequences: list) -> list:
    """``listing_answers`` of ``listing_router`` alone for each sequence of steps, each on a fresh database."""
    return [
        [
            None if answers is None else answers[0]
            for answers in await listing_answers(make_app, [listing_router], new_database, steps)
        ]
        for steps in sequences
    ]


GC_AS_PYTHON_STARTS = (700, 10, 10)  # gc.get_threshold() in a fresh CPython 3.11


def listing_speed(
    make_app: Any,
    naive_listing_router: Any,
    listing_router: Any,
    new_database: Any,
    user_id: int,
    more: int,
    repeat: int,
) -> dict:
    """GET /invoices as ``user_id``, Acme having ``more`` invoices added, timed in CPU time on the
    naive listing and the learner's, interleaved round by round (``coursekit.timing.compare_apps``):
    seconds per request, per round. Blocking: run it with ``begin`` (in a thread).

    The race runs with the garbage collector as Python starts it, whatever the process set: with
    it collecting at every allocation (``gc.set_threshold(1, 1, 1)``, which the course's own tests
    give some sandboxes), collecting is most of both listings' time and they look alike."""
    import gc

    from coursekit.timing import compare_apps, cpu_time

    url = fresh(new_database, more)
    apps = {"naive": make_app(url, naive_listing_router()), "learner": make_app(url, listing_router())}
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(*GC_AS_PYTHON_STARTS)
    gc.enable()
    try:
        timings = compare_apps(
            apps, "GET", "/invoices", headers=headers_of(user_id), repeat=repeat, clock=cpu_time, min_batch=0.02
        )
    finally:
        gc.set_threshold(*thresholds)
        if not enabled:
            gc.disable()
    return {name: timing.per_call for name, timing in timings.timings.items()}


# --- step 5: the CSV export ---------------------------------------------------------------------------


def add_invoices(url: str, count: int, tenant_id: int = 1) -> None:
    """``count`` more invoices for tenant ``tenant_id``: copies of the dataset's, in turn (every
    customer's name, the ones CSV must quote too), numbered COPY-<n>."""
    write(
        url,
        """
        WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ?)
        INSERT INTO invoices (tenant_id, user_id, number, customer, amount_cents, currency, status, issued_on, due_on)
        SELECT ?, (SELECT MIN(id) FROM users WHERE tenant_id = ?), 'COPY-' || k, i.customer, i.amount_cents,
               i.currency, i.status, i.issued_on, i.due_on
        FROM n JOIN invoices AS i ON i.id = 1 + (k - 1) % 400""",
        (count, tenant_id, tenant_id),
    )


@contextlib.contextmanager
def _asyncio_log_kept() -> Any:
    """asyncio's log held back for the block: a connection SQLAlchemy threw away leaves a task
    that never ends, which asyncio reports when the collector destroys it (counted instead)."""
    import logging

    logger = logging.getLogger("asyncio")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


async def export_runs(make_app: Any, export_router: Any, new_database: Any, cases: list) -> list:
    """Each case ``{"user", "query", "more", "memory", "body", "leave_after_chunks",
    "stall_after_chunks", "leave_after"}``: ``make_app(url, export_router())`` on a copy of a
    database with ``more`` invoices added to Acme, one GET /invoices.csv through a client that
    plays a server's part (``coursekit.streams.http_call``; it may leave in the middle, reading
    or not), the garbage collector held. Answers what the client saw, the body (when ``body``)
    or its size and sha256, the peak of Python's memory while it ran (when ``memory``), and the
    connections still borrowed half a second after it ended and thrown away (invalidated)."""
    import asyncio
    import gc
    import hashlib
    import time
    import tracemalloc

    import sqlalchemy

    from coursekit import data
    from coursekit.streams import collector_held, http_call

    seen = []
    for case in cases:
        app = make_app(fresh(new_database, int(case.get("more", 0))), export_router())
        path = "/invoices.csv" + (f"?{case['query']}" if case.get("query") else "")
        async with lifespan_running(app) as manager:
            engine = app.state.engine  # make_app keeps it there (step 1)
            lent, invalidated = data.watch(engine), []
            sqlalchemy.event.listen(
                engine.sync_engine.pool, "invalidate", lambda *args, kept=invalidated: kept.append(1)
            )
            with collector_held(), _asyncio_log_kept():
                tracing = case.get("memory") and not tracemalloc.is_tracing()
                if tracing:
                    tracemalloc.start()
                try:
                    if case.get("memory"):
                        tracemalloc.reset_peak()
                        start = tracemalloc.get_traced_memory()[0]
                    call = await http_call(
                        manager.app,
                        "GET",
                        path,
                        headers=list(headers_of(case.get("user")).items()),
                        leave_after_chunks=case.get("leave_after_chunks"),
                        stall_after_chunks=case.get("stall_after_chunks"),
                        leave_after=case.get("leave_after"),
                        chunk_delay=0.005 if case.get("leave_after_chunks") else 0.0,
                        keep_body=not case.get("memory"),
                        timeout=float(case.get("timeout", 10.0)),
                    )
                    peak = tracemalloc.get_traced_memory()[1] - start if case.get("memory") else None
                finally:
                    if tracing:
                        tracemalloc.stop()
                deadline = time.perf_counter() + 0.5
                while lent.borrowed and time.perf_counter() < deadline:  # noqa: ASYNC110 (polls the learner's object: no event of ours to wait on)
                    await asyncio.sleep(0.02)
                borrowed = lent.borrowed
                await lent.close_borrowed()
                gc.collect()  # a task SQLAlchemy left pending when it threw a connection away goes now
        answer = {
            "status": call.status,
            "headers": [[name.lower(), value] for name, value in call.headers],
            "chunks": call.chunks,
            "complete": call.complete,
            "left": call.left_at is not None,
            "error": call.error,
            "size": call.size,
            "sha256": hashlib.sha256(bytes(call.body)).hexdigest(),
            "borrowed": borrowed,
            "invalidated": len(invalidated),
            "peak": peak,
        }
        if case.get("body"):
            answer["body"] = call.text
        seen.append(answer)
    return seen


# --- step 6: the request log --------------------------------------------------------------------------

STREAM_PAUSE = 0.05  # seconds between the probe app's streamed chunks, and its background work


def _log_probe_app(caller_class: Any, noted: dict) -> Any:
    """A raw ASGI app with a lifespan (so that asgi_lifespan hands every request one shared
    ``state``), whose requests are authenticated as ``current_caller`` does it: a ``Caller``
    kept on ``request.state.caller``. Paths: ``/who?user=N`` (authenticated, 200 JSON, a header
    of its own), ``/refused`` and ``/health`` (no caller: 401, 200), ``/status?code=N``,
    ``/stream?user=N`` (three chunks, then work after the response), ``/boom`` (raises before
    answering), ``/late`` (raises after its first chunk), ``/empty`` (answers nothing),
    ``/done-then-raise`` (raises after a complete response)."""
    import asyncio
    import json
    import time
    from urllib.parse import parse_qs

    from starlette.requests import Request

    from coursekit import data

    users = {row["id"]: row for row in data.rows("users")}
    slugs = {row["id"]: row["slug"] for row in data.rows("tenants")}

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if "state" in scope:  # what every request's state starts with (the server copies it)
                        scope["state"]["service"] = "probe"
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})
            return
        query = {key: values[-1] for key, values in parse_qs(scope["query_string"].decode()).items()}
        if "user" in query:
            user = users[int(query["user"])]
            Request(scope).state.caller = caller_class(
                user_id=user["id"], tenant_id=user["tenant_id"], role=user["role"], tenant_slug=slugs[user["tenant_id"]]
            )
        path = scope["path"]
        if path == "/boom":
            raise RuntimeError("the route failed")
        if path == "/empty":
            return
        status = {"/refused": 401, "/status": int(query.get("code", 200))}.get(path, 200)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"x-app", b"kept")],
            }
        )
        if path == "/stream":
            started = time.perf_counter()
            for number in range(3):
                await send({"type": "http.response.body", "body": f"{number}\n".encode(), "more_body": True})
                await asyncio.sleep(STREAM_PAUSE)
            noted["stream_ms"] = (time.perf_counter() - started) * 1000  # the line can only follow the next send
            await send({"type": "http.response.body", "body": b""})  # more_body false, as ASGI's default
            noted["lines_at_background"] = noted["count_lines"]()  # the work after the response begins
            await asyncio.sleep(STREAM_PAUSE)
            return
        if path == "/late":
            await send({"type": "http.response.body", "body": b"[", "more_body": True})
            raise ValueError("the stream failed")
        service = (scope.get("state") or {}).get("service")  # what the lifespan put in the state, if it came
        await send({"type": "http.response.body", "body": json.dumps({"path": path, "service": service}).encode()})
        if path == "/done-then-raise":
            raise RuntimeError("after the response")

    return app


async def request_logs(request_log: Any, caller_class: Any, requests: list) -> dict:
    """``request_log(app, stream)`` around the probe's app, its lifespan run by asgi_lifespan's
    LifespanManager (every request then gets the lifespan's one ``state`` dict, as in tests);
    each request ``{"path", "query", "headers", "method"}`` in turn, through a client that plays
    a server's part. Per request: the lines it wrote (parsed), the answer, what it raised, its
    time; then what a lifespan and a WebSocket connect made the middleware write and send."""
    import io
    import json
    import time

    from coursekit.asgi import drive, lifespan_scope, websocket_scope
    from coursekit.streams import http_call

    stream = io.StringIO()
    noted: dict = {"count_lines": lambda: len(stream.getvalue().splitlines())}

    def lines_since(before: int) -> list:
        parsed = []
        for line in stream.getvalue().splitlines()[before:]:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                parsed.append({"not JSON": line[:200]})
        return parsed

    report: dict = {"requests": []}
    async with lifespan_running(request_log(_log_probe_app(caller_class, noted), stream)) as manager:
        for request in requests:
            before = noted["count_lines"]()
            noted.pop("stream_ms", None)
            noted.pop("lines_at_background", None)
            started = time.perf_counter()
            path = request["path"] + (f"?{request['query']}" if request.get("query") else "")
            seen = await http_call(
                manager.app,
                request.get("method", "GET"),
                path,
                headers=[tuple(pair) for pair in request.get("headers", [])],
                timeout=5.0,
            )
            elapsed = (time.perf_counter() - started) * 1000
            at_background = noted.get("lines_at_background")
            report["requests"].append(
                {
                    "lines": lines_since(before),
                    "status": seen.status,
                    "body": seen.text[:200],
                    "headers": [[name.lower(), value] for name, value in seen.headers],
                    "raised": None if seen.error is None else seen.error.split(":", 1)[0],
                    "returned": seen.returned_at is not None,
                    "elapsed_ms": elapsed,
                    "stream_ms": noted.get("stream_ms"),
                    "lines_at_background": None if at_background is None else at_background - before,
                }
            )
    lifespan_before = noted["count_lines"]()
    lifespan = await drive(request_log(_log_probe_app(caller_class, noted), stream), lifespan_scope(), timeout=5.0)
    websocket = await drive(
        request_log(_log_probe_app(caller_class, noted), stream), websocket_scope("/ws"), timeout=5.0
    )
    report["other_scopes"] = {
        "lines": noted["count_lines"]() - lifespan_before,
        "lifespan": [message["type"] for message in lifespan.sent],
        "websocket": [message["type"] for message in websocket.sent],
    }
    return report
