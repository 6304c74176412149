"""Hidden tests for step 1, `make_app`: the app, its engine, a session per request, a transaction per write.

A probe (``lesson10.session_report``) makes the learner's app on a fresh database in the sandbox,
with routes of its own that read, write and fail through the learner's ``get_session`` and
``Transaction``, runs its lifespan and one scenario with the garbage collector off, and reports
what it saw: statuses, bodies, and what a second connection (plain sqlite3) read of the row the
routes write, at the moment the status line went out and after the request. The scenario runs
once per submission; every test reads its report.
"""

import json

import pytest

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import client, lifespan, make, probe, require

from .background import scenario as in_background

pytestmark = pytest.mark.anyio
NAME = "make_app"
ORIGINAL_CUSTOMER = "Litware"  # invoice 1's customer in datasets/invoices.csv, which the routes rename

_reports: dict = {}  # one scenario per run of the suite (a run grades one submission)


async def scenario(submission) -> dict:
    if "report" not in _reports:
        await require(submission, NAME, kind="function")
        await require(submission, "get_session", kind=("async function", "function"))
        _reports["report"] = await in_background(
            submission,
            NAME,
            "session_report",
            defined(NAME),
            defined("get_session"),
            defined("Transaction"),
            defined("new_database"),
        )
    return _reports["report"]


def shown(answer: dict) -> str:
    return f"{answer.get('status')} {answer.get('body', '')[:120]}" + (
        f" (your app raised {answer['raised']})" if answer.get("raised") else ""
    )


def body(answer: dict):
    try:
        return json.loads(answer.get("body") or "null")
    except ValueError:
        return None


@graded(NAME, points=1.5, promises=["lifespan-engine"])
async def test_make_app_makes_its_engine_in_the_lifespan(submission):
    """After startup, app.state.engine is an AsyncEngine and app.state.sessions an async_sessionmaker bound to it;
    shutdown disposes of it."""
    report = await scenario(submission)
    expect(
        report["engine"] == "AsyncEngine",
        f"Once the app has started, app.state.engine should be the AsyncEngine its lifespan made with "
        f"data.create_engine(database_url); it is a {report['engine']}.",
    )
    expect(
        report["sessions_bound_to_engine"],
        "app.state.sessions should be an async_sessionmaker for app.state.engine (async_sessionmaker(engine)).",
    )
    expect(
        report["pool_replaced_at_shutdown"],
        "When the app shuts down, its lifespan should dispose of the engine (await engine.dispose()).",
    )


@graded(NAME, points=1, promises=["health"])
async def test_make_app_health_answers_ok(submission):
    """GET /health, with no token, answers 200 {"status": "ok"} on a database that answers."""
    report = await scenario(submission)
    health = report["health"]
    expect(
        health.get("status") == 200 and body(health) == {"status": "ok"},
        f'GET /health should answer 200 {{"status": "ok"}} once the database answered a SELECT 1; it answered '
        f"{shown(health)}.",
    )


@graded(NAME, points=1, promises=["health"], unhappy=True)
async def test_make_app_health_answers_503_when_the_database_cannot_be_reached(submission):
    """GET /health on a database that cannot be opened answers 503 {"status": "unavailable"}."""
    await require(submission, NAME, kind="function")
    answer = await probe(submission, NAME, "lesson10.unreachable_health", defined(NAME))
    expect(
        answer["status"] == 503 and body(answer) == {"status": "unavailable"},
        "GET /health on a database that cannot be opened (its folder does not exist) should answer 503 "
        f'{{"status": "unavailable"}}: catch what SQLAlchemy raises; it answered {shown(answer)}.',
    )


@graded(NAME, points=1.5, promises=["session-per-request"])
async def test_make_app_gives_each_request_one_session(submission):
    """Within a request every dependency gets the same AsyncSession; two requests get two."""
    report = await scenario(submission)
    answers = report["sessions"]
    expect(
        all(answer.get("status") == 200 for answer in answers),
        f"A route reading through get_session answered {', '.join(shown(answer) for answer in answers)}.",
    )
    seen = [body(answer) or {} for answer in answers]
    expect(
        all(each.get("class") == "AsyncSession" and each.get("users") == 40 for each in seen),
        "get_session should yield an AsyncSession from request.app.state.sessions, on the app's database.",
    )
    expect(
        all(each.get("same") for each in seen),
        "Two dependencies of one request that both ask for get_session should get the same session (FastAPI "
        "caches it per request: yield one session, do not make one per use).",
    )
    expect(report["distinct_sessions"], "Two requests got the same session: each request needs a new one.")


