"""Hidden tests for `make_app`: the fixed get_db / get_current_user chain on a real database.

A probe fills a fresh SQLite database file from the course datasets inside the sandbox's
own folder; the learner's app is made there, on that URL, and talked to over ASGI. Expected answers come from
the same datasets, read here in the trusted process.
"""

from contextlib import AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path

import httpx
import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference
from coursekit import data

pytestmark = pytest.mark.anyio
NAME = "make_app"
HEADER = "X-API-Token"
USERS = {row["id"]: row for row in data.rows("users")}
INVOICES = data.rows("invoices")
INVOICE_KEYS = ("id", "number", "customer", "amount_cents", "currency", "status", "issued_on", "due_on")


def user_json(user_id: int) -> dict:
    row = USERS[user_id]
    return {key: row[key] for key in ("id", "name", "email", "role", "tenant_id")}


def invoice_json(row: dict) -> dict:
    shown = {key: row[key] for key in INVOICE_KEYS}
    shown["issued_on"], shown["due_on"] = row["issued_on"].isoformat(), row["due_on"].isoformat()
    return shown


def token(user_id: int) -> dict:
    return {HEADER: USERS[user_id]["api_token"]}


@asynccontextmanager
async def served(side, database: str, inactive: tuple[int, ...] = ()):
    """An app made by ``side``'s make_app on a fresh database of its own (with the users
    ``inactive`` made inactive), its pool watched, and a client for it; the database's URL.
    Afterwards every connection the app's engine holds is closed: each is a thread of the
    sandbox, which the tests after this one, of other exercises too, need
    (``lesson03.close_app``)."""
    url = await side.probe("lesson03.fresh_database", database, list(inactive))
    alias = await side.make(NAME, url)
    try:
        watched = await side.probe("lesson03.watch_pool", defined(alias))
        expect(watched, "Keep the engine on app.state.engine (the grader looks at its connection pool there).")
        # raise_app_exceptions=False: an exception inside the app is what the client sees, a 500.
        transport = httpx.ASGITransport(app=side.asgi(alias, label=f"{NAME}(url)"), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, alias, url
    except BaseException:
        with suppress(Exception):  # a sandbox that broke down goes with everything it held
            await side.probe("lesson03.close_app", defined(alias))
        raise
    await side.probe("lesson03.close_app", defined(alias))


@asynccontextmanager
async def app_client(submission):
    await require(submission, NAME, kind="function")
    async with served(submission, "grading") as (http, alias, _url):
        yield http, alias


def status_of(response) -> str:
    return f"you answered {response.status_code}" + (
        " (an exception in your app)" if response.status_code == 500 else ""
    )


@graded(NAME, points=1.5, promises=["current-user", "me"])
async def test_make_app_me_answers_the_tokens_owner(submission):
    """GET /me with a valid X-API-Token answers that user's id, name, email, role and tenant_id."""
    async with app_client(submission) as (http, _alias):
        for user_id in (1, 3, 27, 36):
            response = await http.get("/me", headers=token(user_id))
            expect(
                response.status_code == 200,
                f"GET /me with a valid {HEADER} header should answer 200 ({status_of(response)}).",
                promises=["me"],
            )
            expect(
                response.json() == user_json(user_id),
                'GET /me should answer exactly {"id", "name", "email", "role", "tenant_id"} of the user the '
                "token belongs to.",
                promises=["current-user"],
            )


@graded(NAME, points=1.5, promises=["refused-401", "no-500"], unhappy=True)
async def test_make_app_refuses_bad_tokens_with_401(submission):
    """A missing header, an unknown token and an inactive user's token all get 401, never 500."""
    async with app_client(submission) as (http, _alias):
        response = await http.get("/me")
        expect(
            response.status_code == 401,
            f"A request without the {HEADER} header should get 401, not a validation error ({status_of(response)}).",
            promises=["refused-401"],
        )
        response = await http.get("/me", headers={HEADER: "0" * 32})
        expect(
            response.status_code == 401,
            f"An unknown token should get 401 ({status_of(response)}).",
            promises=["refused-401"],
        )
        for user_id in (13, 26):
            response = await http.get("/invoices", headers=token(user_id))
            expect(
                response.status_code == 401,
                f"The token of an inactive user (active is false) should get 401 ({status_of(response)}).",
                promises=["refused-401"],
            )


@graded(NAME, points=1.5, promises=["invoices", "invoice", "invoice-keys", "no-500"], unhappy=True)
async def test_make_app_keeps_tenants_apart(submission):
    """/invoices lists the caller's tenant only; another tenant's invoice is a 404, never a 500."""
    async with app_client(submission) as (http, _alias):
        for user_id in (3, 14, 36):
            tenant = USERS[user_id]["tenant_id"]
            expected = [row["id"] for row in INVOICES if row["tenant_id"] == tenant]
            response = await http.get("/invoices", headers=token(user_id))
            expect(
                response.status_code == 200,
                f"GET /invoices should answer 200 ({status_of(response)}).",
                promises=["invoices"],
            )
            listed = response.json()
            expect(
                isinstance(listed, list) and [item.get("id") for item in listed if isinstance(item, dict)] == expected,
                "GET /invoices should list every invoice of the caller's tenant (and no other), ordered by id; "
                "a tenant without invoices gets [].",
                promises=["invoices"],
            )
        own = next(row for row in INVOICES if row["tenant_id"] == USERS[3]["tenant_id"])
        response = await http.get(f"/invoices/{own['id']}", headers=token(3))
        expect(
            response.status_code == 200 and response.json() == invoice_json(own),
            "GET /invoices/{id} of the caller's tenant should answer the invoice with exactly the keys "
            f"{', '.join(INVOICE_KEYS)} (dates as ISO strings).",
            promises=["invoice", "invoice-keys"],
        )
        foreign = next(row for row in INVOICES if row["tenant_id"] != USERS[3]["tenant_id"])
        response = await http.get(f"/invoices/{foreign['id']}", headers=token(3))
        expect(
            response.status_code == 404,
            f"An invoice of another tenant must be a 404, as if it did not exist ({status_of(response)}).",
            promises=["invoice"],
        )
        response = await http.get("/invoices/100000", headers=token(3))
        expect(
            response.status_code == 404,
            f"An invoice id that does not exist should get 404 ({status_of(response)}).",
            promises=["invoice"],
        )
        for odd in ("0", str(2**63), "99999999999999999999"):
            response = await http.get(f"/invoices/{odd}", headers=token(3))
            expect(
                response.status_code in (404, 422),
                f"An invoice id outside 1 ... 2**63 - 1 should get 404 or 422, never a 500 ({status_of(response)}).",
                promises=["invoice", "no-500"],
            )


@graded(NAME, points=1, promises=["users", "no-500"], unhappy=True)
async def test_make_app_guards_the_admin_route(submission):
    """/users/{id} is for admins: 403 for members, 404 outside the tenant, the user otherwise."""
    async with app_client(submission) as (http, _alias):
        for asked in (3, 1):  # another user of the tenant, and the admin's own record
            response = await http.get(f"/users/{asked}", headers=token(1))
            expect(
                response.status_code == 200 and response.json() == user_json(asked),
                "An admin asking GET /users/{id} for a user of the same tenant should get that user, shaped like /me.",
                promises=["users"],
            )
        for odd in ("0", str(2**63)):
            response = await http.get(f"/users/{odd}", headers=token(1))
            expect(
                response.status_code in (404, 422),
                f"A user id outside 1 ... 2**63 - 1 should get 404 or 422, never a 500 ({status_of(response)}).",
                promises=["users", "no-500"],
            )
        for other in (27, 999):
            response = await http.get(f"/users/{other}", headers=token(1))
            expect(
                response.status_code == 404,
                f"A user of another tenant, or no user at all, should be a 404 for an admin ({status_of(response)}).",
                promises=["users"],
            )
        for asked in (1, 999):
            response = await http.get(f"/users/{asked}", headers=token(3))
            expect(
                response.status_code == 403,
                "A member (role 'member') asking GET /users/{id} should get 403, "
                f"whatever the id ({status_of(response)}).",
                promises=["users"],
            )


@graded(NAME, points=0.5, promises=["get-db"], unhappy=True)
async def test_make_app_closes_every_session(submission):
    """After requests that succeed and requests that fail, no database connection is left checked out."""
    async with app_client(submission) as (http, alias):
        for _ in range(4):
            await http.get("/me", headers=token(3))
            await http.get("/me", headers={HEADER: "nope"})
            await http.get("/invoices/3", headers=token(3))
            await http.get("/users/1", headers=token(3))
        left = await submission.probe("lesson03.checked_out", defined(alias))
    expect(
        left == 0,
        f"{left} database connection(s) were still checked out after the requests ended: close the session "
        "when the request ends, error or not (async with the session around the yield).",
    )


@graded(NAME, points=1, promises=["own-database", "get-db"], unhappy=True)
async def test_make_app_two_apps_keep_their_own_databases(submission):
    """Two apps made in one process, on two databases that differ, each answer from their own, in any order."""
    await require(submission, NAME, kind="function")
    async with AsyncExitStack() as apps:
        first, _, _ = await apps.enter_async_context(served(submission, "first"))
        second, _, _ = await apps.enter_async_context(served(submission, "second", inactive=(3,)))
        for which, http, expected in [
            ("first", first, 200),
            ("second", second, 401),
            ("first", first, 200),
            ("second", second, 401),
        ]:
            response = await http.get("/me", headers=token(3))
            expect(
                response.status_code == expected,
                "Two apps made by make_app in one process, on two databases, must each answer from their own "
                f"database: a user active in the first database only got {response.status_code} from the "
                f"{which} app. Keep the engine and the sessionmaker on the app (app.state), and open each "
                "request's session from request.app.state.sessionmaker, never from a variable shared by every "
                "app.",
                promises=["own-database"],
            )


LARGEST_ID = 2**63 - 1
TOKENS = st.sampled_from(sorted(USERS)).map(lambda user_id: USERS[user_id]["api_token"]) | st.sampled_from(
    ["nope", "", None]
)
IDS = st.sampled_from(sorted({row["id"] for row in INVOICES} | set(USERS))) | st.sampled_from(
    [0, -1, 100000, 2**63, 2**64]
)
CALLS = st.fixed_dictionaries(
    {
        "token": TOKENS,
        "path": st.sampled_from(["/me", "/invoices", "/invoices/{id}", "/users/{id}"]),
        "id": IDS,
    }
)


ACTIVE_TOKENS = {row["api_token"] for row in USERS.values() if row["active"]}
# The promise each call falls under: a refused token, else its route's.
ROUTES = {"/me": "me", "/invoices": "invoices", "/invoices/{id}": "invoice", "/users/{id}": "users"}
PROMISED_BY = {promise: promise for promise in ("refused-401", *ROUTES.values())}


def promised(call: dict, response) -> list:
    """The status, and the JSON of a 200 (an error's detail is left open); for an id outside
    1 ... 2**63 - 1 the task allows 404 or 422."""
    status = response.status_code
    if "{id}" in call["path"] and not 1 <= call["id"] <= LARGEST_ID and status == 422:
        status = 404
    return [status, response.json() if status == 200 else None]


def under_promises(calls: list[dict], answers: list[list]) -> dict:
    """The answers grouped by the promise their call falls under (in call order within each)."""
    grouped: dict = {}
    for call, answer in zip(calls, answers, strict=True):
        promise = ROUTES[call["path"]] if call["token"] in ACTIVE_TOKENS else "refused-401"
        grouped.setdefault(promise, []).append(answer)
    return grouped


@graded(NAME, points=2, promises=list(PROMISED_BY), unhappy=True)
async def test_make_app_answers_generated_calls_as_the_task_says(submission, reference):
    """On generated calls (every user's token, bad tokens, every route, ids of every tenant and out of range), each
    answer is as the task says."""
    await require(submission, NAME, kind="function")
    apps: dict = {}  # one database and one app per side for the whole test: the calls only read
    async with AsyncExitStack() as stack:

        async def run(side, calls):
            if side not in apps:
                apps[side] = await stack.enter_async_context(served(side, "differential"))
                if side is reference:  # its database is in this process's temporary folder
                    stack.callback(Path(apps[side][2].removeprefix("sqlite+aiosqlite:///")).unlink, missing_ok=True)
            http = apps[side][0]
            answers = []
            for call in calls:
                headers = {} if call["token"] is None else {HEADER: call["token"]}
                response = await http.get(call["path"].replace("{id}", str(call["id"])), headers=headers)
                answers.append(promised(call, response))
            return under_promises(calls, answers)

        await same_as_reference(
            submission, reference, NAME, st.lists(CALLS, min_size=1, max_size=4), run, examples=15, promise=PROMISED_BY
        )
