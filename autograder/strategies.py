"""Hypothesis strategies for differential tests: generated inputs, as plain data.

Everything drawn here crosses to the sandbox as JSON (see ``autograder.sandbox.protocol``:
bytes are fine), so it is made of dicts, lists, str, bytes, numbers and None. A hidden suite
combines these with ``autograder.suitekit.same_as_reference``; ``exchange`` turns an HTTP
request drawn by ``http_requests`` into a ``coursekit.Trace`` of one side's answer.

The shapes are chosen for what learners get wrong: unknown, percent-encoded and non-ASCII
paths, methods the app does not expect, repeated and mixed-case headers, bodies split into
several messages (some without a ``body`` key), clients that disconnect before the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from coursekit import Trace, drive, http_scope
from coursekit.types import ASGIApp, Message, Scope

if TYPE_CHECKING:
    from .suitekit import Side

# An HTTP request as ``http_requests`` draws it (plain data: it crosses to the sandbox as JSON).
Request = dict[str, Any]

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# Letters a path segment is made of: plain, accented, CJK, an emoji, a space, escapes.
SEGMENT_TEXT = st.lists(
    st.sampled_from([*"abcxyz019-_.~", "\u00e9", "\u00fc", "\u65e5", "\U0001f600", " ", "%20", "%2F", "%C3%A9"]),
    min_size=1,
    max_size=6,
).map("".join)
HEADER_NAMES = st.sampled_from(["x-tag", "X-Tag", "X-TAG", "x-other", "accept", "set-cookie", "Set-Cookie", "x-a"])
HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=8)


def segments(known: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """One path segment: one of ``known`` (the app's own words) or generated text."""
    return st.sampled_from(list(known)) | SEGMENT_TEXT if known else SEGMENT_TEXT


def paths(known: Sequence[str] = (), most: int = 3) -> st.SearchStrategy[str]:
    """A path of 0 to ``most`` segments, sometimes with an empty segment or a trailing slash."""
    parts = st.lists(segments(known) | st.just(""), max_size=most)
    return st.builds(lambda each, slash: "/" + "/".join(each) + ("/" if slash and each else ""), parts, st.booleans())


def header_lists(names: st.SearchStrategy[str] = HEADER_NAMES, most: int = 4) -> st.SearchStrategy[list[list[str]]]:
    """[[name, value], ...] of text, names repeated and in mixed case."""
    return st.lists(st.tuples(names, HEADER_VALUES).map(list), max_size=most)


def body_pieces(most: int = 4) -> st.SearchStrategy[list[bytes | None]]:
    """A body as the pieces of several http.request messages; None stands for a message with no
    ``body`` key."""
    return st.lists(st.none() | st.binary(max_size=6), min_size=1, max_size=most)


def http_requests(
    methods: st.SearchStrategy[str] = st.sampled_from(METHODS),
    path: st.SearchStrategy[str] = paths(),
    headers: st.SearchStrategy[list[list[str]]] = st.just([]),
    pieces: st.SearchStrategy[list[bytes | None]] = st.just([b""]),
    disconnect: st.SearchStrategy[bool] = st.just(False),
) -> st.SearchStrategy[Request]:
    """{"method", "path", "headers", "body": [pieces], "disconnect": whether the client leaves
    before the last piece, "bare_end": whether the last message leaves more_body out}."""
    return st.fixed_dictionaries(
        {
            "method": methods,
            "path": path,
            "headers": headers,
            "body": pieces,
            "disconnect": disconnect,
            "bare_end": st.booleans(),
        }
    )


def messages(request: Request) -> list[Message]:
    """The http.request messages of ``request``: one per piece, the last with more_body false
    (or none at all: it defaults to false), or all with it true and then http.disconnect
    when the client leaves early. A piece None is a message without a ``body`` key."""
    pieces = request["body"]
    sent: list[Message] = []
    for index, piece in enumerate(pieces):
        more = request["disconnect"] or index < len(pieces) - 1
        message: Message = (
            {"type": "http.request"}
            if not more and request.get("bare_end")
            else {"type": "http.request", "more_body": more}
        )
        if piece is not None:
            message["body"] = piece
        sent.append(message)
    return sent + ([{"type": "http.disconnect"}] if request["disconnect"] else [])


def scope_of(request: Request) -> Scope:
    scope = http_scope(request["method"], request["path"], query=request.get("query", ""))
    scope["headers"] = [[name.lower().encode("latin-1"), value.encode("latin-1")] for name, value in request["headers"]]
    if request.get("root_path"):
        scope["root_path"] = request["root_path"]
    return scope


async def exchange(app: ASGIApp, request: Request, timeout: float = 5.0) -> Trace:
    """Send ``request`` to ``app`` as a server would; the ``coursekit.Trace`` of the answer."""
    return await drive(app, scope_of(request), messages(request), timeout=timeout)


async def drives(side: Side, name: str, calls: list[tuple[Scope, list[Message]]], timeout: float) -> list[Trace]:
    """``coursekit.drive(side.asgi(name), scope, incoming, timeout=timeout)`` for every
    ``(scope, incoming)`` of ``calls``, in one request to the side's sandbox
    (``autograder/sandbox/drives.py``): the ``coursekit.Trace`` of each. After a call that ran
    out of time the rest are not made: the list ends with that one's trace."""
    from .submission import defined

    answers = await side.probe(
        "drives.drive_all", defined(name), [[scope, list(incoming)] for scope, incoming in calls], timeout
    )
    return _traces(name, [scope for scope, _ in calls], answers, timeout)


async def wrapped_drives(
    side: Side, name: str, calls: list[tuple[tuple[str, list[Any]], Scope, list[Message]]], timeout: float
) -> list[Trace]:
    """``drives`` for a wrapper ``name`` (a middleware factory): each call is ``((fixture,
    args), scope, incoming)``, and the app driven is ``name(<fixture>(*args))``, made in the
    sandbox for that call alone; ``fixture`` is named as ``autograder.submission.fixture``
    names one ("hello_app" of ``autograder.sandbox.fixtures``, "lesson01.scripted_app" of a
    lesson's probes)."""
    from .submission import defined

    answers = await side.probe(
        "drives.drive_wrapped",
        defined(name),
        [[list(inner), scope, list(incoming)] for inner, scope, incoming in calls],
        timeout,
    )
    return _traces(name, [scope for _, scope, _ in calls], answers, timeout)


def _traces(name: str, scopes: list[Scope], answers: list[Any], timeout: float) -> list[Trace]:
    """The ``coursekit.Trace`` of each call a probe of ``autograder/sandbox/drives.py`` made."""
    from .submission import SubmissionRaised

    traces = []
    for scope, answer in zip(scopes, answers, strict=True):
        trace = Trace(scope)
        trace.events = [(0.0, direction, message) for direction, message in answer["events"]]
        trace.timed_out, trace.timeout = answer["timed_out"], timeout
        trace.exception = SubmissionRaised(name, answer["error"]) if answer["error"] else None
        traces.append(trace)
    return traces


async def outcomes(side: Side, name: str, requests: list[Request], timeout: float) -> list[dict[str, Any]]:
    """``outcome(await exchange(side.asgi(name), request, timeout))`` for every request, sent
    to the side in one batch (``drives``): what a differential test's ``batch`` needs."""
    # Half the call's time limit per request, so that a stuck app is told by its trace
    # (``outcome`` says so) before the batch as a whole runs out of time.
    traces = await drives(side, name, [(scope_of(request), messages(request)) for request in requests], timeout / 2)
    return [outcome(trace) for trace in traces]


def outcome(trace: Trace) -> dict[str, Any]:
    """Everything a trace shows, as plain data: the message types sent, the status, the header
    list (names lower-case, as str), the body, and the type of the exception the app raised
    (None). Code that never returned is not an outcome: it ends the comparison, out of time."""
    if trace.timed_out:
        from .expect import Mistake

        raise Mistake(
            f"Your app did not return within {trace.timeout:g} s on one of the grader's requests. "
            "Does it wait for a message that never comes, or loop forever?",
            out_of_time=True,
        )
    error = getattr(trace.exception, "error", None)
    if isinstance(error, dict) and error.get("type") == "NotImplementedError" and trace.exception is not None:
        raise trace.exception  # not an outcome: the exercise is not solved (see suitekit.observe)
    raised = (
        error.get("type") if isinstance(error, dict) else (type(trace.exception).__name__ if trace.exception else None)
    )
    return {
        "types": [message.get("type") for message in trace.sent],
        "status": trace.status,
        "headers": [[name.lower(), value] for name, value in trace.header_list],
        "body": trace.body,
        "raised": raised,
    }
