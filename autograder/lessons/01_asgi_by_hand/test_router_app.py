"""Hidden tests for `router_app`: dispatch on path and method, 404, and 405 with allow."""

import json
import re

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.strategies import METHODS, body_pieces, http_requests, outcomes, paths
from autograder.suitekit import LEAVING_EARLY, body_messages, client, completed, require, same_as_reference
from coursekit import drive, http_scope

pytestmark = pytest.mark.anyio
NAME = "router_app"


def is_json(response) -> bool:
    return response.headers.get("content-type") == "application/json" and response.headers.get("content-length") == str(
        len(response.content)
    )


@graded(NAME, points=1, promises=["index", "json-headers"])
async def test_index(submission):
    """GET / answers 200 with {"message": "index"}."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        response = await http.get("/")
    expect(
        response.status_code == 200,
        f"GET / should answer 200 (you answered {response.status_code}).",
        promises=["index"],
    )
    expect(
        response.content and response.json() == {"message": "index"},
        'GET / should answer {"message": "index"}.',
        promises=["index"],
    )
    expect(
        is_json(response),
        "Every JSON answer needs content-type: application/json and a correct content-length.",
        promises=["json-headers"],
    )


@graded(NAME, points=1, promises=["hello"])
async def test_hello_takes_the_name_from_the_path(submission):
    """GET /hello/{name} answers {"hello": name} for any one-segment name."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        answers = {name: await http.get(f"/hello/{name}") for name in ("ada", "Grace_Hopper", "z\u00fcrich")}
    for name, response in answers.items():
        expect(
            response.status_code == 200, f"GET /hello/<name> should answer 200 (you answered {response.status_code})."
        )
        expect(
            response.json() == {"hello": name},
            "GET /hello/<name> should answer {\"hello\": <name>}, with the name exactly as in scope['path'].",
        )


@graded(NAME, points=1, promises=["echo"])
async def test_echo_route(submission):
    """POST /echo sends the request body back, whole, as echo_app does."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        response = await http.post("/echo", content=b"ping")
    expect(response.status_code == 200 and response.content == b"ping", "POST /echo should behave like echo_app.")
    trace = await drive(submission.asgi(NAME), http_scope("POST", "/echo"), body_messages(b"first-", b"", b"last"))
    completed(trace)
    expect(
        trace.body == b"first-last",
        "POST /echo should echo the whole body, as echo_app does: it may come in several http.request messages "
        "(more_body), and you echoed only part of it.",
    )
    expect(
        trace.headers.get("content-type") == "application/octet-stream"
        and trace.headers.get("content-length") == str(len(trace.body)),
        "POST /echo answers as echo_app does: content-type: application/octet-stream and the content-length of "
        "the bytes (the JSON headers are for the JSON answers).",
    )


@graded(NAME, points=1, negative=True, promises=["echo"], unhappy=True)
async def test_echo_route_sends_nothing_to_a_client_that_left(submission):
    """POST /echo sends nothing when the client disconnects before the body is complete."""
    await require(submission, NAME)
    for incoming in LEAVING_EARLY:
        trace = await drive(submission.asgi(NAME), http_scope("POST", "/echo"), incoming, timeout=5)
        expect(not trace.timed_out, "After http.disconnect, POST /echo kept waiting: return when the client has gone.")
        completed(trace)
        expect(
            trace.sent == [],
            "POST /echo behaves as echo_app does: after an http.disconnect there is nobody to "
            "answer, so it returns without sending anything.",
        )


NO_ROUTE = [
    ("GET", "/nope"),
    ("GET", "/hello/"),
    ("GET", "/hello/a/b"),
    ("GET", "/echo/more"),
    ("PUT", "/hello/"),
    ("DELETE", "/hello/a/b"),
    ("POST", "/echo/more"),
    ("POST", "/nope"),
]


@graded(NAME, points=1, promises=["not-found", "json-headers"], unhappy=True)
async def test_unknown_paths_are_404(submission):
    """Paths that match no route answer 404 with {"detail": "Not Found"}, whatever the method."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        answers = [(method, await http.request(method, path)) for method, path in NO_ROUTE]
    for method, response in answers:
        expect(
            response.status_code == 404,
            "A path that matches no route should answer 404. Does /hello/{name} accept an empty name, "
            "or more than one path segment?"
            + (
                ""
                if method == "GET"
                else " Is the path matched in full before the method is looked at, whatever the method?"
            ),
            promises=["not-found"],
        )
        expect(
            response.json() == {"detail": "Not Found"},
            'A 404 should answer {"detail": "Not Found"}.',
            promises=["not-found"],
        )
        expect(
            is_json(response), "The 404 answer is JSON too: content-type and content-length.", promises=["json-headers"]
        )


