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


def database(new_database: Any) -> str:
    """A fresh database of the service (the setup cell's ``new_database``) in a folder of the
    sandbox's own temporary folder, which the grader removes with the sandbox; its URL."""
    folder = tempfile.mkdtemp(prefix="lesson10-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # nbgrader's kernel, the reference: the system's /tmp
    return new_database(folder)


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
    async def rename(name: str, read: Annotated[None, Depends(reads_first)], session: transaction_alias,
                     refuse: bool = False, crash: bool = False) -> dict:
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

    from asgi_lifespan import LifespanManager

    from coursekit import data
    from coursekit.asgi import http_scope
    from coursekit.streams import collector_held, http_call

    url = database(new_database)
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
        async with LifespanManager(app, startup_timeout=5, shutdown_timeout=5) as manager:
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
    from asgi_lifespan import LifespanManager

    from coursekit.asgi import drive, http_scope

    folder = tempfile.mkdtemp(prefix="lesson10-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    missing = f"sqlite+aiosqlite:///{folder}/no-such-folder/service.db"
    app = make_app(missing)
    async with LifespanManager(app, startup_timeout=5, shutdown_timeout=5) as manager:
        trace = await drive(manager.app, http_scope("GET", "/health"))
    return {"status": trace.status, "body": trace.body.decode("utf-8", "replace"),
            "raised": None if trace.exception is None else type(trace.exception).__name__}


async def two_databases(make_app: Any, get_session: Any, transaction_alias: Any, new_database: Any) -> list:
    """Two apps made one after the other, alive together, on two databases (the second with 5
    users): what GET /probe/sessions answers from each, asked in turn, twice."""
    from asgi_lifespan import LifespanManager

    from coursekit.asgi import drive, http_scope

    urls = [database(new_database), database(new_database)]
    write(urls[1], "DELETE FROM users WHERE id > 5")  # plain sqlite3 enforces no foreign key
    apps = [make_app(url, _probe_router(get_session, transaction_alias, {})) for url in urls]
    answers = []
    async with LifespanManager(apps[0]) as first, LifespanManager(apps[1]) as second:
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
    return make_app(database(new_database), first, second)


def router_saw_sessions(app: Any) -> Any:
    return getattr(app.state, "router_saw_sessions", None)


# --- step 2: who is asking ------------------------------------------------------------------------


def read_service(make_app: Any, read_router: Any, current_caller: Any, new_database: Any) -> Any:
    """make_app(url, read_router(), <a router answering GET /probe/caller with request.state.caller>)
    on a fresh database; the URL is kept on the app (``app.state.probe_url``) for ``read``."""
    from typing import Annotated, Any as AnyType

    from fastapi import APIRouter, Depends, Request

    probe = APIRouter()

    @probe.get("/probe/caller")
    async def caller(request: Request, given: Annotated[AnyType, Depends(current_caller)]) -> dict:
        kept = getattr(request.state, "caller", None)
        fields = ("user_id", "tenant_id", "role", "tenant_slug")
        return {"given": {name: getattr(given, name, None) for name in fields},
                "kept": None if kept is None else {name: getattr(kept, name, None) for name in fields},
                "same": kept is given}

    url = database(new_database)
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
