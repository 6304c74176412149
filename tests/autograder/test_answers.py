"""What a grading run computes once for its differential tests (``autograder.answers``), and the
differential test that uses it (``suitekit.same_as_reference``) with a batch played in the
sandbox (``strategies.outcomes``, ``autograder/sandbox/drives.py``)."""

import pytest
from hypothesis import strategies as st

from autograder import answers
from autograder.expect import Mistake
from autograder.strategies import body_pieces, http_requests, outcomes
from autograder.submission import Submission, SubmissionRaised
from autograder.suitekit import ReferenceRaisedEverywhere, same_as_reference
from autograder.types import Cell, Limits

pytestmark = pytest.mark.anyio
FAST = Limits(cell_seconds=2, call_seconds=2)

ECHO = """
async def echo(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
"""
FIRST_PIECE_ONLY = ECHO.replace(
    '        if not message.get("more_body", False):\n            break\n', "        break\n"
)


@pytest.fixture(autouse=True)
def nothing_kept():
    answers.share(None)
    answers._memory.clear()
    yield
    answers.share(None)
    answers._memory.clear()


def test_plain_data_compares_across_processes():
    assert answers.plain({"a": (1, 2), "b": {3, 1}}) == {"a": [1, 2], "b": [1, 3]}
    assert answers._storable({"a": [b"x", None, 1.5]})
    assert not answers._storable({"a": float("nan")}) and not answers._storable([object()])


def test_an_entry_written_by_one_worker_is_read_by_another(tmp_path):
    answers.share(str(tmp_path))
    answers.remember("entry", [{"status": 200, "body": b"\x00"}])
    answers._memory.clear()  # another worker: nothing in memory
    assert answers.remembered("entry") == [{"status": 200, "body": b"\x00"}]
    assert answers.remembered("other") is None


def test_inputs_are_drawn_the_same_every_time(tmp_path):
    strategy = st.lists(st.tuples(st.integers(), st.binary()), max_size=3)
    first = answers.drawn("k", strategy, 20)
    answers._memory.clear()
    again = answers.drawn("k", strategy, 20)
    assert first == again and len(first) >= 10
    assert all(isinstance(item, list) for value in first for item in value)  # as the JSON of the run keeps them


def test_every_call_of_a_test_has_an_entry_of_its_own():
    strategy = st.integers()
    assert answers.key("x", strategy, 5) != answers.key("x", strategy, 5)


@pytest.fixture
async def sides():
    started = []

    async def start(*sources: str) -> list[Submission]:
        for source in sources:
            side = await Submission.start(FAST)
            started.append(side)
            await side.load([Cell("c0", source, "exercise")])
        return started

    yield start
    for side in started:
        await side.close()


REQUESTS = http_requests(methods=st.just("POST"), pieces=body_pieces(3))


def batch(side, requests):
    async def seen():
        return [[each["status"], each["body"]] for each in await outcomes(side, "echo", requests, FAST.call_seconds)]

    return seen()


async def test_a_right_answer_passes_and_the_reference_answers_are_kept(sides, tmp_path):
    answers.share(str(tmp_path))
    learner, reference = await sides(ECHO, ECHO)
    await same_as_reference(learner, reference, "echo", REQUESTS, batch=batch, promise="echo the body")
    assert len(list(tmp_path.glob("*.json"))) == 2  # the inputs, and the reference's answers


async def test_a_wrong_answer_is_shown_the_smallest_input_where_it_differs(sides):
    learner, reference = await sides(FIRST_PIECE_ONLY, ECHO)
    with pytest.raises(Mistake) as failed:
        await same_as_reference(learner, reference, "echo", REQUESTS, batch=batch, promise="echo the whole body")
    message = str(failed.value)
    assert "Your `echo` does not do what the task asks" in message and "echo the whole body" in message
    # Shrunk: one empty first message, then one byte; only the body differs.
    assert "'body': [None, b'\\x00'], 'disconnect': False" in message
    assert "yours: {'item 1': b''}" in message and "asks for:      {'item 1': b'\\x00'}" in message


async def test_an_unsolved_exercise_is_reported_as_such(sides):
    learner, reference = await sides("async def echo(scope, receive, send):\n    raise NotImplementedError()", ECHO)
    with pytest.raises(SubmissionRaised) as failed:
        await same_as_reference(learner, reference, "echo", REQUESTS, batch=batch, promise="echo")
    assert failed.value.error["type"] == "NotImplementedError"


async def test_a_reference_that_always_raises_is_a_broken_test(sides):
    learner, reference = await sides(ECHO, "async def echo(scope, receive, send):\n    raise ValueError()")

    async def broken(side, requests):
        raise SubmissionRaised("echo", {"type": "TypeError"})

    with pytest.raises(ReferenceRaisedEverywhere):
        await same_as_reference(learner, reference, "echo", REQUESTS, batch=broken, promise="echo")
