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
    expect(reply is not None and reply.get("type") == "websocket.accept",
           "Answer websocket.connect with websocket.accept.")
    return talk


@graded(NAME, points=1)
async def test_accepts(submission):
    """websocket.connect is answered with websocket.accept."""
    talk = await connected(submission)
    await talk.close()


@graded(NAME, points=2)
async def test_echoes_text_and_bytes(submission):
    """Text comes back as text and bytes as bytes, in order."""
    talk = await connected(submission)
    try:
        sent = [{"text": "hello"}, {"bytes": b"\x00\x01binary"}, {"text": "z\u00fcrich \U0001F600"}]
        replies = []
        for payload in sent:
            talk.push({"type": "websocket.receive", **payload})
            replies.append(await talk.pull("an echo"))
    finally:
        await talk.close()
    for payload, reply in zip(sent, replies):
        expect(reply is not None and reply.get("type") == "websocket.send", "Echo each message with websocket.send.")
        kind = next(iter(payload))
        expect(reply.get(kind) == payload[kind] and reply.get("text" if kind == "bytes" else "bytes") is None,
               "Echo text as `text` and bytes as `bytes`, unchanged.")


@graded(NAME, points=1)
async def test_close_and_disconnect(submission):
    """"close" ends with websocket.close code 1000; a disconnect ends the call."""
    talk = await connected(submission)
    try:
        talk.push({"type": "websocket.receive", "text": "close"})
        reply = await talk.pull("websocket.close")
        if reply == {"type": "websocket.send", "text": "close"}:  # echoing it first is fine too
            reply = await talk.pull("websocket.close")
        expect(reply is not None and reply.get("type") == "websocket.close" and reply.get("code", 1000) == 1000,
               'On the text "close", send websocket.close with code 1000.')
        expect(await talk.finished(), 'After sending websocket.close, return.')
    finally:
        await talk.close()
    talk = await connected(submission)
    try:
        talk.push({"type": "websocket.disconnect", "code": 1001})
        expect(await talk.finished(), "On websocket.disconnect, return: the client is gone.")
    finally:
        await talk.close()


TEXTS = st.sampled_from(["close", "Close", "close ", "", "hello", "z\u00fcrich \U0001F600"]) | st.text(max_size=5)
CLIENT_MESSAGES = st.lists(st.one_of(st.builds(lambda text: {"text": text}, TEXTS),
                                     st.builds(lambda data: {"bytes": data}, st.binary(max_size=5) | st.just(b"close"))),
                           max_size=5)


def promised(sent: list) -> list:
    """The app's messages as the statement fixes them: None-valued keys dropped, close's code
    1000 when left out, and the optional echo of "close" before websocket.close removed."""
    messages = [{key: value for key, value in message.items() if value is not None} for message in sent]
    for message in messages:
        if message.get("type") == "websocket.close":
            message.setdefault("code", 1000)
    for index in range(len(messages) - 1):
        if messages[index] == {"type": "websocket.send", "text": "close"} and messages[index + 1].get("type") == "websocket.close":
            del messages[index]
            break
    return messages


@graded(NAME, points=2)
async def test_websocket_echo_answers_generated_conversations(submission, reference):
    """Over generated conversations (text, bytes, "close" and look-alikes, a disconnect), the replies are as the task says."""
    await require(submission, NAME)

    async def batch(side, conversations):
        # After the last message the client disconnects: the app must return.
        calls = [(websocket_scope("/ws"), [{"type": "websocket.connect"}] +
                  [{"type": "websocket.receive", **each} for each in received]) for received in conversations]
        traces = await drives(side, NAME, calls, submission.limits.call_seconds / 2)
        return [{"sent": promised(trace.sent), "raised": outcome(trace)["raised"]} for trace in traces]

    await same_as_reference(submission, reference, NAME, CLIENT_MESSAGES, batch=batch,
                            promise="accept the connect, echo each text as text and bytes as bytes, on the text "
                                    "\"close\" (exactly) send websocket.close with code 1000 and return, and return on "
                                    "websocket.disconnect.")
