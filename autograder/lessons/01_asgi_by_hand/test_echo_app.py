"""Hidden tests for `echo_app`: reading a body sent in several messages, and disconnects."""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.strategies import body_pieces, header_lists, http_requests, outcomes
from autograder.suitekit import LEAVING_EARLY, body_messages, client, completed, require, same_as_reference
from coursekit import drive, http_scope

pytestmark = pytest.mark.anyio
NAME = "echo_app"


@graded(NAME, points=1, promises=["answer"])
async def test_echoes_a_body(submission):
    """A body sent in one message comes back unchanged, with status 200."""
    await require(submission, NAME)
    async with client(submission.asgi(NAME)) as http:
        response = await http.post("/anything", content=b"hello, echo")
    expect(response.status_code == 200, f"Answer with status 200 (you answered {response.status_code}).")
    expect(response.content == b"hello, echo", "Send back exactly the bytes you received.")


@graded(NAME, points=2, promises=["whole-body"])
async def test_reads_every_chunk(submission):
    """A body that arrives in several http.request messages is echoed whole."""
    await require(submission, NAME)
    trace = await drive(
        submission.asgi(NAME), http_scope("POST", "/"), body_messages(b"first-", b"second-", b"", b"last")
    )
    completed(trace)
    expect(
        trace.body == b"first-second-last",
        "Keep calling receive() while more_body is true and join every chunk; you echoed only part of the body.",
    )
    expect(
        trace.headers.get("content-length") == str(len(trace.body)),
        "content-length must match the echoed body.",
        promises=["answer"],
    )


@graded(NAME, points=1, promises=["answer"])
async def test_headers(submission):
    """content-type is application/octet-stream and content-length is right."""
    await require(submission, NAME)
    trace = await drive(submission.asgi(NAME), http_scope("POST", "/"), body_messages(b"abc"))
    completed(trace)
    expect(
        trace.headers.get("content-type") == "application/octet-stream", "Send content-type: application/octet-stream."
    )
    expect(trace.headers.get("content-length") == "3", "Send content-length with the number of bytes echoed.")


@graded(NAME, points=1, negative=True, promises=["disconnect"], unhappy=True)
async def test_disconnect_before_the_end(submission):
    """When the client disconnects mid-body, or before any of it, the app sends nothing and returns."""
    await require(submission, NAME)
    for incoming in LEAVING_EARLY:
        trace = await drive(submission.asgi(NAME), http_scope("POST", "/"), incoming, timeout=5)
        expect(not trace.timed_out, "After http.disconnect your app kept waiting: return when the client has gone.")
        completed(trace)
        expect(
            trace.sent == [],
            "After an http.disconnect there is nobody to answer: return without sending anything"
            + (
                ". Look at the type of every message receive() gives, the first one too." if len(incoming) == 1 else "."
            ),
        )


def promised(seen: dict, request: dict) -> dict:
    """What the statement fixes: the messages sent, status 200, content-type, a content-length
    that counts the body, the body itself; nothing at all after a disconnect."""
    if request["disconnect"]:
        return {"sent after a disconnect": seen["types"], "raised": seen["raised"]}
    headers = dict(seen["headers"])
    return {
        "messages": seen["types"],
        "status": seen["status"],
        "raised": seen["raised"],
        "content-type": headers.get("content-type"),
        "content-length matches the body": headers.get("content-length") == str(len(seen["body"])),
        "body": seen["body"],
    }


# Which promise each part of an observation (``promised``) holds to.
PROMISED_BY = {
    "sent after a disconnect": "disconnect",
    "messages": "answer",
    "status": "answer",
    "content-type": "answer",
    "content-length matches the body": "answer",
    "body": ["whole-body", "answer"],
}
# A client that leaves before sending anything: no pieces, then http.disconnect.
LEAVES_AT_ONCE = st.fixed_dictionaries(
    {
        "method": st.just("POST"),
        "path": st.just("/"),
        "headers": st.just([]),
        "body": st.just([]),
        "disconnect": st.just(True),
        "bare_end": st.just(False),
    }
)


@graded(NAME, points=2, promises=["whole-body", "answer", "disconnect"], unhappy=True)
async def test_echo_app_answers_generated_requests_as_the_task_says(submission, reference):
    """On generated bodies (several messages, missing keys, early disconnects), the answer is as the task says."""
    await require(submission, NAME)

    async def batch(side, requests):
        seen = await outcomes(side, NAME, requests, submission.limits.call_seconds)
        return [promised(each, request) for each, request in zip(seen, requests, strict=True)]

    requests = http_requests(headers=header_lists(), pieces=body_pieces(5), disconnect=st.booleans()) | LEAVES_AT_ONCE
    await same_as_reference(submission, reference, NAME, requests, batch=batch, promise=PROMISED_BY)
