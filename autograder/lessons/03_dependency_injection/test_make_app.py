"""Hidden tests for `make_app`: the fixed get_db / get_current_user chain on a real database.

A probe fills a fresh SQLite database file from the course datasets inside the sandbox's
own folder; the learner's app is made there, on that URL, and talked to over ASGI. Expected answers come from
the same datasets, read here in the trusted process.
"""

from contextlib import asynccontextmanager
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
async def app_client(submission):
    await require(submission, NAME, kind="function")
    url = await submission.probe("lesson03.fresh_database", "grading")
    alias = await submission.make(NAME, url)
    watched = await submission.probe("lesson03.watch_pool", defined(alias))
    expect(watched, "Keep the engine on app.state.engine (the grader looks at its connection pool there).")
    # raise_app_exceptions=False: an exception inside the app is what the client sees, a 500.
    transport = httpx.ASGITransport(app=submission.asgi(alias, label=f"{NAME}(url)"), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http, alias


def status_of(response) -> str:
    return f"you answered {response.status_code}" + (" (an exception in your app)" if response.status_code == 500 else "")


@graded(NAME, points=1.5)
async def test_make_app_me_answers_the_tokens_owner(submission):
    """GET /me with a valid X-API-Token answers that user's id, name, email, role and tenant_id."""
    async with app_client(submission) as (http, alias):
        for user_id in (1, 3, 27, 36):
            response = await http.get("/me", headers=token(user_id))
            expect(response.status_code == 200,
                   f"GET /me with a valid {HEADER} header should answer 200 ({status_of(response)}).")
            expect(response.json() == user_json(user_id),
                   'GET /me should answer exactly {"id", "name", "email", "role", "tenant_id"} of the user the '
                   "token belongs to.")


@graded(NAME, points=1.5)
async def test_make_app_refuses_bad_tokens_with_401(submission):
    """A missing header, an unknown token and an inactive user's token all get 401, never 500."""
    async with app_client(submission) as (http, alias):
        response = await http.get("/me")
        expect(response.status_code == 401,
               f"A request without the {HEADER} header should get 401, not a validation error ({status_of(response)}).")
        response = await http.get("/me", headers={HEADER: "0" * 32})
        expect(response.status_code == 401, f"An unknown token should get 401 ({status_of(response)}).")
        for user_id in (13, 26):
            response = await http.get("/invoices", headers=token(user_id))
            expect(response.status_code == 401,
                   f"The token of an inactive user (active is false) should get 401 ({status_of(response)}).")


@graded(NAME, points=1.5)
async def test_make_app_keeps_tenants_apart(submission):
    """/invoices lists the caller's tenant only; another tenant's invoice is a 404, never a 500."""
    async with app_client(submission) as (http, alias):
        for user_id in (3, 14, 36):
            tenant = USERS[user_id]["tenant_id"]
            expected = [row["id"] for row in INVOICES if row["tenant_id"] == tenant]
            response = await http.get("/invoices", headers=token(user_id))
            expect(response.status_code == 200, f"GET /invoices should answer 200 ({status_of(response)}).")
            listed = response.json()
            expect(isinstance(listed, list) and [item.get("id") for item in listed if isinstance(item, dict)] == expected,
                   "GET /invoices should list every invoice of the caller's tenant (and no other), ordered by id; "
                   "a tenant without invoices gets [].")
        own = next(row for row in INVOICES if row["tenant_id"] == USERS[3]["tenant_id"])
        response = await http.get(f"/invoices/{own['id']}", headers=token(3))
        expect(response.status_code == 200 and response.json() == invoice_json(own),
               "GET /invoices/{id} of the caller's tenant should answer the invoice with exactly the keys "
               f"{', '.join(INVOICE_KEYS)} (dates as ISO strings).")
        foreign = next(row for row in INVOICES if row["tenant_id"] != USERS[3]["tenant_id"])
        response = await http.get(f"/invoices/{foreign['id']}", headers=token(3))
        expect(response.status_code == 404,
               f"An invoice of another tenant must be a 404, as if it did not exist ({status_of(response)}).")
        response = await http.get("/invoices/100000", headers=token(3))
        expect(response.status_code == 404, f"An invoice id that does not exist should get 404 ({status_of(response)}).")
        for odd in ("0", str(2**63), "99999999999999999999"):
            response = await http.get(f"/invoices/{odd}", headers=token(3))
            expect(response.status_code in (404, 422),
                   f"An invoice id outside 1 ... 2**63 - 1 should get 404 or 422, never a 500 ({status_of(response)}).")


@graded(NAME, points=1)
async def test_make_app_guards_the_admin_route(submission):
    """/users/{id} is for admins: 403 for members, 404 outside the tenant, the user otherwise."""
    async with app_client(submission) as (http, alias):
        for asked in (3, 1):  # another user of the tenant, and the admin's own record
            response = await http.get(f"/users/{asked}", headers=token(1))
            expect(response.status_code == 200 and response.json() == user_json(asked),
                   "An admin asking GET /users/{id} for a user of the same tenant should get that user, shaped like /me.")
        for odd in ("0", str(2**63)):
            response = await http.get(f"/users/{odd}", headers=token(1))
            expect(response.status_code in (404, 422),
                   f"A user id outside 1 ... 2**63 - 1 should get 404 or 422, never a 500 ({status_of(response)}).")
        for other in (27, 999):
            response = await http.get(f"/users/{other}", headers=token(1))
            expect(response.status_code == 404,
                   f"A user of another tenant, or no user at all, should be a 404 for an admin ({status_of(response)}).")
        for asked in (1, 999):
            response = await http.get(f"/users/{asked}", headers=token(3))
            expect(response.status_code == 403,
                   f"A member (role 'member') asking GET /users/{{id}} should get 403, whatever the id ({status_of(response)}).")


@graded(NAME, points=0.5)
async def test_make_app_closes_every_session(submission):
    """After requests that succeed and requests that fail, no database connection is left checked out."""
    async with app_client(submission) as (http, alias):
        for _ in range(4):
            await http.get("/me", headers=token(3))
            await http.get("/me", headers={HEADER: "nope"})
            await http.get("/invoices/3", headers=token(3))
            await http.get("/users/1", headers=token(3))
        left = await submission.probe("lesson03.checked_out", defined(alias))
    expect(left == 0,
           f"{left} database connection(s) were still checked out after the requests ended: close the session "
           "when the request ends, error or not (async with the session around the yield).")


LARGEST_ID = 2**63 - 1
TOKENS = st.sampled_from(sorted(USERS)).map(lambda user_id: USERS[user_id]["api_token"]) | st.sampled_from(["nope", "", None])
IDS = (st.sampled_from(sorted({row["id"] for row in INVOICES} | set(USERS))) | st.sampled_from([0, -1, 100000, 2**63, 2**64]))
CALLS = st.fixed_dictionaries({
    "token": TOKENS,
    "path": st.sampled_from(["/me", "/invoices", "/invoices/{id}", "/users/{id}"]),
    "id": IDS,
})


def promised(call: dict, response) -> list:
    """The status, and the JSON of a 200 (an error's detail is left open); for an id outside
    1 ... 2**63 - 1 the task allows 404 or 422."""
    status = response.status_code
    if "{id}" in call["path"] and not 1 <= call["id"] <= LARGEST_ID and status == 422:
        status = 404
    return [status, response.json() if status == 200 else None]


@graded(NAME, points=2)
async def test_make_app_answers_generated_calls_as_the_task_says(submission, reference):
    """On generated calls (every user's token, bad tokens, every route, ids of every tenant and out of range), each answer is as the task says."""
    await require(submission, NAME, kind="function")
    apps: dict = {}  # one database and one app per side for the whole test: the calls only read
    try:
        async def run(side, calls):
            if side not in apps:
                url = await side.probe("lesson03.fresh_database", "differential")
                apps[side] = (url, side.asgi(await side.make(NAME, url), label=f"{NAME}(url)"))
            transport = httpx.ASGITransport(app=apps[side][1], raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                answers = []
                for call in calls:
                    headers = {} if call["token"] is None else {HEADER: call["token"]}
                    response = await http.get(call["path"].replace("{id}", str(call["id"])), headers=headers)
                    answers.append(promised(call, response))
                return answers

        await same_as_reference(submission, reference, NAME, st.lists(CALLS, min_size=1, max_size=4), run, examples=15,
                                promise="GET /me answers the token's user; /invoices the caller's tenant's invoices by "
                                        "id; /invoices/{id} that invoice if it is the caller's tenant's, else 404; "
                                        "/users/{id} 403 for a member, else that user of the tenant or 404; a missing, "
                                        "unknown or inactive user's token 401; never a 500.")
    finally:
        if reference in apps:  # the reference's database is in this process's temporary folder
            Path(apps[reference][0].removeprefix("sqlite+aiosqlite:///")).unlink(missing_ok=True)
