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
async def port(submission):
    """An httpx client on the learner's FastAPI app. Exceptions the app re-raises after
    answering (Starlette's ServerErrorMiddleware does) are left to the server, as uvicorn would."""
    await require(submission, NAME, kind="function")
    alias = await submission.make(NAME)
    transport = httpx.ASGITransport(app=submission.asgi(alias, label=f"{NAME}()"), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        http.alias = alias
        yield http


def body(response):
    try:
        return response.json()
    except ValueError:
        return response.text


@graded(NAME, points=1)
async def test_port_is_a_fastapi_app(submission):
    """make_fastapi_app() returns a FastAPI application."""
    async with port(submission) as http:
        names = await submission.probe("lesson02.class_names", defined(http.alias))
        response = await http.get("/")
    expect("FastAPI" in names, "make_fastapi_app() should build and return a fastapi.FastAPI instance.")
    expect(response.status_code == 200 and body(response) == {"message": "hello"},
           'GET / should answer 200 {"message": "hello"}.')


@graded(NAME, points=2)
async def test_port_item_ids_are_ints_and_q_is_optional(submission):
    """GET /items/{item_id} answers {"item_id": <int>, "q": <q or null>}."""
    async with port(submission) as http:
        answers = [await http.get("/items/42", params={"q": "red"}), await http.get("/items/7"),
                   await http.get("/items/0031", params={"q": "caf\u00e9 cr\u00e8me"})]
    expect(all(response.status_code == 200 for response in answers), "GET /items/<digits> should answer 200.")
    expect([body(response) for response in answers] == [
        {"item_id": 42, "q": "red"}, {"item_id": 7, "q": None}, {"item_id": 31, "q": "caf\u00e9 cr\u00e8me"}],
        'GET /items/<digits>?q=... should answer {"item_id": <the int>, "q": <q, or null when absent>}.')


@graded(NAME, points=1)
async def test_port_item_ids_must_be_digits(submission):
    """/items/<not digits> is 404 {"detail": "Not Found"}, as on the other two implementations."""
    async with port(submission) as http:
        answers = [await http.get(path) for path in ["/items/abc", "/items/4.5", "/items/-3"]]
    expect(all(response.status_code == 404 and body(response) == {"detail": "Not Found"} for response in answers),
           "A non-numeric item id should be a 404 (no route matches), not a 422: FastAPI validates a "
           "parameter after the route matched; put the int converter in the path template itself.")


@graded(NAME, points=1)
async def test_port_wrong_method_is_405(submission):
    """DELETE /items/{id} is 405 with allow listing GET."""
    async with port(submission) as http:
        response = await http.delete("/items/42")
    allowed = {part.strip() for part in response.headers.get("allow", "").split(",")}
    expect(response.status_code == 405 and "GET" in allowed and "DELETE" not in allowed,
           "DELETE /items/<id> should answer 405 with an allow header that lists GET.")


@graded(NAME, points=2)
async def test_port_create_item_reads_json_and_every_x_tag(submission):
    """POST /items answers 201 {"name": ..., "tags": [every x-tag header, in order]}."""
    async with port(submission) as http:
        tagged = await http.post("/items", json={"name": "lamp"},
                                 headers=[("x-tag", "new"), ("X-Tag", "sale"), ("x-tag", "blue")])
        plain = await http.post("/items", json={"name": "desk"})
    expect(tagged.status_code == 201 and plain.status_code == 201, "POST /items should answer 201.")
    expect(body(plain) == {"name": "desk", "tags": []},
           'POST /items should answer {"name": <the name in the JSON body>, "tags": []} when no x-tag is sent.')
    expect(body(tagged) == {"name": "lamp", "tags": ["new", "sale", "blue"]},
           "The tags are every x-tag header, in order: declare the header parameter as a list.")


@graded(NAME, points=1)
async def test_port_errors_are_a_json_500(submission):
    """GET /boom answers 500 {"detail": "Internal Server Error"} and leaks nothing."""
    async with port(submission) as http:
        response = await http.get("/boom")
    expect(response.status_code == 500, f"GET /boom should answer 500 (it answered {response.status_code}).")
    expect(body(response) == {"detail": "Internal Server Error"},
           'The 500 should be JSON {"detail": "Internal Server Error"}: register an exception handler for '
           "Exception (FastAPI's default 500 is plain text).")
    expect("hunter2" not in response.text and "Traceback" not in response.text,
           "Never send the exception's text or traceback to the client.")


@graded(NAME, points=2)
async def test_port_admin_app_is_mounted(submission):
    """/admin/whoami answers {"root_path": "/admin"}; other admin paths and look-alikes are JSON 404s."""
    async with port(submission) as http:
        whoami = await http.get("/admin/whoami")
        missing = [await http.get(path) for path in ["/admin/nowhere", "/administrator", "/nowhere"]]
    expect(whoami.status_code == 200 and body(whoami) == {"root_path": "/admin"},
           'Mount an admin application at /admin whose GET /whoami answers {"root_path": <scope root_path>}.')
    expect(all(response.status_code == 404 and body(response) == {"detail": "Not Found"} for response in missing),
           'Unknown paths, inside /admin and outside, should answer 404 JSON {"detail": "Not Found"} (a FastAPI '
           "sub-application does; a bare Starlette one answers plain text).")


ITEM_IDS = st.sampled_from(["42", "0031", "7", "abc", "4.5", "-3", "", "99999999999"])
TEXT = st.sampled_from(["red", "caf\u00e9 cr\u00e8me", "", "a+b", "x&y"])
TAGS = st.lists(st.tuples(st.sampled_from(["x-tag", "X-Tag", "X-TAG"]), st.sampled_from(["new", "sale", "blue", ""])), max_size=3)
REQUESTS = st.one_of(
    st.builds(lambda: {"method": "GET", "url": "/"}),
    st.builds(lambda item, q: {"method": "GET", "url": f"/items/{item}", "params": {} if q is None else {"q": q}},
              ITEM_IDS, st.none() | TEXT),
    st.builds(lambda name, tags: {"method": "POST", "url": "/items", "json": {"name": name}, "headers": tags}, TEXT, TAGS),
    st.builds(lambda method, item: {"method": method, "url": f"/items/{item}"}, st.sampled_from(["DELETE", "PUT", "POST"]), ITEM_IDS),
    st.builds(lambda path: {"method": "GET", "url": path},
              st.sampled_from(["/boom", "/admin/whoami", "/admin/nowhere", "/administrator", "/nowhere", "/admin", "/items"])),
)


def promised(response) -> dict:
    allow = response.headers.get("allow")
    return {"status": response.status_code, "body": body(response),
            "allow": sorted(part.strip() for part in allow.split(",")) if allow is not None else None}


@graded(NAME, points=2)
async def test_port_answers_generated_requests_like_the_table(submission, reference):
    """On generated requests to every row of the table (odd ids, queries, tags, methods, paths), each answer is as the table says."""
    async def run(side, requests):
        async with port(side) as http:
            return [promised(await http.request(**request)) for request in requests]

    await same_as_reference(submission, reference, NAME, st.lists(REQUESTS, min_size=1, max_size=3), run, examples=20,
                            promise="the table of this section: GET / is {\"message\": \"hello\"}; GET /items/<digits> "
                                    "is {\"item_id\": <int>, \"q\": <q or null>}, other ids 404; POST /items is 201 "
                                    "{\"name\", \"tags\": every x-tag}; other methods on /items/<id> are 405 with "
                                    "allow; /boom is a JSON 500; /admin/whoami gives the root_path; unknown paths are "
                                    "JSON 404s.")
