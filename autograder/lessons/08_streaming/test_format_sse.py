"""Hidden tests for `format_sse`: one server-sent event block, as text.

The learner's function is called in the sandbox on a list of cases at once
(``lesson08.format_calls``); the expected texts below are the wire format's, written out.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, raised_as_type, require, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "format_sse"


async def calls(side, cases: list[dict]) -> list:
    await require(side, NAME, kind="function")
    return await probe(side, NAME, "lesson08.format_calls", defined(NAME), cases)


def case(data=None, **fields) -> dict:
    return {"data": data, "fields": fields}


def shown(one: dict) -> str:
    arguments = [repr(one["data"])] + [f"{key}={value!r}" for key, value in one["fields"].items()]
    return f"format_sse({', '.join(arguments)})"


async def expect_texts(submission, pairs: list[tuple[dict, str]], feedback: str) -> None:
    got = await calls(submission, [one for one, _ in pairs])
    for (one, want), mine in zip(pairs, got, strict=True):
        if isinstance(mine, dict) and mine.get("raised", "").startswith("NotImplementedError"):
            expect(False, "Your `format_sse` raised NotImplementedError. The exercise is not solved yet.")
        expect(mine == want, f"{feedback} {shown(one)} gave {mine!r}, not {want!r}.")


@graded(NAME, points=1, promises=["field-lines", "blank-line"])
async def test_fields_in_order_and_a_blank_line(submission):
    """Each given field is a `name: value` line, in the order comment, event, data, id, retry, then a blank line."""
    await expect_texts(
        submission,
        [
            (case("hello"), "data: hello\n\n"),
            (case(id="9"), "id: 9\n\n"),
            (case(retry=2500), "retry: 2500\n\n"),
            (case(comment="ping"), ": ping\n\n"),
            (case("d", id="7", event="tick", retry=0, comment="c"), ": c\nevent: tick\ndata: d\nid: 7\nretry: 0\n\n"),
            (case("x", event="update"), "event: update\ndata: x\n\n"),
            (case("", id=""), "data: \nid: \n\n"),
        ],
        "Each field is one `name: value` line (comment as `: text`), in the order comment, event, data, id, retry, "
        "and the block ends with a blank line:",
    )


@graded(NAME, points=1, promises=["split-lines"])
async def test_data_and_comment_lines_are_split_at_line_breaks(submission):
    """data and comment get one line each per line of text, at \\r\\n, \\r and \\n only, empty lines kept."""
    await expect_texts(
        submission,
        [
            (case("a\nb"), "data: a\ndata: b\n\n"),
            (case("a\r\nb\rc"), "data: a\ndata: b\ndata: c\n\n"),
            (case("a\n"), "data: a\ndata: \n\n"),
            (case("\n\n"), "data: \ndata: \ndata: \n\n"),
            (case("x\u2028y\x0bz\x1cw"), "data: x\u2028y\x0bz\x1cw\n\n"),
            (case(comment="one\ntwo"), ": one\n: two\n\n"),
            (case("p\r\n", comment="q\r"), ": q\n: \ndata: p\ndata: \n\n"),
        ],
        "data and comment are split at every \\r\\n, \\r and \\n, and nowhere else (not at the other characters "
        "str.splitlines() splits at), into one line each, empty ones included:",
    )


@graded(NAME, points=1, promises=["rejects-bad-fields"], unhappy=True)
async def test_refuses_what_would_break_the_stream(submission):
    """ValueError for a line break in id or event, NUL in id, a retry that is not a non-negative int."""
    bad = [
        case("x", id="1\n2"),
        case("x", id="1\r2"),
        case("x", event="a\nb"),
        case("x", event="a\r"),
        case("x", id="a\x00b"),
        case(retry=-1),
        case(retry=True),
        case(retry=False),
        case(retry=1.5),
        case(retry="100"),
    ]
    good = [case("x", id="a b:c"), case("x", event="e\x00"), case(retry=0), case("x", id="\u2028")]
    got = raised_as_type(await calls(submission, bad + good))
    for one, mine in zip(bad, got[: len(bad)], strict=True):
        expect(
            mine == {"raised": "ValueError"},
            f"{shown(one)} should raise ValueError (a field a browser would "
            f"misread, or a retry that is not a non-negative int); it gave {mine!r}.",
        )
    for one, mine in zip(good, got[len(bad) :], strict=True):
        expect(isinstance(mine, str), f"{shown(one)} is a valid block and should not raise; it gave {mine!r}.")


TEXT = st.lists(
    st.sampled_from(["a", "b", " ", ":", "\n", "\r", "\r\n", "é", "\u2028", "\x0b", "\x85", "data: ", "\x00"]),
    max_size=8,
).map("".join)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": TEXT,
        "event": TEXT,
        "comment": TEXT,
        "retry": st.one_of(st.integers(-3, 5000), st.booleans(), st.just(1.0), st.just("7"), st.none()),
    },
)
CASES = st.builds(lambda data, fields: {"data": data, "fields": fields}, st.none() | TEXT, FIELDS)


@graded(NAME, points=1.5, promises=["field-lines", "split-lines", "blank-line", "rejects-bad-fields"])
async def test_generated_fields_as_the_task_says(submission, reference):
    """On generated fields (line breaks of every kind, NUL, odd retries), the block or the ValueError is as the task
    says."""
    await require(submission, NAME, kind="function")

    async def batch(side, cases):
        return raised_as_type(await probe(side, NAME, "lesson08.format_calls", defined(NAME), cases))

    await same_as_reference(
        submission,
        reference,
        NAME,
        CASES,
        batch=batch,
        show=shown,
        promise="each given field is one `name: value` line, in the order comment (`: text`), "
        "event, data, id, retry; data and comment are split at \\r\\n, \\r and \\n only; a "
        "blank line ends the block; ValueError for a line break in id or event, NUL in id, "
        "or a retry that is not a non-negative int.",
    )
