"""Hidden tests for `Request` (and its `Headers`): headers, query parameters, body and JSON."""

import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import strategies as st

from autograder import strategies
from autograder.expect import Mistake, expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, same_as_reference
from coursekit import http_scope

pytestmark = pytest.mark.anyio
NAME = "Request"


async def report(submission, scope, messages, steps):
    await require(submission, NAME, kind="class")
    found = await probe(submission, NAME, "lesson02.request_report", defined(NAME), scope, messages, steps)
    unsolved = [result for result in found["results"] if result.get("error") == "NotImplementedError"]
    if unsolved:
        raise Mistake(f"Your `{NAME}` raised NotImplementedError. The exercise is not solved yet.")
    return found


def values(found):
    return [result.get("value", ("raised", result.get("error"))) for result in found["results"]]


def piece(body: bytes, more: bool) -> dict:
    return {"type": "http.request", "body": body, "more_body": more}


@graded(NAME, points=2, promises=["header-case"])
async def test_headers_ignore_case_and_keep_every_value(submission):
    """request.headers looks names up without regard to case and keeps repeated headers."""
    scope = http_scope("POST", "/upload")
    scope["headers"] = [
        [b"content-type", b"application/json"],
        [b"x-tag", b"first"],
        [b"X-Tag", b"second"],
        [b"x-other", b"zzz"],
        [b"x-tag", b"third"],
    ]
    steps = [
        ["headers", "getlist", "X-TAG"],
        ["headers", "getlist", "x-tag"],
        ["headers", "get", "X-Tag"],
        ["headers", "getitem", "Content-Type"],
        ["headers", "contains", "CONTENT-TYPE"],
    ]
    got = values(await report(submission, scope, [piece(b"", False)], steps))
    expect(
        got[0] == ["first", "second", "third"] and got[1] == got[0],
        "headers.getlist(name) should return every value of that header, in order, whatever the case "
        "of the name asked for and of the names in the scope.",
    )
    expect(
        got[2] == "first",
        "headers.get(name) (and headers[name]) should return the first value, "
        "with the name compared case-insensitively.",
    )
    expect(
        got[3] == "application/json" and got[4] is True,
        "headers[name] and `name in headers` must compare names case-insensitively too.",
    )


@graded(NAME, points=1, promises=["header-case", "header-latin1"])
async def test_headers_missing_names_and_latin1_values(submission):
    """A missing header gives None, [] and KeyError; values are decoded as latin-1."""
    scope = http_scope("GET", "/")
    scope["headers"] = [[b"x-city", "Z\u00fcrich".encode("latin-1")]]
    steps = [
        ["headers", "get", "x-missing"],
        ["headers", "getlist", "x-missing"],
        ["headers", "getitem", "x-missing"],
        ["headers", "contains", "x-missing"],
        ["headers", "get", "X-City"],
    ]
    got = values(await report(submission, scope, [piece(b"", False)], steps))
    expect(
        got[4] == "Z\u00fcrich",
        "Decode header names and values from bytes with latin-1 (the HTTP header "
        f"encoding), not UTF-8: a header value that is not UTF-8 gave {got[4]!r}.",
        promises=["header-latin1"],
    )
    expect(
        got[:4] == [None, [], ("raised", "KeyError"), False],
        "For a header that is absent: get gives None, getlist gives [], [] raises KeyError, `in` is False.",
        promises=["header-case"],
    )


@graded(NAME, points=2, promises=["query-params"])
async def test_query_params_are_decoded_and_multi_valued(submission):
    """request.query_params parses the query string: repeated keys, percent-escapes, +, blanks."""
    scope = http_scope("GET", "/search", query="tag=a&tag=b&city=Z%C3%BCrich&phrase=blue+lamp&empty=&tag=c")
    steps = [
        ["query_params", "getlist", "tag"],
        ["query_params", "get", "tag"],
        ["query_params", "get", "city"],
        ["query_params", "get", "phrase"],
        ["query_params", "get", "empty"],
        ["query_params", "contains", "empty"],
        ["query_params", "get", "missing"],
        ["query_params", "contains", "TAG"],
    ]
    got = values(await report(submission, scope, [piece(b"", False)], steps))
    expect(
        got[0] == ["a", "b", "c"], "query_params.getlist(key) should return every value of a repeated key, in order."
    )
    expect(got[1] == "a", "query_params.get(key) should return the first value.")
    expect(
        got[2] == "Z\u00fcrich" and got[3] == "blue lamp",
        "Decode the query string: percent-escapes are UTF-8 bytes, and + stands for a space.",
    )
    expect(got[4] == "" and got[5] is True, 'Keep keys with an empty value (`empty=` gives "").')
    expect(
        got[6] is None and got[7] is False, "Query parameter names are case-sensitive, and a missing one gives None."
    )
    scope = http_scope("GET", "/search", query="a=1&b=2&a=3&B=4")
    got = values(await report(submission, scope, [piece(b"", False)], [["query_params", "items", ""]]))
    expect(
        got[0] == [["a", "1"], ["b", "2"], ["a", "3"], ["B", "4"]],
        "query_params.items() should give every pair in the order of the query string, not grouped by key "
        "(and with the keys as they were written).",
    )


