"""Probes for lesson 03 (dependency injection): dependency graphs described in JSON.

The resolver exercises take Python callables, which cannot cross the sandbox boundary. So a
hidden test describes a dependency graph as JSON, a probe here turns it into real functions,
runs them, and answers with a JSON report. The same description can be run through FastAPI
(``fastapi_report``), so a test compares the learner's resolver with the real thing.

This module is public: it holds the harness (building graphs, recording what runs, in which
order and thread, and what each teardown saw), never an exercise's answer. It imports only
the standard library at the top; FastAPI, httpx and SQLAlchemy are imported inside the
probes that need them.

A graph description::

    {"nodes": [                                   # in the order FastAPI would set them up
        {"name": "settings", "kind": "sync"},
        {"name": "db", "kind": "async_gen", "deps": [{"on": "settings"}]},
        {"name": "user", "kind": "async",
         "deps": [{"on": "db"}, {"on": "settings", "use_cache": false, "annotated": true}]}],
     "endpoint": {"deps": [{"on": "user"}, {"on": "db"}], "raises": "ValueError"},
     "overrides": {"db": "fake_db"},              # optional: replace node db by node fake_db
     "requests": 2}                               # optional: how many requests (fresh caches)

``kind`` is "sync", "async", "sync_gen", "async_gen", "async_callable" (an object whose
``__call__`` is async) or "class" (a class, a ``str`` subclass: calling it makes the instance).
A node or the endpoint may have ``"plain": n``: n parameters ``plain_<i>=None`` before its
dependencies, which declare none. A node may also say ``"raises": "KeyError"`` (raised while
setting up), ``"teardown_raises": "RuntimeError"`` (raised after recording its teardown) or, if
it is no generator, ``"returns": <JSON value>`` (what each run returns instead of its name, for
falsy values such as null, 0 or ""). Each dependency ``{"on": name}`` becomes a keyword-only
parameter ``<name>_<position>`` whose default is the marker (or, with ``"annotated": true``,
whose annotation is ``Annotated[Any, marker]``; with ``"annotated": "noted"``,
``Annotated[Any, "a note", marker]``). Each run of a node returns the string
``<name><run number>``, e.g. "db1", "db2" (a class: an instance equal to it).

A report::

    {"values": {...},          # what the endpoint received, by parameter name (last request)
     "counts": {"db": 1},      # how many times each node ran, over all requests
     "calls": [{"node": "db", "args": {"settings_0": "settings1"}, "value": "db1"}, ...],
     "events": ["setup db1", "endpoint", "teardown db1"],
     "teardown_saw": {"db1": null | "ValueError"},
     "threads": {"settings1": {"setup": "worker"}, "db1": {"setup": "loop", "teardown": "loop"}},
     "error": null | {"type": ..., "message": ...}}    # what escaped (learner side only)
"""

from __future__ import annotations

import asyncio
import atexit
import builtins
import contextlib
import inspect
import os
import tempfile
import threading
import typing
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from autograder.sandbox.plain import plain as _plain

KINDS = ("sync", "async", "sync_gen", "async_gen", "async_callable", "class")
SECONDS = 5.0


class Recorder:
    """Everything the generated functions write down while they run."""

    def __init__(self) -> None:
        self.loop_thread = threading.get_ident()
        self.counts: dict[str, int] = {}
        self.calls: list[dict] = []
        self.events: list[str] = []
        self.teardown_saw: dict[str, str | None] = {}
        self.threads: dict[str, dict[str, str]] = {}
        self.values: dict[str, Any] | None = None

    def where(self) -> str:
        return "loop" if threading.get_ident() == self.loop_thread else "worker"

    def enter(self, node: dict, args: dict) -> str:
        name = node["name"]
        self.counts[name] = self.counts.get(name, 0) + 1
        value = f"{name}{self.counts[name]}"
        self.calls.append({"node": name, "args": _plain(args), "value": value})
        self.events.append(f"setup {value}")
        self.threads[value] = {"setup": self.where()}
        if node.get("raises"):
            raise _exception(node["raises"])(f"{name} failed while setting up")
        return node["returns"] if "returns" in node else value

    def leave(self, node: dict, value: str, exc: BaseException | None) -> None:
        self.events.append(f"teardown {value}")
        self.teardown_saw[value] = None if exc is None else type(exc).__name__
        self.threads.setdefault(value, {})["teardown"] = self.where()
        if node.get("teardown_raises"):
            raise _exception(node["teardown_raises"])(f"{node['name']} failed while tearing down")

    def endpoint(self, args: dict, raises: str | None) -> str:
        self.values = _plain(args)
        self.events.append("endpoint")
        if raises:
            raise _exception(raises)("the endpoint failed")
        return "ok"

    def report(self, error: dict | None = None) -> dict:
        return {
            "values": self.values,
            "counts": dict(self.counts),
            "calls": self.calls,
            "events": self.events,
            "teardown_saw": self.teardown_saw,
            "threads": self.threads,
            "error": error,
        }


