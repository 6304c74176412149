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

from typing import Any

from hypothesis import strategies as st

from coursekit import drive, http_scope

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# Letters a path segment is made of: plain, accented, CJK, an emoji, a space, escapes.
SEGMENT_TEXT = st.lists(st.sampled_from(list("abcxyz019-_.~") + ["\u00e9", "\u00fc", "\u65e5", "\U0001F600", " ", "%20", "%2F",
                                                                 "%C3%A9"]),
                        min_size=1, max_size=6).map("".join)
HEADER_NAMES = st.sampled_from(["x-tag", "X-Tag", "X-TAG", "x-other", "accept", "set-cookie", "Set-Cookie", "x-a"])
HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=8)


def segments(known: list[str] = ()) -> st.SearchStrategy[str]:
    """One path segment: one of ``known`` (the app's own words) or generated text."""
    return st.sampled_from(list(known)) | SEGMENT_TEXT if known else SEGMENT_TEXT


def paths(known: list[str] = (), most: int = 3) -> st.SearchStrategy[str]:
    """A path of 0 to ``most`` segments, sometimes with an empty segment or a trailing slash."""
    parts = st.lists(segments(known) | st.just(""), max_size=most)
    return st.builds(lambda each, slash: "/" + "/".join(each) + ("/" if slash and each else ""), parts, st.booleans())


def header_lists(names: st.SearchStrategy[str] = HEADER_NAMES, most: int = 4) -> st.SearchStrategy[list]:
    """[[name, value], ...] of text, names repeated and in mixed case."""
    return st.lists(st.tuples(names, HEADER_VALUES).map(list), max_size=most)


def body_pieces(most: int = 4) -> st.SearchStrategy[list]:
    """A body as the pieces of several http.request messages; None stands for a message with no
    ``body`` key."""
    return st.lists(st.none() | st.binary(max_size=6), min_size=1, max_size=most)


def http_requests(methods: st.SearchStrategy[str] = st.sampled_from(METHODS),
                  path: st.SearchStrategy[str] = paths(),
                  headers: st.SearchStrategy[list] = st.just([]),
                  pieces: st.SearchStrategy[list] = st.just([b""]),
                  disconnect: st.SearchStrategy[bool] = st.just(False)) -> st.SearchStrategy[dict]:
    """{"method", "path", "headers", "body": [pieces], "disconnect": whether the client leaves
    before the last piece, "bare_end": whether the last message leaves more_body out}."""
    return st.fixed_dictionaries({"method": methods, "path": path, "headers": headers, "body": pieces,
                                  "disconnect": disconnect, "bare_end": st.booleans()})


def messages(request: dict) -> list[dict]:
    """The http.request messages of ``request``: one per piece, the last with more_body false
    (or none at all: it defaults to false), or all with it true and then http.disconnect
    when the client leaves early. A piece None is a message without a ``body`` key."""
    pieces = request["body"]
    sent = []
    for index, piece in enumerate(pieces):
        more = request["disconnect"] or index < len(pieces) - 1
        message: dict[str, Any] = {"type": "http.request"} if not more and request.get("bare_end") else \
            {"type": "http.request", "more_body": more}
        if piece is not None:
            message["body"] = piece
        sent.append(message)
    return sent + ([{"type": "http.disconnect"}] if request["disconnect"] else [])


def scope_of(request: dict) -> dict:
    scope = http_scope(request["method"], request["path"], query=request.get("query", ""))
    scope["headers"] = [[name.lower().encode("latin-1"), value.encode("latin-1")] for name, value in request["headers"]]
    if request.get("root_path"):
        scope["root_path"] = request["root_path"]
    return scope


async def exchange(app, request: dict, timeout: float = 5.0):
    """Send ``request`` to ``app`` as a server would; the ``coursekit.Trace`` of the answer."""
    return await drive(app, scope_of(request), messages(request), timeout=timeout)


async def drives(side, name: str, calls: list, timeout: float) -> list:
    """``coursekit.drive(side.asgi(name), scope, incoming, timeout=timeout)`` for every
    ``(scope, incoming)`` of ``calls``, in one request to the side's sandbox
    (``autograder/sandbox/drives.py``): the ``coursekit.Trace`` of each. After a call that ran
    out of time the rest are not made: the list ends with that one's trace."""
    from .submission import defined

    answers = await side.probe("drives.drive_all", defined(name), [[scope, list(incoming)] for scope, incoming in calls],
                               timeout)
    return _traces(name, [scope for scope, _ in calls], answers, timeout)


