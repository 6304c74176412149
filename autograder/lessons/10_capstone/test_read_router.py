"""Hidden tests for step 2, `read_router`: the caller from a bearer token, and the routes that read.

A probe (``lesson10.read_service``) makes ``make_app(url, read_router(), <a probe router>)`` on a
fresh database in the sandbox; the probe router's ``GET /probe/caller`` answers what
``current_caller`` gave it and what it kept on ``request.state.caller``. The app's lifespan runs
here (asgi-lifespan over the forwarded app) and the tests talk to it over ASGI with real tokens of
``datasets/users.csv``; expected answers come from the same dataset, read here. The differential
test draws calls (every user's token, broken headers, every route, ids of every tenant and out of
range) and compares the answers with the reference's.
"""

from contextlib import AsyncExitStack, asynccontextmanager, suppress

import httpx
import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import lifespan, make, require, same_as_reference
from coursekit import data

pytestmark = pytest.mark.anyio
NAME = "read_router"
USERS = {row["id"]: row for row in data.rows("users")}
TENANTS = {row["id"]: row for row in data.rows("tenants")}
INVOICES = data.rows("invoices")
INVOICE_FIELDS = ("id", "number", "customer", "amount_cents", "currency", "status", "issued_on", "due_on")
LARGEST_ID = 2**63 - 1


def bearer(user_id: int, scheme: str = "Bearer") -> dict:
    return {"Authorization": f"{scheme} {USERS[user_id]['api_token']}"}


def me_json(user_id: int) -> dict:
    return {key: USERS[user_id][key] for key in ("id", "name", "email", "role", "tenant_id")}


def user_row_json(user_id: int) -> dict:
    return {key: USERS[user_id][key] for key in ("id", "name", "email", "role", "active")}


def invoice_json(row: dict) -> dict:
    shown = {key: row[key] for key in INVOICE_FIELDS}
    shown["issued_on"], shown["due_on"] = row["issued_on"].isoformat(), row["due_on"].isoformat()
    return shown


@asynccontextmanager
async def served(side):
    """The service of ``side`` (submission or reference) on a fresh database, its lifespan running,
    its pool watched, and a client for it. Afterwards the connections it leaked are closed (each
    is a thread of the sandbox, which later tests need)."""
    await require(side, "make_app", kind="function")
    await require(side, NAME, kind="function")
    alias = await make(
        side,
        NAME,
        "$fixture:lesson10.read_service",
        defined("make_app"),
        defined(NAME),
        defined("current_caller"),
        defined("require_admin"),
        defined("new_database"),
    )
    app = side.asgi(alias, label=f"make_app(url, {NAME}())")
    try:
        async with lifespan(app, f"make_app(url, {NAME}())") as manager:
            await side.probe("lesson10.watch", defined(alias))
            # raise_app_exceptions=False: an exception inside the app is what the client sees, a 500.
            transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield http
    finally:
        with suppress(Exception):  # housekeeping: a sandbox that broke down goes with what it held
            await side.probe("lesson10.close_app", defined(alias))


def status_of(response) -> str:
    return f"you answered {response.status_code}" + (
        " (an exception in your app)" if response.status_code == 500 else ""
    )


@graded(NAME, points=1.5, promises=["me", "caller"])
async def test_read_router_me_answers_the_tokens_owner(submission):
    """GET /me with a valid bearer token answers that user's id, name, email, role and tenant_id."""
    async with served(submission) as http:
        for user_id in (1, 3, 15, 28, 37):
            response = await http.get("/me", headers=bearer(user_id))
            expect(
                response.status_code == 200,
                f"GET /me with a valid bearer token should answer 200 ({status_of(response)}).",
                promises=["me"],
            )
            expect(
                response.json() == me_json(user_id),
                'GET /me should answer exactly {"id", "name", "email", "role", "tenant_id"} of the user the token '
                "belongs to.",
                promises=["me"],
            )


@graded(NAME, points=1.5, promises=["caller"])
async def test_read_router_caller_is_the_tokens_user_and_tenant(submission):
    """current_caller answers the Caller of the token's user (in any case of the scheme) and keeps it on
    request.state.caller."""
    async with served(submission) as http:
        for user_id, scheme in ((3, "Bearer"), (15, "bearer"), (37, "BEARER")):
            response = await http.get("/probe/caller", headers=bearer(user_id, scheme))
            expect(
                response.status_code == 200,
                f"A route depending on current_caller, with 'Authorization: {scheme} <token>' of an active user, "
                f"should answer 200 ({status_of(response)}); the scheme is case-insensitive.",
            )
            user = USERS[user_id]
            expected = {
                "user_id": user_id,
                "tenant_id": user["tenant_id"],
                "role": user["role"],
                "tenant_slug": TENANTS[user["tenant_id"]]["slug"],
            }
            found = response.json()
            expect(
                found["given"] == expected,
                f"current_caller should answer the Caller of the token's user: {expected}, not {found['given']}.",
            )
            expect(
                found["same"] and found["kept"] == expected,
                "current_caller should keep the Caller it answers on request.state.caller (step 6 reads it there).",
            )


