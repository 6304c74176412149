"""Probes for lesson 07 (testing): the learner's fixtures, used on apps and databases built here.

Each exercise of the lesson is a piece of a test set-up (a client that runs the lifespan, a
session that rolls back, overrides that restore themselves, all of them together). A probe
builds what the fixture is used on (a FastAPI app, an SQLite database in the scratch folder),
uses the learner's fixture the way a test would, following a plan described in JSON, and
reports what it saw in JSON. The same plan run with the reference solution gives the report the
hidden suite compares with.

This module is public: it holds the harness, never an exercise's answer (the SQLite engine
whose savepoints work is the notebook's own ``savepoint_engine``, passed in by name).
"""

import itertools
import shutil
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from autograder.sandbox.plain import plain

_databases = itertools.count(1)


def _error(exc: BaseException) -> dict:
    return {"raised": type(exc).__name__}


def _body(response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


async def lifespan_report(lifespan_client, requests: list, raise_inside: bool = False) -> dict:
    """Use ``lifespan_client`` on an app whose lifespan records startup, shutdown and the
    clean-up in its ``finally``, and yields state; send ``requests`` ([method, path] pairs)
    inside the block, then raise inside it if ``raise_inside``; report what the client was,
    the answers, the lifespan's events in and after the block, and whether the client was
    closed after it."""
    from fastapi import FastAPI, Request

    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app):
        events.append("startup")
        try:
            yield {"greeting": "hello"}
            events.append("shutdown")
        finally:  # runs on shutdown, and when the lifespan is cancelled
            events.append("cleanup")

    app = FastAPI(lifespan=lifespan)

    @app.get("/hello")  # (no postponed annotations in this module: FastAPI must see Request here)
    async def hello(request: Request):
        return {"greeting": request.state.greeting, "events": list(events)}

    @app.get("/items/{number}")
    async def item(number: int):
        return {"number": number}

    report: dict[str, Any] = {"responses": []}
    client = None
    try:
        async with lifespan_client(app) as client:
            report["client"] = type(client).__name__
            report["base_url"] = str(getattr(client, "base_url", ""))
            report["events_in_block"] = list(events)
            for method, path in requests:
                try:
                    response = await client.request(method, path)
                except Exception as exc:  # the app raised, and the transport passed it on
                    report["responses"].append(_error(exc))
                    continue
                report["responses"].append({"status": response.status_code, "body": _body(response)})
            if raise_inside:
                raise LookupError("raised inside the block")
    except Exception as exc:
        report["error"] = _error(exc)
    report["events_after"] = list(events)
    report["client_closed"] = getattr(client, "is_closed", None)
    return plain(report)


async def _scratch_engine(savepoint_engine, folder: str):
    from sqlalchemy import text

    path = Path(folder) / f"probe{next(_databases)}.db"
    engine = savepoint_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    return engine


async def _count(engine) -> int:
    from sqlalchemy import text

    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT count(*) FROM notes"))).scalar_one()


async def rollback_report(rollback_session, savepoint_engine, scopes: list) -> dict:
    """Play ``scopes``: each a list of steps run on the session ``rollback_session`` gives
    ("add", "commit", "rollback", "count", and "raise": a LookupError raised inside the block)
    or, as "outside", a row committed by another connection before the scope; report what each
    "count" saw, what a new connection sees after each scope, and how many of the engine's
    connections are still checked out then."""
    from sqlalchemy import text

    from coursekit.data import watch

    # The folder goes with the probe: under nbgrader the probe runs in the learner's kernel,
    # whose temporary folder is not a sandbox's scratch folder.
    folder = tempfile.mkdtemp(prefix="lesson07-probe-")
    engine = await _scratch_engine(savepoint_engine, folder)
    lent = watch(engine)  # holds what it counts: a connection never given back stays counted
    report: list[dict] = []
    try:
        for steps in scopes:
            seen: dict[str, Any] = {"counts": []}
            try:
                if "outside" in steps:
                    async with engine.begin() as connection:
                        await connection.execute(text("INSERT INTO notes (body) VALUES ('outside')"))
                async with rollback_session(engine) as session:
                    seen["session"] = type(session).__name__
                    for step in steps:
                        if step == "add":
                            await session.execute(text("INSERT INTO notes (body) VALUES ('inside')"))
                        elif step == "commit":
                            await session.commit()
                        elif step == "rollback":
                            await session.rollback()
                        elif step == "count":
                            seen["counts"].append(
                                (await session.execute(text("SELECT count(*) FROM notes"))).scalar_one()
                            )
                        elif step == "raise":
                            raise LookupError("raised inside the block")
            except Exception as exc:
                seen["error"] = _error(exc)
            seen["checked_out"] = lent.borrowed
            seen["after"] = await _count(engine)
            report.append(seen)
    finally:
        await engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    return plain(report)


def _overrides(app, names: dict) -> dict:
    """What ``app.dependency_overrides`` holds, each override named by what it answers."""
    shown = {}
    for dependency, replacement in app.dependency_overrides.items():
        try:
            value = replacement()
        except Exception as exc:
            value = _error(exc)
        shown[names.get(dependency, getattr(dependency, "__name__", "?"))] = (
            value if isinstance(value, (str, int, type(None))) else type(value).__name__
        )
    return shown