async def wrapped_drives(side, name: str, calls: list, timeout: float) -> list:
    """``drives`` for a wrapper ``name`` (a middleware factory): each call is ``((fixture,
    args), scope, incoming)``, and the app driven is ``name(fixtures.<fixture>(*args))``,
    made in the sandbox for that call alone (``autograder.sandbox.fixtures``)."""
    from .submission import defined

    answers = await side.probe("drives.drive_wrapped", defined(name),
                               [[list(inner), scope, list(incoming)] for inner, scope, incoming in calls], timeout)
    return _traces(name, [scope for _, scope, _ in calls], answers, timeout)


def _traces(name: str, scopes: list, answers: list, timeout: float) -> list:
    """The ``coursekit.Trace`` of each call a probe of ``autograder/sandbox/drives.py`` made."""
    from coursekit import Trace

    from .submission import SubmissionRaised

    traces = []
    for scope, answer in zip(scopes, answers):
        trace = Trace(scope)
        trace.events = [(0.0, direction, message) for direction, message in answer["events"]]
        trace.timed_out, trace.timeout = answer["timed_out"], timeout
        trace.exception = SubmissionRaised(name, answer["error"]) if answer["error"] else None
        traces.append(trace)
    return traces


async def outcomes(side, name: str, requests: list[dict], timeout: float) -> list[dict]:
    """``outcome(await exchange(side.asgi(name), request, timeout))`` for every request, sent
    to the side in one batch (``drives``): what a differential test's ``batch`` needs."""
    # Half the call's time limit per request, so that a stuck app is told by its trace
    # (``outcome`` says so) before the batch as a whole runs out of time.
    traces = await drives(side, name, [(scope_of(request), messages(request)) for request in requests], timeout / 2)
    return [outcome(trace) for trace in traces]


def outcome(trace) -> dict:
    """Everything a trace shows, as plain data: the message types sent, the status, the header
    list (names lower-case, as str), the body, and the type of the exception the app raised
    (None). Code that never returned is not an outcome: it ends the comparison, out of time."""
    if trace.timed_out:
        from .expect import Mistake

        raise Mistake(f"Your app did not return within {trace.timeout:g} s on one of the grader's requests. "
                      "Does it wait for a message that never comes, or loop forever?", out_of_time=True)
    error = getattr(trace.exception, "error", None)
    if isinstance(error, dict) and error.get("type") == "NotImplementedError":
        raise trace.exception  # not an outcome: the exercise is not solved (see suitekit.observe)
    raised = error.get("type") if isinstance(error, dict) else (type(trace.exception).__name__ if trace.exception else None)
    return {"types": [message.get("type") for message in trace.sent], "status": trace.status,
            "headers": [[name.lower(), value] for name, value in trace.header_list], "body": trace.body,
            "raised": raised}


# -- dependency graphs (lesson 03's probes: see autograder/sandbox/lesson03.py) -------------------

NODE_NAMES = ["settings", "db", "cache", "user", "perms", "audit"]


@st.composite
def dependency_graphs(draw, kinds=("sync", "async"), use_cache: bool = False, overrides: bool = False,
                      failures: bool = False) -> dict:
    """A graph description for ``lesson03``'s probes: up to six nodes, each depending on some
    earlier ones (a dependency may be asked for twice, by default or by ``Annotated``), an
    endpoint depending on some of them, one or two requests; a parameter that declares no
    dependency comes first in some signatures. ``use_cache`` adds
    ``use_cache: false`` to some dependencies; ``overrides`` replaces some nodes by earlier
    ones (never a cycle); ``failures`` lets set-ups, teardowns and the endpoint raise."""
    count = draw(st.integers(1, len(NODE_NAMES)))
    errors = st.sampled_from(["ValueError", "KeyError", "RuntimeError"])

    def deps(available: list[str], most: int) -> list[dict]:
        if not available:
            return []
        chosen = draw(st.lists(st.sampled_from(available), max_size=most))
        made = []
        for name in chosen:
            dep = {"on": name, "annotated": draw(st.booleans())}
            if use_cache and draw(st.booleans()):
                dep["use_cache"] = False
            made.append(dep)
        return made

    nodes = []
    for index in range(count):
        node = {"name": NODE_NAMES[index], "kind": draw(st.sampled_from(list(kinds))),
                "deps": deps(NODE_NAMES[:index], 3), "plain": draw(st.integers(0, 1))}
        if failures and draw(st.integers(0, 5)) == 0:
            node["raises"] = draw(errors)
        if failures and node["kind"].endswith("_gen") and draw(st.integers(0, 4)) == 0:
            node["teardown_raises"] = draw(errors)
        nodes.append(node)
    graph = {"nodes": nodes, "endpoint": {"deps": deps(NODE_NAMES[:count], 4), "plain": draw(st.integers(0, 1))},
             "requests": draw(st.integers(1, 2))}
    if failures and draw(st.integers(0, 3)) == 0:
        graph["endpoint"]["raises"] = draw(errors)
    if overrides and count > 1 and draw(st.booleans()):
        replaced = draw(st.lists(st.integers(1, count - 1), max_size=2, unique=True))
        graph["overrides"] = {NODE_NAMES[index]: NODE_NAMES[draw(st.integers(0, index - 1))] for index in replaced}
    return graph