@graded(NAME, points=2, promises=["body"])
async def test_body_joins_every_piece(submission):
    """body() joins every http.request message until more_body is false."""
    messages = [
        piece(b"ab", True),
        {"type": "http.request", "more_body": True},
        piece(b"", True),
        piece(b"\x00\xffcd", False),
    ]
    found = await report(submission, http_scope("POST", "/"), messages, [["body"]])
    expect(
        values(found) == [b"ab\x00\xffcd"],
        "body() should keep calling receive() while more_body is true and join every piece "
        "(a message may have no body key at all).",
    )
    found = await report(
        submission, http_scope("POST", "/"), [piece(b"ab", True), {"type": "http.request", "body": b"cd"}], [["body"]]
    )
    expect(
        values(found) == [b"abcd"] and found["receive_calls"] == 2,
        "A message without more_body is the last one (more_body defaults to false): stop reading there.",
    )


@graded(NAME, points=2, promises=["body-once"], unhappy=True)
async def test_body_is_read_once_and_cached(submission):
    """A second body() returns the same bytes without calling receive() again."""
    messages = [piece(b"one ", True), piece(b"two", False)]
    found = await report(submission, http_scope("POST", "/"), messages, [["body"], ["body"], ["body"]])
    expect(
        values(found) == [b"one two"] * 3,
        "Every call of body() should return the whole body: keep it "
        "after the first read (the messages cannot be received twice).",
    )
    expect(
        found["receive_calls"] == 2,
        "Read the body from receive() once only; later calls of body() should "
        "return the cached bytes without calling receive() again.",
    )
    for messages in ([piece(b"", False)], [piece(b"", True), {"type": "http.request"}]):
        found = await report(submission, http_scope("POST", "/"), messages, [["body"], ["body"], ["body"]])
        expect(
            values(found) == [b""] * 3 and found["receive_calls"] == len(messages),
            'An empty body is read once too: a later body() should return b"" without calling receive() '
            'again (which now has nothing to give but http.disconnect). How does your cache tell "not read '
            'yet" from "read, and empty"?',
        )


@graded(NAME, points=1, promises=["json-once"], unhappy=True)
async def test_json_is_parsed_once(submission):
    """json() parses the body once and returns the same object every time, body() still works."""
    messages = [piece(b'{"name": "lamp", ', True), piece(b'"tags": ["a", "b"]}', False)]
    found = await report(submission, http_scope("POST", "/"), messages, [["json"], ["json"], ["body"]])
    got = values(found)
    expect(got[0] == {"name": "lamp", "tags": ["a", "b"]}, "json() should parse the whole body, every piece of it.")
    expect(
        found["json_same_object"] is True,
        "Keep the parsed value: a second json() should return the very same object, not parse the body again.",
    )
    expect(
        got[2] == b'{"name": "lamp", "tags": ["a", "b"]}' and found["receive_calls"] == 2,
        "After json(), body() should return the bytes it already read, without calling receive() again.",
    )
    for document in (b"{}", b"[]"):
        found = await report(submission, http_scope("POST", "/"), [piece(document, False)], [["json"], ["json"]])
        expect(
            values(found) == [json.loads(document)] * 2 and found["json_same_object"] is True,
            f"For the body {document.decode()}, a second json() should return the very same object too: how "
            'does your cache tell "not parsed yet" from "parsed, and empty"?',
        )


@graded(NAME, points=1, promises=["disconnect"], unhappy=True)
async def test_body_raises_client_disconnect(submission):
    """An http.disconnect before the end of the body (as the first message too) raises ClientDisconnect."""
    for messages in ([piece(b"half", True)], []):
        found = await report(submission, http_scope("POST", "/"), messages, [["body"]])
        expect(
            values(found) == [("raised", "ClientDisconnect")],
            "If receive() returns http.disconnect before the last piece (as its very first message too), body() "
            "should raise ClientDisconnect (and not wait or loop forever).",
        )


