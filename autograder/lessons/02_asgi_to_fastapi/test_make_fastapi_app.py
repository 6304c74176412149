"""Hidden tests for `make_fastapi_app`: the lesson's small application, ported to FastAPI.

They are the notebook's shared tests, with more inputs, run against the learner's port.
"""

from contextlib import asynccontextmanager

import httpx
import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "make_fastapi_app"


@asynccontextmanager
async def port(submission, root_path: str = ""):
    """An httpx client on the learner's FastAPI app, run under ``root_path`` as a server started
    with that root path runs it. Exceptions the app re-raises after answering (Starlette's
    ServerErrorMiddleware does) are left to the server, as uvicorn would."""
    await require(submission, NAME, kind="function")
    alias = await submission.make(NAME)
    transport = httpx.ASGITransport(
        app=submission.asgi(alias, label=f"{NAME}()"), raise_app_exceptions=False, root_path=root_path
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        http.alias = alias
        yield http


def body(response):
    try:
        return response.json()
    except ValueError:
        return response.text


@graded(NAME, points=1, promises=["new-app", "index"])
async def test_port_is_a_fastapi_app(submission):
    """make_fastapi_app() returns a FastAPI application."""
    async with port(submission) as http:
        names = await submission.probe("lesson02.class_names", defined(http.alias))
        response = await http.get("/")
    expect(
        "FastAPI" in names,
        "make_fastapi_app() should build and return a fastapi.FastAPI instance.",
        promises=["new-app"],
    )
    expect(
        response.status_code == 200 and body(response) == {"message": "hello"},
        'GET / should answer 200 {"message": "hello"}.',
        promises=["index"],
    )


@graded(NAME, points=1, promises=["new-app"], unhappy=True)
async def test_port_builds_a_new_app_on_every_call(submission):
    """Two calls of make_fastapi_app() return two applications, each answering on its own."""
    async with port(submission) as first, port(submission) as second:
        same = await submission.probe("lesson02.same_object", defined(first.alias), defined(second.alias))
        answers = [await first.get("/"), await second.get("/")]
    expect(
        all(response.status_code == 200 for response in answers),
        'GET / should answer 200 {"message": "hello"}, on the app of every call.',
    )
    expect(
        same is False,
        "Every call of make_fastapi_app() should build a new application: yours returned the same "
        "object twice, so whatever one user of it changes (its state, its dependency overrides, "
        "its middleware) changes the other's too. Build the app inside the function, every time.",
    )


@graded(NAME, points=2, promises=["read-item"])
async def test_port_item_ids_are_ints_and_q_is_optional(submission):
    """GET /items/{item_id} answers {"item_id": <int>, "q": <q or null>}."""
    async with port(submission) as http:
        answers = [
            await http.get("/items/42", params={"q": "red"}),
            await http.get("/items/7"),
            await http.get("/items/0031", params={"q": "caf\u00e9 cr\u00e8me"}),
        ]
    expect(all(response.status_code == 200 for response in answers), "GET /items/<digits> should answer 200.")
    expect(
        [body(response) for response in answers]
        == [{"item_id": 42, "q": "red"}, {"item_id": 7, "q": None}, {"item_id": 31, "q": "caf\u00e9 cr\u00e8me"}],
        'GET /items/<digits>?q=... should answer {"item_id": <the int>, "q": <q, or null when absent>}.',
    )


@graded(NAME, points=1, promises=["item-digits"], unhappy=True)
async def test_port_item_ids_must_be_digits(submission):
    """/items/<not digits> is 404 {"detail": "Not Found"}, as on the other two implementations."""
    async with port(submission) as http:
        answers = [await http.get(path) for path in ["/items/abc", "/items/4.5", "/items/-3"]]
    expect(
        all(response.status_code == 404 and body(response) == {"detail": "Not Found"} for response in answers),
        "A non-numeric item id should be a 404 (no route matches), not a 422: FastAPI validates a "
        "parameter after the route matched; put the int converter in the path template itself.",
    )


@graded(NAME, points=1, promises=["method-not-allowed"], unhappy=True)
async def test_port_wrong_method_is_405(submission):
    """DELETE /items/{id} is 405 with allow listing GET."""
    async with port(submission) as http:
        response = await http.delete("/items/42")
    allowed = {part.strip() for part in response.headers.get("allow", "").split(",")}
    expect(
        response.status_code == 405 and "GET" in allowed and "DELETE" not in allowed,
        "DELETE /items/<id> should answer 405 with an allow header that lists GET.",
    )


@graded(NAME, points=2, promises=["create-item"])
async def test_port_create_item_reads_json_and_every_x_tag(submission):
    """POST /items answers 201 {"name": ..., "tags": [every x-tag header, in order]}."""
    async with port(submission) as http:
        tagged = await http.post(
            "/items", json={"name": "lamp"}, headers=[("x-tag", "new"), ("X-Tag", "sale"), ("x-tag", "blue")]
        )
        plain = await http.post("/items", json={"name": "desk"})
    expect(tagged.status_code == 201 and plain.status_code == 201, "POST /items should answer 201.")
    expect(
        body(plain) == {"name": "desk", "tags": []},
        'POST /items should answer {"name": <the name in the JSON body>, "tags": []} when no x-tag is sent.',
    )
    expect(
        body(tagged) == {"name": "lamp", "tags": ["new", "sale", "blue"]},
        "The tags are every x-tag header, in order: declare the header parameter as a list.",
    )


@graded(NAME, points=1, promises=["boom"], unhappy=True)
async def test_port_errors_are_a_json_500(submission):
    """GET /boom answers 500 {"detail": "Internal Server Error"} and leaks nothing."""
    async with port(submission) as http:
        response = await http.get("/boom")
    expect(response.status_code == 500, f"GET /boom should answer 500 (it answered {response.status_code}).")
    expect(
        body(response) == {"detail": "Internal Server Error"},
        'The 500 should be JSON {"detail": "Internal Server Error"}: register an exception handler for '
        "Exception (FastAPI's default 500 is plain text).",
    )
    expect(
        "hunter2" not in response.text and "Traceback" not in response.text,
        "Never send the exception's text or traceback to the client.",
    )


@graded(NAME, points=2, promises=["admin", "not-found"], unhappy=True)
async def test_port_admin_app_is_mounted(submission):
    """/admin/whoami answers {"root_path": "/admin"}; other admin paths and look-alikes are JSON 404s."""
    async with port(submission) as http:
        whoami = await http.get("/admin/whoami")
        missing = [await http.get(path) for path in ["/admin/nowhere", "/administrator", "/nowhere"]]
    expect(
        whoami.status_code == 200 and body(whoami) == {"root_path": "/admin"},
        'Mount an admin application at /admin whose GET /whoami answers {"root_path": <scope root_path>}.',
        promises=["admin"],
    )
    expect(
        all(response.status_code == 404 and body(response) == {"detail": "Not Found"} for response in missing),
        'Unknown paths, inside /admin and outside, should answer 404 JSON {"detail": "Not Found"} (a FastAPI '
        "sub-application does; a bare Starlette one answers plain text).",
        promises=["not-found"],
    )
    async with port(submission, root_path="/api") as http:
        whoami = await http.get("/api/admin/whoami")
    expect(
        whoami.status_code == 200 and body(whoami) == {"root_path": "/api/admin"},
        "Under a server started with the root path /api, GET /api/admin/whoami should answer "
        '{"root_path": "/api/admin"}: read root_path from the request\'s scope rather than writing it down.',
        promises=["admin"],
    )


ITEM_IDS = st.sampled_from(["42", "0031", "7", "abc", "4.5", "-3", "99999999999"])
TEXT = st.sampled_from(["red", "caf\u00e9 cr\u00e8me", "", "a+b", "x&y"])
TAGS = st.lists(
    st.tuples(st.sampled_from(["x-tag", "X-Tag", "X-TAG"]), st.sampled_from(["new", "sale", "blue", ""])), max_size=3
)
# Each request with the row of the table it tests (a promise's id). No path that differs from a
# route's only by a trailing slash: the statement lets FastAPI's redirect of those stand.
REQUESTS = st.one_of(
    st.just(["index", {"method": "GET", "url": "/"}]),
    st.builds(
        lambda item, q: [
            "read-item" if item.isdigit() else "item-digits",
            {"method": "GET", "url": f"/items/{item}", "params": {} if q is None else {"q": q}},
        ],
        ITEM_IDS,
        st.none() | TEXT,
    ),
    st.builds(
        lambda name, tags: [
            "create-item",
            {"method": "POST", "url": "/items", "json": {"name": name}, "headers": tags},
        ],
        TEXT,
        TAGS,
    ),
    st.builds(
        lambda method, item: [
            "method-not-allowed" if item.isdigit() else "item-digits",
            {"method": method, "url": f"/items/{item}"},
        ],
        st.sampled_from(["DELETE", "PUT", "POST"]),
        ITEM_IDS,
    ),
    st.just(["boom", {"method": "GET", "url": "/boom"}]),
    st.builds(
        lambda path: ["admin" if path == "/admin/whoami" else "not-found", {"method": "GET", "url": path}],
        st.sampled_from(["/admin/whoami", "/admin/nowhere", "/administrator", "/nowhere", "/admin/"]),
    ),
    st.builds(
        lambda method: ["method-not-allowed", {"method": method, "url": "/items"}], st.sampled_from(["GET", "PUT"])
    ),
)


def promised(response) -> dict:
    """What the statement fixes of an answer: the status and the JSON body (a 405's body is not
    fixed, only its allow header, and whether it lists HEAD beside GET is open)."""
    allow = response.headers.get("allow")
    return {
        "status": response.status_code,
        "body": None if response.status_code == 405 else body(response),
        "allow": sorted(part.strip() for part in allow.split(",") if part.strip() != "HEAD")
        if allow is not None
        else None,
    }


@graded(
    NAME,
    points=2,
    promises=["index", "read-item", "item-digits", "create-item", "boom", "admin", "not-found", "method-not-allowed"],
    unhappy=True,
)
async def test_port_answers_generated_requests_like_the_table(submission, reference):
    """On generated requests to every row of the table (odd ids, queries, tags, methods, paths), each answer is as the
    table says."""

    async def run(side, requests):
        answers: dict = {}
        async with port(side) as http:
            for number, (row, request) in enumerate(requests):
                answers.setdefault(row, []).append([number, promised(await http.request(**request))])
        return answers

    await same_as_reference(
        submission,
        reference,
        NAME,
        st.lists(REQUESTS, min_size=1, max_size=3),
        run,
        examples=20,
        promise={
            row: row
            for row in (
                "index",
                "read-item",
                "item-digits",
                "create-item",
                "boom",
                "admin",
                "not-found",
                "method-not-allowed",
            )
        },
    )
