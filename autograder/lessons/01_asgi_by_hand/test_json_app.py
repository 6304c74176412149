"""Hidden tests for `json_app`: a raw ASGI app that answers every request with JSON."""

import json

import pytest

from autograder.expect import expect, graded
from autograder.strategies import body_pieces, header_lists, http_requests, outcomes
from autograder.suitekit import client, completed, require, same_as_reference
from coursekit import drive, http_scope

pytestmark = pytest.mark.anyio
NAME = "json_app"


@graded(NAME, points=2, promises=["status-200", "json-body"])
async def test_answers_200_with_method_and_path(submission):
    """A request gets status 200 and a JSON body with its method and path."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        response = await http.get("/reports/2026", params={"page": "2"})
    expect(
        response.status_code == 200,
        f"Answer with status 200 (your app answered {response.status_code}).",
        promises=["status-200"],
    )
    try:
        payload = json.loads(response.content)
    except ValueError:
        payload = None
    expect(
        payload is not None,
        "The body should be JSON: encode the dict with json.dumps, then to bytes.",
        promises=["json-body"],
    )
    expect(
        payload == {"method": "GET", "path": "/reports/2026"},
        'The JSON should be exactly {"method": ..., "path": ...} taken from the scope '
        "(the path without the query string).",
        promises=["json-body"],
    )


@graded(NAME, points=1, promises=["json-body"])
async def test_reports_any_method(submission):
    """The method in the JSON is the request's method, whatever it is."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        methods = {method: (await http.request(method, "/x")).json().get("method") for method in ("POST", "DELETE")}
    expect(all(seen == sent for sent, seen in methods.items()), "Take the method from scope['method'], not a constant.")


@graded(NAME, points=1, promises=["two-headers"])
async def test_content_type_and_length(submission):
    """content-type is application/json and content-length is the body's size."""
    await require(submission, NAME)
    trace = await drive(submission.asgi(NAME), http_scope("GET", "/x"))
    completed(trace)
    expect(
        trace.headers.get("content-type") == "application/json",
        "Send the header content-type: application/json (names are lower-case bytes).",
    )
    expect(
        trace.headers.get("content-length") == str(len(trace.body)),
        "Send content-length with the body's length in bytes, as a bytes value like b'27'.",
    )


@graded(NAME, points=1, promises=["two-headers", "json-body"])
async def test_content_length_counts_bytes(submission):
    """content-length is right for a path with non-ASCII characters, and the path is reported as it is."""
    await require(submission, NAME)
    path = "/caf\u00e9/na\u00efve/\u65e5\u672c"
    trace = await drive(submission.asgi(NAME), http_scope("GET", path))
    completed(trace)
    expect(
        trace.headers.get("content-length") == str(len(trace.body)),
        "content-length must count the bytes of the encoded body, not the characters of a str: "
        "try a path with an accented letter.",
        promises=["two-headers"],
    )
    expect(
        json.loads(trace.body).get("path") == path,
        "The path in the JSON should be the request's path, unchanged: scope['path'], already decoded "
        "(raw_path keeps the percent-escapes a client sent, such as %C3%A9 for \u00e9).",
        promises=["json-body"],
    )


@graded(NAME, points=1, promises=["two-messages"])
async def test_one_start_then_one_body(submission):
    """The response is one http.response.start followed by one http.response.body."""
    await require(submission, NAME)
    trace = await drive(submission.asgi(NAME), http_scope("GET", "/"))
    completed(trace)
    types = [message.get("type") for message in trace.sent]
    expect(
        types == ["http.response.start", "http.response.body"],
        f"Send exactly two messages, http.response.start then http.response.body (you sent {types}).",
    )
    expect(isinstance(trace.sent[1].get("body"), bytes), "The body must be bytes, not str.")
    expect(not trace.sent[1].get("more_body", False), "The only body message must not set more_body.")


@graded(NAME, points=1, promises=["two-headers", "json-body"], unhappy=True)
async def test_every_request_is_answered_alike(submission):
    """The same app answers ten requests in a row, each with exactly its two headers and its own JSON."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        answers = [await http.get(f"/again/{number}") for number in range(10)]
    for number, response in enumerate(answers):
        names = sorted(name for name, _ in response.headers.raw)
        expect(
            names == [b"content-length", b"content-type"],
            f"Request {number + 1} in a row got the headers {[name.decode() for name in names]}: every answer has "
            "exactly two. Build the header list inside the function: a list kept between calls grows.",
            promises=["two-headers"],
        )
        expect(
            response.json() == {"method": "GET", "path": f"/again/{number}"},
            "Each answer reports its own request's method and path, however many came before.",
            promises=["json-body"],
        )


def promised(seen: dict) -> dict:
    """What the task statement fixes about one answer: the messages, the status, exactly two
    headers (content-type's value, content-length right), and the JSON the body decodes to."""
    try:
        payload = json.loads(seen["body"].decode("utf-8"))
    except ValueError:
        payload = "(not UTF-8 JSON)"
    headers = dict(seen["headers"])
    return {
        "messages": seen["types"],
        "status": seen["status"],
        "raised": seen["raised"],
        "header names": sorted(name for name, _ in seen["headers"]),
        "content-type": headers.get("content-type"),
        "content-length matches the body": headers.get("content-length") == str(len(seen["body"])),
        "json": payload,
    }


# Which promise each part of an observation (``promised``) holds to.
PROMISED_BY = {
    "messages": "two-messages",
    "status": "status-200",
    "header names": "two-headers",
    "content-type": "two-headers",
    "content-length matches the body": "two-headers",
    "json": "json-body",
}


@graded(NAME, points=2, promises=["status-200", "json-body", "two-headers", "two-messages"])
async def test_json_app_answers_generated_requests_as_the_task_says(submission, reference):
    """On generated requests (any method, odd and non-ASCII paths, bodies), the answer is as the task says."""
    await require(submission, NAME)

    async def batch(side, requests):
        return [promised(seen) for seen in await outcomes(side, NAME, requests, submission.limits.call_seconds)]

    requests = http_requests(headers=header_lists(), pieces=body_pieces())
    await same_as_reference(submission, reference, NAME, requests, batch=batch, promise=PROMISED_BY)