# -- edited JSON documents (lesson 06's models) -----------------------------------------------------
# A valid document with a few keys changed or removed: the shape of most mistakes in a model's
# rules. An edit is ["put", path, value], ["drop", path]; a path is a list of keys and indexes.

def edits(places: list[list], values: st.SearchStrategy, most: int = 3) -> st.SearchStrategy[list]:
    """Up to ``most`` edits, each at one of ``places``: the value put there drawn from ``values``."""
    place = st.sampled_from(places)
    one = st.tuples(st.just("put"), place, values).map(list) | st.tuples(st.just("drop"), place).map(list)
    return st.lists(one, max_size=most)


def edited(document: Any, changes: list) -> Any:
    """A copy of ``document`` with ``changes`` made; an edit whose place is gone is skipped."""
    import copy

    changed = copy.deepcopy(document)
    for change in changes:
        *way, last = change[1]
        target = changed
        try:
            for key in way:
                target = target[key]
            if change[0] == "put":
                target[last] = change[2]
            else:
                del target[last]
        except (KeyError, IndexError, TypeError):
            continue
    return changed


def shown_edits(changes: list, what: str = "a valid document") -> str:
    """The edits in words, long texts shortened: ``what`` with `customer.name` set to '' ..."""
    def value(shown: Any) -> str:
        if isinstance(shown, str) and len(shown) > 20 and len(set(shown)) == 1:
            return f"{shown[0]!r} * {len(shown)}"
        return repr(shown)

    def place(path: list) -> str:
        return ".".join(str(key) for key in path)

    said = [f"`{place(change[1])}` set to {value(change[2])}" if change[0] == "put" else f"`{place(change[1])}` removed"
            for change in changes]
    return what + (" with " + "; ".join(said) if said else ", unchanged")


# -- queue scripts (lesson 05's probe ``lesson05.script``) ---------------------------------------------

TIMES = st.sampled_from([0.0, 1.0, 4.9, 5.0, 5.1, 10.0, 20.0])
JOB_IDS = st.integers(1, 3)
WORKERS = st.sampled_from(["w1", "w2"])


def queue_steps(ops: dict[str, st.SearchStrategy], most: int = 8) -> st.SearchStrategy[list]:
    """Up to ``most`` steps of ``lesson05.script``, each drawn from one of ``ops`` (op name ->
    strategy of its other fields), after one to three jobs are enqueued."""
    enqueue = st.fixed_dictionaries({"op": st.just("enqueue"), "payload": st.just({"n": 1}), "now": TIMES,
                                     "key": st.none() | st.sampled_from(["k1", "k2"])})
    step = st.one_of([fields.map(lambda drawn, op=op: {"op": op, **drawn}) for op, fields in ops.items()])
    return st.builds(lambda first, rest: first + rest, st.lists(enqueue, min_size=1, max_size=3),
                     st.lists(step, max_size=most))


def shown_steps(steps: list) -> str:
    """A queue script as the calls it makes, one per line, numbered like the answers ("item N")."""
    def call(step: dict) -> str:
        op = step["op"]
        if op == "enqueue":
            return f"enqueue(db, 'job', {step['payload']!r}, now={step['now']}, idempotency_key={step['key']!r})"
        if op == "put":
            return f"the job {step['id']} set to " + ", ".join(f"{key}={value!r}" for key, value in step["set"].items())
        if op == "claim":
            return f"claim(db, {step['worker']!r}, {step['now']}, {step['lease']})"
        if op == "ack":
            return f"ack(db, {step['id']}, {step['worker']!r}, {step['result']!r})"
        if op == "fail":
            return (f"fail(db, {step['id']}, {step['worker']!r}, {step['error']!r}, {step['now']}, {step['u']}, "
                    f"max_attempts={step['max_attempts']}, base={step['base']}, cap={step['cap']})")
        if op == "handle":
            return f"handle_once(db, {step['job']!r})"
        if op == "row":
            return f"the row of job {step['id']}"
        return f"the number of rows in {step['table']}"

    return "on a new queue, one connection:\n" + "\n".join(f"      item {index}: {call(step)}"
                                                           for index, step in enumerate(steps))
