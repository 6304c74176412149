"""Hidden tests for `websocket_echo`: the WebSocket message protocol by hand."""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.strategies import drives, outcome
from autograder.suitekit import Conversation, require, same_as_reference
from coursekit import websocket_scope

pytestmark = pytest.mark.anyio
NAME = "websocket_echo"


async def connected(submission) -> Conversation:
    await require(submission, NAME)
    talk = Conversation(submission.asgi(NAME), websocket_scope("/ws"))
    talk.push({"type": "websocket.connect"})
    reply = await talk.pull("websocket.accept")
    expect(
        reply is not None and reply.get("type") == "websocket.accept",
        "Answer websocket.connect with websocket.accept.",
        promises=["accept"],
    )
    return talk


@graded(NAME, points=1, promises=["accept"])
async def test_accepts(submission):
    """websocket.connect is answered with websocket.accept."""
    talk = await connected(submission)
    await talk.close()


@graded(NAME, points=2, promises=["same-kind"])
async def test_echoes_text_and_bytes(submission):
    """Text comes back as text and bytes as bytes, in order, whether the other key is missing or None."""
    talk = await connected(submission)
    try:
        sent = [
            {"text": "hello"},
            {"bytes": b"\x00\x01binary"},
            {"text": "z\u00fcrich \U0001f600"},
            {"bytes": b"with text None", "text": None},
            {"text": "with bytes None", "bytes": None},
        ]
        replies = []
        for payload in sent:
            talk.push({"type": "websocket.receive", **payload})
            replies.append(await talk.pull("an echo"))
    finally:
        await talk.close()
    for payload, reply in zip(sent, replies, strict=True):
        expect(reply is not None and reply.get("type") == "websocket.send", "Echo each message with websocket.send.")
        kind = next(iter(payload))
        expect(
            reply.get(kind) == payload[kind] and reply.get("text" if kind == "bytes" else "bytes") is None,
            "Echo text as `text` and bytes as `bytes`, unchanged"
            + (
                ". A message may carry the other key set to None: which of the two keys is not None?"
                if len(payload) == 2
                else "."
            ),
        )


@graded(NAME, points=1, promises=["close", "disconnect"], unhappy=True)
async def test_close_and_disconnect(submission):
    """ "close" ends with websocket.close code 1000; a disconnect ends the call."""
    talk = await connected(submission)
    try:
        talk.push({"type": "websocket.receive", "text": "close"})
        reply = await talk.pull("websocket.close")
        if reply == {"type": "websocket.send", "text": "close"}:  # echoing it first is fine too
            reply = await talk.pull("websocket.close")
        expect(
            reply is not None and reply.get("type") == "websocket.close" and reply.get("code", 1000) == 1000,
            'On the text "close", send websocket.close with code 1000.',
            promises=["close"],
        )
        expect(await talk.finished(), "After sending websocket.close, return.", promises=["close"])
    finally:
        await talk.close()
    talk = await connected(submission)
    try:
        talk.push({"type": "websocket.disconnect", "code": 1001})
        expect(await talk.finished(), "On websocket.disconnect, return: the client is gone.", promises=["disconnect"])
    finally:
        await talk.close()


TEXTS = st.sampled_from(["close", "Close", "close ", "", "hello", "z\u00fcrich \U0001f600"]) | st.text(max_size=5)
# A message of one kind may carry the other key too, set to None (ASGI allows both keys).
TEXT_MESSAGES = st.builds(lambda text, both: {"text": text, **({"bytes": None} if both else {})}, TEXTS, st.booleans())
BYTES_MESSAGES = st.builds(
    lambda data, both: {"bytes": data, **({"text": None} if both else {})},
    st.binary(max_size=5) | st.just(b"close"),
    st.booleans(),
)
CLIENT_MESSAGES = st.lists(TEXT_MESSAGES | BYTES_MESSAGES, max_size=5)


def promised(sent: list) -> dict:
    """The app's messages as the statement fixes them (None-valued keys dropped, close's code
    1000 when left out, the optional echo of "close" before websocket.close removed), by the
    promise each part holds to: the accept, the echoes, and the close with what follows it."""
    messages = [{key: value for key, value in message.items() if value is not None} for message in sent]
    for message in messages:
        if message.get("type") == "websocket.close":
            message.setdefault("code", 1000)
    for index in range(len(messages) - 1):
        if (
            messages[index] == {"type": "websocket.send", "text": "close"}
            and messages[index + 1].get("type") == "websocket.close"
        ):
            del messages[index]
            break
    closed = next(
        (index for index, message in enumerate(messages) if message.get("type") == "websocket.close"), len(messages)
    )
    return {"accept": messages[:1], "echoes": messages[1:closed], "close and after": messages[closed:]}


@graded(NAME, points=2, promises=["accept", "same-kind", "close", "disconnect"], unhappy=True)
async def test_websocket_echo_answers_generated_conversations(submission, reference):
    """Over generated conversations (text, bytes, "close" and look-alikes, a disconnect), the replies are as the task
    says."""
    await require(submission, NAME)

    async def batch(side, conversations):
        # After the last message the client disconnects: the app must return.
        calls = [
            (
                websocket_scope("/ws"),
                [{"type": "websocket.connect"}] + [{"type": "websocket.receive", **each} for each in received],
            )
            for received in conversations
        ]
        traces = await drives(side, NAME, calls, submission.limits.call_seconds / 2)
        return [{**promised(trace.sent), "raised": outcome(trace)["raised"]} for trace in traces]

    await same_as_reference(
        submission,
        reference,
        NAME,
        CLIENT_MESSAGES,
        batch=batch,
        promise={"accept": "accept", "echoes": "same-kind", "close and after": "close"},
    )