def _exception(name: str) -> type[BaseException]:
    kind = getattr(builtins, name, None)
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        raise ValueError(f"not a built-in exception: {name!r}")
    return kind


_TEMPLATES = {
    "sync": "def {name}({params}):\n    return _rec.enter(_node, {args})\n",
    "async": "async def {name}({params}):\n    return _rec.enter(_node, {args})\n",
    "sync_gen": (
        "def {name}({params}):\n"
        "    value = _rec.enter(_node, {args})\n"
        "    try:\n        yield value\n"
        "    except BaseException as exc:\n        _rec.leave(_node, value, exc)\n        raise\n"
        "    else:\n        _rec.leave(_node, value, None)\n"
    ),
    "async_gen": (
        "async def {name}({params}):\n"
        "    value = _rec.enter(_node, {args})\n"
        "    try:\n        yield value\n"
        "    except BaseException as exc:\n        _rec.leave(_node, value, exc)\n        raise\n"
        "    else:\n        _rec.leave(_node, value, None)\n"
    ),
    "async_callable": (  # an instance whose __call__ is async: FastAPI awaits it
        "class _{name}:\n"
        "    async def __call__(self, {params}):\n        return _rec.enter(_node, {args})\n"
        "{name} = _{name}()\n"
    ),
    "class": (  # a class: FastAPI calls it in a worker thread, and the instance is the value
        "class {name}(str):\n"
        "    def __new__(cls, {params}):\n        return str.__new__(cls, _rec.enter(_node, {args}))\n"
    ),
    "endpoint": "async def endpoint({params}):\n    return _rec.endpoint({args}, _raises)\n",
}


class Graph:
    """Real functions built from a description, each declaring its dependencies with ``marker``."""

    def __init__(self, spec: dict, marker: Callable[..., Any] | None) -> None:
        self.spec = spec
        self.recorder = Recorder()
        self.nodes = {node["name"]: node for node in spec["nodes"]}
        for node in spec["nodes"]:
            if node.get("kind") not in KINDS or not str(node["name"]).isidentifier():
                raise ValueError(f"bad node {node!r}")
        self.functions: dict[str, Callable[..., Any]] = {}
        for node in spec["nodes"]:  # dependencies first: a node may only depend on earlier ones
            self.functions[node["name"]] = self._build(
                node["kind"], node["name"], node.get("deps", []), marker, {"_node": node}
            )
        endpoint = spec.get("endpoint", {})
        self.endpoint = self._build(
            "endpoint",
            "endpoint",
            endpoint.get("deps", []),
            marker,
            {"_raises": endpoint.get("raises"), "_node": endpoint},
        )

    @staticmethod
    def parameter_names(deps: list[dict]) -> list[str]:
        return [f"{dep['on']}_{position}" for position, dep in enumerate(deps)]

    def _build(self, kind: str, name: str, deps: list[dict], marker, extra: dict) -> Callable[..., Any]:
        namespace: dict[str, Any] = {"_rec": self.recorder, **extra}
        # Parameters that declare no dependency come first: a solver must skip them, not stop.
        params = [f"plain_{index}=None" for index in range(extra["_node"].get("plain", 0))]
        for parameter, dep in zip(self.parameter_names(deps), deps, strict=True):
            if marker is None:
                params.append(parameter)
                continue
            target = self.functions[dep["on"]]
            declared = marker(target, use_cache=dep.get("use_cache", True))
            namespace[f"_m_{parameter}"] = declared
            if dep.get("annotated") == "noted":  # a Dep after other metadata
                namespace[f"_a_{parameter}"] = typing.Annotated[Any, "a note", declared]
                params.append(f"{parameter}: _a_{parameter}")
            elif dep.get("annotated"):
                namespace[f"_a_{parameter}"] = typing.Annotated[Any, declared]
                params.append(f"{parameter}: _a_{parameter}")
            else:
                params.append(f"{parameter}=_m_{parameter}")
        args = "{" + ", ".join(f"{p!r}: {p}" for p in self.parameter_names(deps)) + "}"
        source = _TEMPLATES[kind].format(name=name, params=("*, " + ", ".join(params)) if params else "", args=args)
        exec(compile(source, f"<lesson03 graph: {name}>", "exec", dont_inherit=True), namespace)  # noqa: S102 (the probe's own template)
        return namespace[name]

    def overrides(self) -> dict[Callable[..., Any], Callable[..., Any]]:
        return {self.functions[old]: self.functions[new] for old, new in self.spec.get("overrides", {}).items()}