@graded(NAME, points=2, promises=["unauthenticated-401", "no-500"], unhappy=True)
async def test_read_router_refuses_who_is_not_known_with_401(submission):
    """No header, another scheme, no token, an unknown token, an inactive user's: 401 with WWW-Authenticate: Bearer."""
    refusals = [
        ("no Authorization header", {}),
        ("a Basic scheme", {"Authorization": "Basic dXNlcjpwYXNz"}),
        ("an active user's token under another scheme", {"Authorization": f"Token {USERS[3]['api_token']}"}),
        ("the token without a scheme", {"Authorization": USERS[3]["api_token"]}),
        ("'Bearer' and no token", {"Authorization": "Bearer"}),
        ("'Bearer ' and an empty token", {"Authorization": "Bearer "}),
        ("an unknown token", {"Authorization": "Bearer " + "0" * 32}),
        ("the token of inactive user 13", bearer(13)),
        ("the token of inactive user 26", bearer(26)),
    ]
    async with served(submission) as http:
        for path in ("/me", "/invoices/1", "/users"):
            for label, headers in refusals:
                response = await http.get(path, headers=headers)
                expect(
                    response.status_code == 401,
                    f"GET {path} with {label} should get 401 ({status_of(response)}).",
                    promises=["unauthenticated-401", "no-500"],
                )
                expect(
                    response.headers.get("www-authenticate", "").split(" ")[0].lower() == "bearer",
                    f"The 401 for {label} should carry the header 'WWW-Authenticate: Bearer', which tells the "
                    "client what to send.",
                    promises=["unauthenticated-401"],
                )
                expect(
                    "detail" in response.json(),
                    f"The 401 for {label} should be JSON with a detail.",
                    promises=["unauthenticated-401"],
                )


@graded(NAME, points=1.5, promises=["admin-403", "users-for-admins"], unhappy=True)
async def test_read_router_lets_only_admins_list_users(submission):
    """GET /users: 403 for members, 401 (not 403) without a valid token, the tenant's users for admins."""
    async with served(submission) as http:
        for user_id in (3, 14, 28, 37):
            response = await http.get("/users", headers=bearer(user_id))
            expect(
                response.status_code == 403,
                f"A member asking GET /users should get 403 ({status_of(response)}).",
                promises=["admin-403"],
            )
        for headers in ({}, bearer(13), {"Authorization": "Bearer nope"}):
            response = await http.get("/users", headers=headers)
            expect(
                response.status_code == 401,
                f"GET /users without a valid token should get 401, before any 403 ({status_of(response)}).",
                promises=["admin-403"],
            )
        response = await http.get("/users", headers=bearer(2))
        expect(
            response.status_code == 200,
            f"An admin asking GET /users should get 200 ({status_of(response)}).",
            promises=["admin-403", "users-for-admins"],
        )
        response = await http.get("/probe/admin", headers=bearer(15))
        expected = {"user_id": 15, "tenant_id": 2, "role": "admin", "tenant_slug": "globex"}
        expect(
            response.status_code == 200 and response.json().get("given") == expected,
            f"require_admin should answer the caller when they are an admin: {expected}, not "
            f"{response.json().get('given') if response.status_code == 200 else status_of(response)}.",
            promises=["admin-403"],
        )


@graded(NAME, points=1.5, promises=["users-for-admins"])
async def test_read_router_lists_the_tenants_users(submission):
    """An admin of each tenant gets their tenant's users, inactive ones too, in id order, with exactly the promised
    keys."""
    async with served(submission) as http:
        for admin in (1, 15, 27, 36):
            tenant = USERS[admin]["tenant_id"]
            response = await http.get("/users", headers=bearer(admin))
            expected = [user_row_json(user_id) for user_id in sorted(USERS) if USERS[user_id]["tenant_id"] == tenant]
            expect(
                response.status_code == 200 and response.json() == expected,
                "GET /users should list the users of the caller's tenant, inactive ones too, in id order, each "
                'exactly {"id", "name", "email", "role", "active"}.',
            )