def _invoice_app_with(before: dict):
    """The invoices app, with the overrides ``before`` describes already in place: a user
    name for current_user, "notifier" for get_notifier, "settings" for an unrelated one."""
    from coursekit.invoice_api import current_user, get_notifier, make_invoice_app

    def get_settings():
        return "settings"

    class EarlierNotifier:
        async def paid(self, invoice):
            pass

    app = make_invoice_app()
    names = {current_user: "current_user", get_notifier: "get_notifier", get_settings: "get_settings"}
    if before.get("current_user"):
        app.dependency_overrides[current_user] = lambda user=before["current_user"]: user
    if before.get("get_notifier"):
        app.dependency_overrides[get_notifier] = EarlierNotifier
    if before.get("get_settings"):
        app.dependency_overrides[get_settings] = lambda: "other settings"
    return app, names


async def outside_report(fake_outside, plan: dict) -> dict:
    """Use ``fake_outside(app, user)`` on the invoices app: create an invoice and pay it
    without a token, optionally raise inside the block (``"raise"``: true or "error" for a
    LookupError, "cancel" for asyncio.CancelledError, a BaseException as a cancelled test's),
    and report the requests, what the recorder kept, and the overrides before, inside and after."""
    import asyncio

    import httpx
    from asgi_lifespan import LifespanManager

    app, names = _invoice_app_with(plan.get("before", {}))
    report: dict[str, Any] = {"before": _overrides(app, names)}
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as client:
            try:
                with fake_outside(app, plan["user"]) as recorder:
                    report["inside"] = _overrides(app, names)
                    created = await client.post(
                        "/invoices",
                        json={
                            "customer": "probe",
                            "lines": [{"description": "x", "quantity": 2, "unit_cents": plan.get("unit_cents", 100)}],
                        },
                    )
                    report["created"] = {"status": created.status_code, "body": _body(created)}
                    if plan.get("pay") and created.status_code == 201:
                        paid = await client.post(f"/invoices/{created.json()['id']}/pay")
                        report["paid"] = {"status": paid.status_code}
                    report["recorded"] = [invoice.get("id") for invoice in getattr(recorder, "sent", [])]
                    if plan.get("raise") == "cancel":
                        raise asyncio.CancelledError("the test was cancelled")
                    if plan.get("raise"):
                        raise LookupError("raised inside the block")
            except (Exception, asyncio.CancelledError) as exc:  # only the block's own cancellation
                report["error"] = _error(exc)
            report["after"] = _overrides(app, names)
            anonymous = await client.get("/invoices")
            report["after_status"] = anonymous.status_code
    return plain(report)


async def api_report(api_client, savepoint_engine, blocks: list) -> dict:
    """Use ``api_client(app, engine, user)`` on the invoices app and a scratch database, once
    per block: each block lists steps ("create", "pay", "list", "read", and "raise": a
    LookupError raised inside the block) sent in order; report each answer, what the notifier
    recorded, whether the lifespan had run, whether the block's requests all got one session
    (two requests to a route the probe adds, at the end of the block), the overrides left after
    each block (the app starts with one of another fixture's), the rows a new connection sees
    and the engine's connections still checked out. The database starts with one invoice of
    alice's, committed before the first block."""
    from fastapi import Depends
    from sqlalchemy import func, insert, select

    from coursekit.data import watch
    from coursekit.invoice_api import get_session, invoices, make_invoice_app, metadata

    folder = tempfile.mkdtemp(prefix="lesson07-probe-")  # removed at the end, as in rollback_report
    path = Path(folder) / f"api{next(_databases)}.db"
    engine = savepoint_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        # One invoice of alice's from before: a block sees it only through the engine it was given.
        await connection.execute(
            insert(invoices).values(owner="alice", customer="earlier", total_cents=1, status="open")
        )
    lent = watch(engine)  # holds what it counts: a connection never given back stays counted
    app = make_invoice_app()
    sessions: list = []  # held, so that two sessions are never told apart by a reused id()

    @app.get("/probe/session")
    async def which_session(session=Depends(get_session)):
        sessions.append(session)
        return len(sessions)

    def get_settings():
        return "settings"

    app.dependency_overrides[get_settings] = lambda: "test settings"  # another fixture's, to be kept
    report: list[dict] = []
    try:
        for block in blocks:
            seen: dict[str, Any] = {"answers": []}
            try:
                async with api_client(app, engine, block["user"]) as (client, notifier):
                    seen["lifespan_ran"] = hasattr(app.state, "sessions")
                    seen["base_url"] = str(getattr(client, "base_url", ""))
                    last = None
                    for step in block["steps"]:
                        if step == "create":
                            response = await client.post(
                                "/invoices",
                                json={"customer": "c", "lines": [{"description": "x", "quantity": 3, "unit_cents": 7}]},
                            )
                            if response.status_code == 201:
                                last = response.json()["id"]
                        elif step == "pay" and last is not None:
                            response = await client.post(f"/invoices/{last}/pay")
                        elif step == "list":
                            response = await client.get("/invoices")
                        elif step == "raise":
                            raise LookupError("raised inside the block")
                        else:
                            response = await client.get(f"/invoices/{last or 1}")
                        seen["answers"].append({"status": response.status_code, "body": _body(response)})
                    seen["notified"] = [invoice.get("id") for invoice in getattr(notifier, "sent", [])]
                    sessions.clear()
                    for _ in range(2):
                        await client.get("/probe/session")
                    seen["one_session"] = len(sessions) == 2 and sessions[0] is sessions[1]
                    sessions.clear()
            except Exception as exc:
                seen["error"] = _error(exc)
            seen["overrides_after"] = sorted(getattr(key, "__name__", "?") for key in app.dependency_overrides)
            seen["checked_out"] = lent.borrowed
            async with engine.connect() as connection:
                seen["rows_after"] = (await connection.execute(select(func.count()).select_from(invoices))).scalar_one()
            report.append(seen)
    finally:
        await engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    return plain(report)