# -- generated requests ----------------------------------------------------------------------------
HEADER_NAMES = st.sampled_from(["x-tag", "X-Tag", "X-TAG", "content-type", "Content-Type", "x-city", "x-missing"])
LATIN1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=6)
QUERY_KEYS = st.sampled_from(["tag", "Tag", "city", "q", "empty", "a b", "caf\u00e9", "x+y", "k=v"])
QUERY_VALUES = st.text(st.sampled_from([*"ab1 +&=%/", "é", "日", "😀"]), max_size=5)


def query_string(pairs) -> str:
    """key=value pairs, each encoded in one of the two ways browsers use (spaces as + or %20)."""
    encode = {True: lambda text: quote_plus(text, safe=""), False: lambda text: quote(text, safe="")}
    return "&".join(f"{encode[plus](key)}={encode[plus](value)}" for key, value, plus in pairs)


def split(document: bytes, cuts: list) -> list:
    points = sorted({cut % (len(document) + 1) for cut in cuts})
    return [document[start:end] for start, end in zip([0, *points], [*points, len(document)], strict=True)]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
BODIES = st.one_of(
    st.builds(
        split,
        JSON_VALUES.map(lambda value: json.dumps(value, ensure_ascii=False).encode()),
        st.lists(st.integers(0, 40), max_size=3),
    ),
    st.lists(st.none() | st.binary(max_size=5), min_size=1, max_size=4),
)
LOOKUPS = ["get", "getlist", "getitem", "contains", "items"]
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("headers"), st.sampled_from(LOOKUPS), HEADER_NAMES).map(list),
        st.tuples(st.just("query_params"), st.sampled_from(LOOKUPS), QUERY_KEYS).map(list),
        st.just(["body"]),
        st.just(["json"]),
    ),
    max_size=6,
)
REQUESTS = st.fixed_dictionaries(
    {
        "headers": st.lists(st.tuples(HEADER_NAMES, LATIN1), max_size=5),
        "query": st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES, st.booleans()), max_size=4).map(query_string),
        "pieces": BODIES,
        "complete": st.booleans(),
        "bare_end": st.booleans(),
        "steps": STEPS,
    }
)


def probe_input(request: dict) -> tuple[dict, list, list]:
    """The scope, the messages and the steps for ``lesson02.request_report``. When the client
    leaves before the end, only the first read of the body is specified: later steps are cut."""
    scope = http_scope("POST", "/", query=request["query"])
    scope["headers"] = [[name.encode("latin-1"), value.encode("latin-1")] for name, value in request["headers"]]
    messages = strategies.messages(
        {"body": request["pieces"], "disconnect": not request["complete"], "bare_end": request["bare_end"]}
    )[: len(request["pieces"])]
    steps = list(request["steps"])
    if not request["complete"]:
        reads = [index for index, step in enumerate(steps) if step[0] in ("body", "json")]
        steps = steps[: reads[0] + 1] if reads else steps
    return scope, messages, steps


def by_promise(steps: list, found: dict) -> dict:
    """What ``request_report`` found, under the promises each part depends on: plain data (no
    tuple), the same after a trip through JSON, which the reference's answers may have made."""
    seen = {"headers": [], "query_params": [], "body and json": []}
    for step, result in zip(steps, found["results"], strict=True):
        seen["body and json" if step[0] in ("body", "json") else step[0]].append(result)
    return {**seen, "receive calls": found["receive_calls"], "json() the same object": found["json_same_object"]}


PROMISED_BY = {
    "headers": ["header-case", "header-latin1"],
    "query_params": "query-params",
    "body and json": ["body", "disconnect", "json-once"],
    "receive calls": ["body", "body-once"],
    "json() the same object": "json-once",
}


@graded(
    NAME,
    points=3,
    promises=["header-case", "header-latin1", "query-params", "body", "disconnect", "body-once", "json-once"],
    unhappy=True,
)
async def test_request_answers_generated_requests_as_the_task_says(submission, reference):
    """On generated headers, queries, bodies (clients leaving too) and call sequences, all is as the task says."""

    async def run(side, request):
        scope, messages, steps = probe_input(request)
        return by_promise(steps, await report(side, scope, messages, steps))

    await same_as_reference(submission, reference, NAME, REQUESTS, run, promise=PROMISED_BY)