@graded(NAME, points=2, promises=["method-not-allowed"], unhappy=True)
async def test_wrong_method_is_405_with_allow(submission):
    """A known path with the wrong method answers 405 with an allow header."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        wrong = {
            ("DELETE", "/"): "GET",
            ("POST", "/hello/ada"): "GET",
            ("GET", "/echo"): "POST",
        }
        answers = {key: await http.request(*key) for key in wrong}
    for (method, path), response in answers.items():
        expect(
            response.status_code == 405,
            f"A path that exists but not for this method should answer 405, not {response.status_code}.",
        )
        expect(
            response.json() == {"detail": "Method Not Allowed"}, 'A 405 should answer {"detail": "Method Not Allowed"}.'
        )
        allowed = {part.strip() for part in response.headers.get("allow", "").split(",") if part.strip()}
        expect(
            allowed == {wrong[(method, path)]},
            "A 405 answer needs an allow header listing the methods the path does accept.",
        )


ROUTES = [
    ("index", "GET", re.compile(r"/")),
    ("hello", "GET", re.compile(r"/hello/[^/]+")),
    ("echo", "POST", re.compile(r"/echo")),
]


def route_of(request: dict) -> str:
    """The promise a request's answer holds to, by the statement's rules: only to name the
    promise in the feedback (the reference's answer is what the learner's is compared with)."""
    for promise, method, pattern in ROUTES:
        if pattern.fullmatch(request["path"]):
            return promise if request["method"] == method else "method-not-allowed"
    return "not-found"


def promised(seen: dict, request: dict) -> dict:
    """What the statement fixes, under the promise the request falls under: the status, the
    JSON (or, for /echo, the bytes and their content-type), the set of methods in allow; and a
    JSON answer's content-type and right content-length."""
    headers = dict(seen["headers"])
    try:
        payload = json.loads(seen["body"].decode("utf-8"))
    except ValueError:
        payload = seen["body"]
    allow = headers.get("allow")
    answer = {
        "status": seen["status"],
        "body": payload,
        "allow": sorted({part.strip() for part in allow.split(",")}) if allow is not None else None,
    }
    length_right = headers.get("content-length") == str(len(seen["body"]))
    route = route_of(request)
    if route == "echo":  # as echo_app's differential test sees it
        return {
            "echo": {
                **answer,
                "messages": seen["types"],
                "content-type": headers.get("content-type"),
                "content-length right": length_right,
            },
            "raised": seen["raised"],
        }
    return {
        route: answer,
        "raised": seen["raised"],
        "json-headers": {"content-type": headers.get("content-type"), "content-length right": length_right},
    }


# The parts of an observation (``promised``) are named after the promises they hold to.
PROMISED_BY = {
    promise: promise for promise in ("index", "hello", "echo", "not-found", "method-not-allowed", "json-headers")
}
ECHO_REQUESTS = http_requests(
    methods=st.just("POST"), path=st.just("/echo"), pieces=body_pieces(4), disconnect=st.booleans()
)


@graded(NAME, points=2, promises=list(PROMISED_BY), unhappy=True)
async def test_router_app_answers_generated_requests_as_the_table_says(submission, reference):
    """On generated methods and paths (known, unknown, near misses, non-ASCII), each answer follows the route table."""
    await require(submission, NAME)

    async def batch(side, requests):
        seen = await outcomes(side, NAME, requests, submission.limits.call_seconds)
        return [promised(each, request) for each, request in zip(seen, requests, strict=True)]

    requests = (
        http_requests(
            methods=st.sampled_from(["GET", "POST", *METHODS]),
            path=paths(["hello", "echo", "ada", "Hello"]),
            pieces=body_pieces(),
        )
        | ECHO_REQUESTS
    )
    await same_as_reference(submission, reference, NAME, requests, batch=batch, promise=PROMISED_BY)
