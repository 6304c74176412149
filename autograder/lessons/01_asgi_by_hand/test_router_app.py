"""Hidden tests for `router_app`: dispatch on path and method, 404, and 405 with allow."""

import json

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.strategies import METHODS, body_pieces, http_requests, outcomes, paths
from autograder.suitekit import client, require, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "router_app"


def is_json(response) -> bool:
    return (response.headers.get("content-type") == "application/json"
            and response.headers.get("content-length") == str(len(response.content)))


@graded(NAME, points=1)
async def test_index(submission):
    """GET / answers 200 with {"message": "index"}."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        response = await http.get("/")
    expect(response.status_code == 200, f"GET / should answer 200 (you answered {response.status_code}).")
    expect(response.content and response.json() == {"message": "index"}, 'GET / should answer {"message": "index"}.')
    expect(is_json(response), "Every JSON answer needs content-type: application/json and a correct content-length.")


@graded(NAME, points=1)
async def test_hello_takes_the_name_from_the_path(submission):
    """GET /hello/{name} answers {"hello": name} for any one-segment name."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        answers = {name: await http.get(f"/hello/{name}") for name in ("ada", "Grace_Hopper", "z\u00fcrich")}
    for name, response in answers.items():
        expect(response.status_code == 200, f"GET /hello/<name> should answer 200 (you answered {response.status_code}).")
        expect(response.json() == {"hello": name}, "GET /hello/<name> should answer {\"hello\": <name>}, "
               "with the name exactly as in scope['path'].")


@graded(NAME, points=1)
async def test_echo_route(submission):
    """POST /echo sends the request body back."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        response = await http.post("/echo", content=b"ping")
    expect(response.status_code == 200 and response.content == b"ping", "POST /echo should behave like echo_app.")


@graded(NAME, points=1)
async def test_unknown_paths_are_404(submission):
    """Paths that match no route answer 404 with {"detail": "Not Found"}."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        answers = [await http.get(path) for path in ("/nope", "/hello/", "/hello/a/b", "/echo/more")]
    for response in answers:
        expect(response.status_code == 404,
               "A path that matches no route should answer 404. Does /hello/{name} accept an empty name, "
               "or more than one path segment?")
        expect(response.json() == {"detail": "Not Found"}, 'A 404 should answer {"detail": "Not Found"}.')
        expect(is_json(response), "The 404 answer is JSON too: content-type and content-length.")


@graded(NAME, points=2)
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
        expect(response.status_code == 405,
               f"A path that exists but not for this method should answer 405, not {response.status_code}.")
        expect(response.json() == {"detail": "Method Not Allowed"}, 'A 405 should answer {"detail": "Method Not Allowed"}.')
        allowed = {part.strip() for part in response.headers.get("allow", "").split(",") if part.strip()}
        expect(allowed == {wrong[(method, path)]},
               "A 405 answer needs an allow header listing the methods the path does accept.")


def promised(seen: dict) -> dict:
    """What the route table fixes: the status, the JSON (or, for /echo, the bytes), the
    content-type, a right content-length, and the set of methods in allow."""
    headers = dict(seen["headers"])
    try:
        payload = json.loads(seen["body"].decode("utf-8"))
    except ValueError:
        payload = seen["body"]
    allow = headers.get("allow")
    return {"status": seen["status"], "raised": seen["raised"], "content-type": headers.get("content-type"),
            "content-length matches the body": headers.get("content-length") == str(len(seen["body"])),
            "body": payload,
            "allow": sorted({part.strip() for part in allow.split(",")}) if allow is not None else None}


@graded(NAME, points=2)
async def test_router_app_answers_generated_requests_as_the_table_says(submission, reference):
    """On generated methods and paths (known, unknown, near misses, non-ASCII), each answer follows the route table."""
    await require(submission, NAME)

    async def batch(side, requests):
        return [promised(seen) for seen in await outcomes(side, NAME, requests, submission.limits.call_seconds)]

    requests = http_requests(methods=st.sampled_from(["GET", "POST", *METHODS]),
                             path=paths(["hello", "echo", "ada", "Hello"]), pieces=body_pieces())
    await same_as_reference(submission, reference, NAME, requests, batch=batch,
                            promise="GET / and GET /hello/{name} (one non-empty segment) answer 200 JSON, POST /echo "
                                    "echoes the body; a path matching no route is 404 {\"detail\": \"Not Found\"}, "
                                    "a known path with another method 405 {\"detail\": \"Method Not Allowed\"} with "
                                    "allow listing its methods; every JSON answer has content-type application/json "
                                    "and a right content-length.")