@graded(NAME, points=2, promises=["commit-first"])
async def test_make_app_commits_before_the_response(submission):
    """A route that writes through Transaction: when its status line goes out, another connection reads the write."""
    report = await scenario(submission)
    renamed = report["renamed"]
    expect(
        renamed.get("status") == 200,
        f"A route writing through Transaction answered {shown(renamed)}: yield the session, commit after.",
    )
    expect(
        renamed.get("customer_after") == "stored",
        "A route wrote through Transaction and returned, and its write was not stored: commit when the route returns.",
    )
    expect(
        renamed.get("customer_at_status") == "stored",
        "When the route's status line was sent, another connection could not read its write yet: the commit came "
        'after the response. Commit before it (transaction ends with the route: scope="function").',
    )


@graded(NAME, points=2, promises=["rollback"], unhappy=True)
async def test_make_app_rolls_back_a_route_that_raised(submission):
    """A route that wrote, then raised an HTTPException or another exception: its status stays, its write goes."""
    report = await scenario(submission)
    refused, crashed = report["refused"], report["crashed"]
    expect(
        refused.get("status") == 409,
        f"A route that raised HTTPException(409) after writing answered {shown(refused)}: let the exception "
        "go on after the rollback, so that it keeps its status.",
    )
    for label, answer in (("HTTPException(409)", refused), ("a RuntimeError", crashed)):
        expect(
            answer.get("customer_after") == ORIGINAL_CUSTOMER,
            f"A route that wrote, then raised {label}: its write was stored. Roll back when the route raises, "
            "whatever it raises.",
        )
    expect(
        crashed.get("status") == 500,
        f"A route that raised a RuntimeError after writing answered {shown(crashed)}, not 500: "
        "let the exception go on.",
    )


@graded(NAME, points=1.5, promises=["never-leaks"], unhappy=True)
async def test_make_app_gives_every_connection_back(submission):
    """After reads, writes, failures and a cancelled request, no connection is left borrowed (the collector off)."""
    report = await scenario(submission)
    expect(
        report["borrowed"] == 0,
        f"{report['borrowed']} connection(s) were still borrowed after the requests (answered, failed, or "
        "cancelled): close each request's session whatever happened (async with around the yield).",
    )


@graded(NAME, points=1, promises=["app-per-call"], unhappy=True)
async def test_make_app_two_apps_answer_from_their_own_databases(submission):
    """Two apps made one after the other, alive together on two databases, each answer from their own."""
    await require(submission, NAME, kind="function")
    answers = await probe(
        submission,
        NAME,
        "lesson10.two_databases",
        defined(NAME),
        defined("get_session"),
        defined("Transaction"),
        defined("new_database"),
    )
    users = [
        answer[1].get("users") if answer[0] == 200 and isinstance(answer[1], dict) else answer[0] for answer in answers
    ]
    expect(
        users == [40, 5, 40, 5],
        f"Two apps on two databases (40 users and 5), asked in turn, counted {users}: keep the engine and the "
        "sessionmaker on each app's state, never in a variable every app shares.",
    )


@graded(NAME, points=1, promises=["routers"])
async def test_make_app_includes_the_routers_in_order(submission):
    """Routers given are included in order (the first answers a path both have), a router's lifespan finds
    app.state.sessions."""
    await require(submission, NAME, kind="function")
    alias = await make(submission, NAME, "$fixture:lesson10.ordered_routers", defined(NAME), defined("new_database"))
    app = submission.asgi(alias, label=f"{NAME}(url, first, second)")
    async with lifespan(app, f"{NAME}(url, first, second)") as manager, client(manager.app) as http:
        which = await http.get("/probe/which")
        second = await http.get("/probe/second")
        saw = await submission.probe("lesson10.router_saw_sessions", defined(alias))
    expect(
        second.status_code == 200,
        f"make_app(url, first, second) should include both routers: GET of the second's path answered "
        f"{second.status_code}.",
    )
    expect(
        which.status_code == 200 and which.json() == {"router": "first"},
        "Two routers given with the same path: the first one given should answer it (include them in order).",
    )
    expect(
        saw is True,
        "A router's own lifespan should run inside the app's, and find app.state.sessions there: make the engine "
        "and the sessionmaker in the app's lifespan (FastAPI(lifespan=...)), then include the routers.",
    )