@graded(NAME, points=2, promises=["invoice", "invoice-404", "no-500"], unhappy=True)
async def test_read_router_keeps_tenants_apart(submission):
    """The caller's tenant's invoice is answered; another tenant's, or none, is a 404; odd ids a 404 or 422, never a
    500."""
    async with served(submission) as http:
        for user_id in (3, 15, 28):
            tenant = USERS[user_id]["tenant_id"]
            own = [row for row in INVOICES if row["tenant_id"] == tenant]
            for row in (own[0], own[-1]):
                response = await http.get(f"/invoices/{row['id']}", headers=bearer(user_id))
                expect(
                    response.status_code == 200 and response.json() == invoice_json(row),
                    "GET /invoices/{id} of the caller's tenant should answer the invoice with exactly the keys of "
                    "INVOICE_FIELDS, dates as ISO strings.",
                    promises=["invoice"],
                )
            foreign = next(row for row in INVOICES if row["tenant_id"] != tenant)
            response = await http.get(f"/invoices/{foreign['id']}", headers=bearer(user_id))
            expect(
                response.status_code == 404,
                f"An invoice of another tenant must be a 404, as if it did not exist ({status_of(response)}).",
                promises=["invoice-404"],
            )
        response = await http.get("/invoices/1", headers=bearer(37))
        expect(
            response.status_code == 404, "A tenant without invoices asking for one gets 404.", promises=["invoice-404"]
        )
        response = await http.get("/invoices/100000", headers=bearer(3))
        expect(
            response.status_code == 404,
            f"An invoice that does not exist should get 404 ({status_of(response)}).",
            promises=["invoice-404"],
        )
        for odd in ("0", "-1", str(2**63), "99999999999999999999"):
            response = await http.get(f"/invoices/{odd}", headers=bearer(3))
            expect(
                response.status_code in (404, 422),
                f"An invoice id outside 1 ... 2**63 - 1 should get 404 or 422, never a 500 ({status_of(response)}).",
                promises=["invoice-404", "no-500"],
            )


ACTIVE = {row["api_token"] for row in USERS.values() if row["active"]}
ADMINS = {row["api_token"] for row in USERS.values() if row["active"] and row["role"] == "admin"}
HEADERS = (
    st.sampled_from(sorted(USERS)).flatmap(
        lambda user_id: st.sampled_from(["Bearer", "bearer"]).map(
            lambda scheme: f"{scheme} {USERS[user_id]['api_token']}"
        )
    )
    | st.sampled_from(
        [
            "Bearer nope",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            USERS[3]["api_token"],
            f"Basic {USERS[1]['api_token']}",
            f"Token {USERS[15]['api_token']}",
        ]
    )
    | st.none()
)
IDS = st.sampled_from(sorted({row["id"] for row in INVOICES})) | st.sampled_from([0, -1, 100000, 2**63, 2**64])
CALLS = st.fixed_dictionaries(
    {"authorization": HEADERS, "path": st.sampled_from(["/me", "/invoices/{id}", "/users"]), "id": IDS}
)
ROUTE_PROMISES = {"/me": "me", "/invoices/{id}": "invoice", "/users": "users-for-admins"}


def promise_of(call: dict) -> str:
    """The promise a call falls under: a refused token's, a member on an admin route's, else its route's."""
    token = (call["authorization"] or "").partition(" ")[2]
    scheme = (call["authorization"] or "").partition(" ")[0].lower()
    if scheme != "bearer" or token not in ACTIVE:
        return "unauthenticated-401"
    if call["path"] == "/users" and token not in ADMINS:
        return "admin-403"
    if call["path"] == "/invoices/{id}" and not 1 <= call["id"] <= LARGEST_ID:
        return "invoice-404"
    return ROUTE_PROMISES[call["path"]]


def observed(call: dict, response) -> list:
    """The status (a 422 for an id outside 1 ... 2**63 - 1 counted as the 404 the task allows in its
    place), and the JSON of a 200 (an error's detail is left open)."""
    status = response.status_code
    if "{id}" in call["path"] and not 1 <= call["id"] <= LARGEST_ID and status == 422:
        status = 404
    return [status, response.json() if status == 200 else None]


@graded(
    NAME, points=2, promises=[*ROUTE_PROMISES.values(), "unauthenticated-401", "admin-403", "invoice-404"], unhappy=True
)
async def test_read_router_answers_generated_calls_as_the_task_says(submission, reference):
    """On generated calls (every user's token, broken headers, every route, ids of every tenant and out of range), each
    answer is as the task says."""
    await require(submission, NAME, kind="function")
    clients: dict = {}  # one database and one service per side for the whole test: the calls only read
    async with AsyncExitStack() as stack:

        async def run(side, calls):
            if side not in clients:
                clients[side] = await stack.enter_async_context(served(side))
            grouped: dict = {}
            for call in calls:
                headers = {} if call["authorization"] is None else {"Authorization": call["authorization"]}
                response = await clients[side].get(call["path"].replace("{id}", str(call["id"])), headers=headers)
                grouped.setdefault(promise_of(call), []).append(observed(call, response))
            return grouped

        await same_as_reference(
            submission,
            reference,
            NAME,
            st.lists(CALLS, min_size=1, max_size=4),
            run,
            examples=15,
            promise={
                name: name for name in (*ROUTE_PROMISES.values(), "unauthenticated-401", "admin-403", "invoice-404")
            },
        )
