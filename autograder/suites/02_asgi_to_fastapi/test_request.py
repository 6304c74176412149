"""Hidden tests for `Request` (and its `Headers`): headers, query parameters, body and JSON."""

import pytest

from autograder.expect import Mistake, expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require
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


@graded(NAME, points=2)
async def test_headers_ignore_case_and_keep_every_value(submission):
    """request.headers looks names up without regard to case and keeps repeated headers."""
    scope = http_scope("POST", "/upload")
    scope["headers"] = [[b"content-type", b"application/json"], [b"x-tag", b"first"],
                        [b"X-Tag", b"second"], [b"x-other", b"zzz"], [b"x-tag", b"third"]]
    steps = [["headers", "getlist", "X-TAG"], ["headers", "getlist", "x-tag"], ["headers", "get", "X-Tag"],
             ["headers", "getitem", "Content-Type"], ["headers", "contains", "CONTENT-TYPE"]]
    got = values(await report(submission, scope, [piece(b"", False)], steps))
    expect(got[0] == ["first", "second", "third"] and got[1] == got[0],
           "headers.getlist(name) should return every value of that header, in order, whatever the case "
           "of the name asked for and of the names in the scope.")
    expect(got[2] == "first", "headers.get(name) (and headers[name]) should return the first value, "
                              "with the name compared case-insensitively.")
    expect(got[3] == "application/json" and got[4] is True,
           "headers[name] and `name in headers` must compare names case-insensitively too.")


@graded(NAME, points=1)
async def test_headers_missing_names_and_latin1_values(submission):
    """A missing header gives None, [] and KeyError; values are decoded as latin-1."""
    scope = http_scope("GET", "/")
    scope["headers"] = [[b"x-city", "Z\u00fcrich".encode("latin-1")]]
    steps = [["headers", "get", "x-missing"], ["headers", "getlist", "x-missing"],
             ["headers", "getitem", "x-missing"], ["headers", "contains", "x-missing"], ["headers", "get", "X-City"]]
    got = values(await report(submission, scope, [piece(b"", False)], steps))
    expect(got[:4] == [None, [], ("raised", "KeyError"), False],
           "For a header that is absent: get gives None, getlist gives [], [] raises KeyError, `in` is False.")
    expect(got[4] == "Z\u00fcrich", "Decode header names and values from bytes with latin-1 (the HTTP header "
                                    "encoding), not UTF-8.")


@graded(NAME, points=2)
async def test_query_params_are_decoded_and_multi_valued(submission):
    """request.query_params parses the query string: repeated keys, percent-escapes, +, blanks."""
    scope = http_scope("GET", "/search", query="tag=a&tag=b&city=Z%C3%BCrich&phrase=blue+lamp&empty=&tag=c")
    steps = [["query_params", "getlist", "tag"], ["query_params", "get", "tag"], ["query_params", "get", "city"],
             ["query_params", "get", "phrase"], ["query_params", "get", "empty"], ["query_params", "contains", "empty"],
             ["query_params", "get", "missing"], ["query_params", "contains", "TAG"]]
    got = values(await report(submission, scope, [piece(b"", False)], steps))
    expect(got[0] == ["a", "b", "c"], "query_params.getlist(key) should return every value of a repeated "
                                      "key, in order.")
    expect(got[1] == "a", "query_params.get(key) should return the first value.")
    expect(got[2] == "Z\u00fcrich" and got[3] == "blue lamp",
           "Decode the query string: percent-escapes are UTF-8 bytes, and + stands for a space.")
    expect(got[4] == "" and got[5] is True, "Keep keys with an empty value (`empty=` gives \"\").")
    expect(got[6] is None and got[7] is False, "Query parameter names are case-sensitive, and a missing one gives None.")


@graded(NAME, points=2)
async def test_body_joins_every_piece(submission):
    """body() joins every http.request message until more_body is false."""
    messages = [piece(b"ab", True), {"type": "http.request", "more_body": True}, piece(b"", True),
                piece(b"\x00\xffcd", False)]
    found = await report(submission, http_scope("POST", "/"), messages, [["body"]])
    expect(values(found) == [b"ab\x00\xffcd"],
           "body() should keep calling receive() while more_body is true and join every piece "
           "(a message may have no body key at all).")


@graded(NAME, points=2)
async def test_body_is_read_once_and_cached(submission):
    """A second body() returns the same bytes without calling receive() again."""
    messages = [piece(b"one ", True), piece(b"two", False)]
    found = await report(submission, http_scope("POST", "/"), messages, [["body"], ["body"], ["body"]])
    expect(values(found) == [b"one two"] * 3, "Every call of body() should return the whole body: keep it "
                                             "after the first read (the messages cannot be received twice).")
    expect(found["receive_calls"] == 2, "Read the body from receive() once only; later calls of body() should "
                                        "return the cached bytes without calling receive() again.")


@graded(NAME, points=1)
async def test_json_is_parsed_once(submission):
    """json() parses the body once and returns the same object every time, body() still works."""
    messages = [piece(b'{"name": "lamp", ', True), piece(b'"tags": ["a", "b"]}', False)]
    found = await report(submission, http_scope("POST", "/"), messages, [["json"], ["json"], ["body"]])
    got = values(found)
    expect(got[0] == {"name": "lamp", "tags": ["a", "b"]}, "json() should parse the whole body, every piece of it.")
    expect(found["json_same_object"] is True, "Keep the parsed value: a second json() should return the very same "
                                               "object, not parse the body again.")
    expect(got[2] == b'{"name": "lamp", "tags": ["a", "b"]}' and found["receive_calls"] == 2,
           "After json(), body() should return the bytes it already read, without calling receive() again.")


@graded(NAME, points=1)
async def test_body_raises_client_disconnect(submission):
    """An http.disconnect before the end of the body raises ClientDisconnect."""
    found = await report(submission, http_scope("POST", "/"), [piece(b"half", True)], [["body"]])
    expect(values(found) == [("raised", "ClientDisconnect")],
           "If receive() returns http.disconnect before the last piece, body() should raise ClientDisconnect "
           "(and not wait or loop forever).")