def _error(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": str(exc)[:300]}


async def _within(awaitable, seconds: float = SECONDS):
    return await asyncio.wait_for(awaitable, seconds)


# --- the learner's graph solver (exercises solve_graph and solve) ---------------------------


async def solve_report(
    spec: dict,
    solver: Callable[..., Any],
    marker: Callable[..., Any],
    shared_cache: bool = False,
    cached: dict | None = None,
) -> dict:
    """Run ``solver(endpoint, cache, run[, overrides])`` for ``spec["requests"]`` requests.

    ``run`` is the harness's own: it calls the function and awaits the result when it is
    awaitable (the graphs given here have no generators). Each request gets a new dict as
    its cache, unless ``shared_cache`` (then one dict serves every request: two solves
    within one request). The caller may have put values in it already: ``cached`` maps node
    names to them (a request's cache starts as ``{node's function: value}``). The endpoint is
    then called with what the solver returned.
    """
    graph = Graph(spec, marker)

    async def run(function, kwargs):
        result = function(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    cache: dict = {}
    try:
        for request in range(spec.get("requests", 1)):
            if request == 0 or not shared_cache:
                cache = {graph.functions[name]: value for name, value in (cached or {}).items()}
            if "overrides" in spec:
                kwargs = await _within(solver(graph.endpoint, cache, run, graph.overrides()))
            else:
                kwargs = await _within(solver(graph.endpoint, cache, run))
            if not isinstance(kwargs, dict):
                return graph.recorder.report(
                    {"type": "TypeError", "message": f"returned a {type(kwargs).__name__}, not a dict"}
                )
            try:
                await graph.endpoint(**kwargs)
            except TypeError as exc:  # wrong names: report what was returned instead
                graph.recorder.values = _plain(kwargs)
                return graph.recorder.report(_error(exc))
    except Exception as exc:
        return graph.recorder.report(_error(exc))
    return graph.recorder.report()


# --- the learner's dependency runner (exercise run_dependency) --------------------------------


class _AnyMarker:
    def __init__(self, dependency, use_cache=True) -> None:
        self.dependency = dependency


async def run_report(spec: dict, run_dependency: Callable[..., Any]) -> dict:
    """Set up ``spec``'s nodes with ``run_dependency(function, kwargs, stack)``, in list order,
    each given the values of the earlier nodes it depends on, inside one AsyncExitStack; then
    the endpoint runs (and raises, if the spec says so) and the stack closes.

    Every node is used once, and the list is in the order FastAPI sets the graph up, so no
    solving is needed here: this is the harness, not a resolver.
    """
    graph = Graph(spec, _AnyMarker)
    values: dict[str, Any] = {}

    async def request() -> None:
        async with AsyncExitStack() as stack:
            for node in spec["nodes"]:
                deps = node.get("deps", [])
                kwargs = {
                    param: values[dep["on"]] for param, dep in zip(Graph.parameter_names(deps), deps, strict=True)
                }
                values[node["name"]] = await run_dependency(graph.functions[node["name"]], kwargs, stack)
            endpoint = spec.get("endpoint", {})
            deps = endpoint.get("deps", [])
            await graph.endpoint(
                **{param: values[dep["on"]] for param, dep in zip(Graph.parameter_names(deps), deps, strict=True)}
            )

    try:
        await _within(request())
    except Exception as exc:
        return graph.recorder.report(_error(exc))
    return graph.recorder.report()


# --- the same graphs through FastAPI ----------------------------------------------------------


async def fastapi_report(spec: dict) -> dict:
    """Serve ``spec``'s endpoint with FastAPI (GET /) and request it ``spec["requests"]`` times
    through httpx.ASGITransport; report what ran. ``error`` holds the last status code when it
    is not 200, as {"type": "status", "message": "500"}."""
    import httpx
    from fastapi import Depends, FastAPI

    graph = Graph(spec, Depends)
    app = FastAPI()
    app.get("/")(graph.endpoint)
    app.dependency_overrides.update(graph.overrides())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    status = 200
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for _ in range(spec.get("requests", 1)):
            status = (await client.get("/")).status_code
    error = None if status == 200 else {"type": "status", "message": str(status)}
    return graph.recorder.report(error)


# --- a database for the make_app exercise ----------------------------------------------------

_WATCHED: dict[int, Any] = {}  # id(app) -> coursekit.data.BorrowedConnections (see watch_pool)
_OUT: dict[int, dict[int, Any]] = {}  # id(app) -> {id(pool record): connection lent, not given back yet}


async def fresh_database(name: str = "lesson03", inactive: list[int] = ()) -> str:
    """Fill a new SQLite database file with the course datasets; return its URL.

    A real file, opened by the app's engine with its own pool, as in production. It is made
    in the temporary folder: in a sandbox that is its own scratch folder, which only it can
    open and which the grader removes with it; in nbgrader's kernel it is the system's, and
    the file goes when the kernel does. The users whose ids are in ``inactive`` are made
    inactive there (so that two databases answer a token differently).
    """
    from sqlalchemy import update

    from coursekit import data

    if not name.isidentifier():
        raise ValueError("name must be an identifier")
    handle, made = tempfile.mkstemp(prefix=f"lesson03_{name}_", suffix=".sqlite")
    os.close(handle)
    path = Path(made)
    atexit.register(path.unlink, missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    engine = data.create_engine(url)
    try:
        await data.load_into(engine)
        if inactive:
            users = data.users_table
            async with engine.begin() as connection:
                await connection.execute(update(users).where(users.c.id.in_(list(inactive))).values(active=False))
    finally:
        await engine.dispose()  # the loader's connections are done; the file stays
    return url


def _engine_pool(app: Any) -> Any:
    engine = getattr(getattr(app, "state", None), "engine", None)
    sync_engine = getattr(engine, "sync_engine", engine)
    return getattr(sync_engine, "pool", None)


def watch_pool(app: Any) -> bool:
    """Count the connections ``app.state.engine``'s pool lends from now on, each held so that
    the garbage collector cannot give a leaked one back unseen (``coursekit.data.watch``),
    until ``close_app(app)`` closes them."""
    from sqlalchemy import event

    from coursekit import data

    pool = _engine_pool(app)
    if pool is None:
        return False
    _WATCHED[id(app)] = data.watch(app.state.engine)
    out = _OUT.setdefault(id(app), {})
    event.listen(pool, "checkout", lambda dbapi, record, proxy: out.__setitem__(id(record), proxy))
    event.listen(pool, "checkin", lambda dbapi, record: out.pop(id(record), None))
    return True


async def close_app(app: Any) -> int:
    """Close every connection of ``app.state.engine``: those its pool lent since
    ``watch_pool(app)`` and never got back (held there, so the collector never would), then
    the pool's own; return how many had not come back.

    Each aiosqlite connection runs in a thread of its own, and a sandbox may start only a few
    (``Limits.processes``): connections a test leaves open would take the threads of the tests
    after it in the same sandbox, another exercise's too. A test of make_app calls this last.
    It is housekeeping, never a check: an engine it cannot close is left as it is."""
    from sqlalchemy.util import greenlet_spawn

    _WATCHED.pop(id(app), None)
    never_back = list(_OUT.pop(id(app), {}).values())
    for connection in never_back:
        with contextlib.suppress(Exception):  # a cleanup: a connection already broken has nothing to close
            await greenlet_spawn(connection.invalidate)  # closes the DBAPI connection, ending its thread
    engine = getattr(getattr(app, "state", None), "engine", None)
    with contextlib.suppress(Exception):  # a cleanup, as above
        disposed = engine.dispose()
        if inspect.isawaitable(disposed):
            await disposed
    return len(never_back)


def checked_out(app: Any) -> Any:
    """Connections ``app.state.engine``'s pool handed out and did not get back since
    ``watch_pool(app)``; None when the app has no engine there."""
    watched = _WATCHED.get(id(app))
    return None if watched is None else watched.borrowed


# --- an app to override (exercise overridden) -------------------------------------------------


def _override_app():
    from fastapi import Depends, FastAPI

    def get_settings():
        return "real-settings"

    async def get_db():
        yield "real-db"

    async def get_user(db=Depends(get_db)):
        return f"user-from-{db}"

    app = FastAPI()

    @app.get("/whoami")
    async def whoami(user=Depends(get_user), settings=Depends(get_settings)):
        return {"user": user, "settings": settings}

    async def fake_db():
        yield "fake-db"

    def other_db():
        return "other-db"

    def fake_settings():
        return "fake-settings"

    def fake_user(settings=None):
        return "fake-user"

    # The app's own dependencies, then the replacements tests put in their place.
    return app, {
        "get_settings": get_settings,
        "get_db": get_db,
        "get_user": get_user,
        "fake_db": fake_db,
        "other_db": other_db,
        "fake_settings": fake_settings,
        "fake_user": fake_user,
    }


async def override_report(overridden: Callable[..., Any]) -> dict:
    """Use the learner's ``overridden(app, overrides)`` in the ways a test suite would, on an
    app with get_settings, get_db (a generator) and get_user(db); report what requests saw
    and what app.dependency_overrides held at each point."""
    import httpx

    app, deps = _override_app()
    fake_db, other_db, fake_settings, fake_user = (
        deps[name] for name in ("fake_db", "other_db", "fake_settings", "fake_user")
    )
    names = {function: name for name, function in deps.items()}

    def held() -> dict:
        return {names.get(k, "?"): names.get(v, "?") for k, v in app.dependency_overrides.items()}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    report: dict[str, Any] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

        async def ask() -> Any:
            response = await client.get("/whoami")
            return response.json() if response.status_code == 200 else response.status_code

        async def scenario(name: str, body) -> None:
            try:
                await _within(body())
            except Exception as exc:
                report[name] = {"error": _error(exc)}

        async def simple():
            before = await ask()
            with overridden(app, {deps["get_db"]: fake_db}) as given:
                inside = await ask()
                report["simple"] = {
                    "before": before,
                    "inside": inside,
                    "held_inside": held(),
                    "yielded_app": given is app,
                }
            report["simple"].update(after=await ask(), held_after=held())

        async def existing():
            app.dependency_overrides[deps["get_settings"]] = fake_settings
            try:
                with overridden(app, {deps["get_db"]: fake_db}):
                    inside = await ask()
                report["existing"] = {"inside": inside, "after": await ask(), "held_after": held()}
            finally:
                app.dependency_overrides.clear()

        async def nested():
            with overridden(app, {deps["get_db"]: fake_db}):
                outer = await ask()
                with overridden(app, {deps["get_db"]: other_db, deps["get_user"]: fake_user}):
                    inner = await ask()
                between, held_between = await ask(), held()
            report["nested"] = {
                "outer": outer,
                "inner": inner,
                "between": between,
                "held_between": held_between,
                "after": await ask(),
                "held_after": held(),
            }

        async def raising():
            raised = None
            try:
                with overridden(app, {deps["get_db"]: fake_db, deps["get_settings"]: fake_settings}):
                    raise LookupError("a failing test")
            except LookupError:
                raised = "LookupError"
            report["raising"] = {"raised": raised, "after": await ask(), "held_after": held()}

        async def cancelled():  # a BaseException, not an Exception: a test cancelled or timed out
            app.dependency_overrides[deps["get_settings"]] = fake_settings
            raised = None
            try:
                with overridden(app, {deps["get_db"]: fake_db}):
                    raise asyncio.CancelledError()
            except asyncio.CancelledError:
                raised = "CancelledError"
            report["cancelled"] = {"raised": raised, "after": await ask(), "held_after": held()}

        async def changed_inside():  # the block itself sets one override and removes another
            app.dependency_overrides[deps["get_settings"]] = fake_settings
            with overridden(app, {deps["get_db"]: fake_db}):
                app.dependency_overrides[deps["get_user"]] = fake_user
                app.dependency_overrides.pop(deps["get_settings"], None)
                inside = await ask()
            report["changed_inside"] = {"inside": inside, "after": await ask(), "held_after": held()}

        for name, body in [
            ("simple", simple),
            ("existing", existing),
            ("nested", nested),
            ("raising", raising),
            ("cancelled", cancelled),
            ("changed_inside", changed_inside),
        ]:
            app.dependency_overrides.clear()
            await scenario(name, body)
    return report


async def override_script(overridden: Callable[..., Any], existing: dict, blocks: list) -> list:
    """Use the learner's ``overridden(app, overrides)`` as ``blocks`` say, on the app of
    ``override_report`` (get_settings, get_db, get_user) whose dependency_overrides start as
    ``existing``; report, at each step, what a request saw and what the overrides held.

    A block is {"overrides": {original name: replacement name}, "set": {original: replacement},
    "remove": [original], "raise": null | "LookupError" | "CancelledError", "inner": [blocks]}:
    it enters ``with overridden(app, ...) as given``, sets and removes entries of
    app.dependency_overrides itself (as a test may), runs its inner blocks, then leaves, by
    raising when "raise" names an exception. "set", "remove" and "raise" may be left out.
    Names: originals get_settings, get_db, get_user; replacements fake_db, other_db,
    fake_settings, fake_user (or an original)."""
    import httpx

    app, functions = _override_app()
    names = {function: name for name, function in functions.items()}
    steps: list = []
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

        async def note(where: str) -> None:
            response = await client.get("/whoami")
            seen = response.json() if response.status_code == 200 else response.status_code
            held = sorted([names.get(k, "?"), names.get(v, "?")] for k, v in app.dependency_overrides.items())
            steps.append([where, seen, held])

        async def run(block: dict) -> None:
            with overridden(app, {functions[k]: functions[v] for k, v in block["overrides"].items()}) as given:
                steps.append(["gives the app", given is app])
                await note("inside")
                for original, replacement in block.get("set", {}).items():
                    app.dependency_overrides[functions[original]] = functions[replacement]
                for original in block.get("remove", []):
                    app.dependency_overrides.pop(functions[original], None)
                for inner in block["inner"]:
                    await guarded(inner)
                if block.get("raise") == "LookupError":
                    raise LookupError("a failing test")
                if block.get("raise") == "CancelledError":
                    raise asyncio.CancelledError()

        async def guarded(block: dict) -> None:
            try:
                await run(block)
            except (LookupError, asyncio.CancelledError) as exc:
                steps.append([f"{type(exc).__name__} propagated"])
            except Exception as exc:
                steps.append(["raised", type(exc).__name__])
            await note("after")

        app.dependency_overrides.update({functions[k]: functions[v] for k, v in existing.items()})
        await note("start")
        for block in blocks:
            await _within(guarded(block))
    return steps
