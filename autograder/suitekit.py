"""Helpers for hidden suites: talking to a learner's app that lives in the sandbox.

Tests get the app as ``submission.asgi(name)``, an ordinary ASGI callable, and use the same
tools a learner would (``httpx.ASGITransport``, ``coursekit.drive``). ``Conversation`` adds
what those lack: a back-and-forth where the test decides each next message after seeing the
app's last one (lifespan, WebSocket).

``same_as_reference`` is the differential test: the learner's answer and the reference
solution (the ``reference`` fixture, same API as ``submission``) run on inputs drawn from a
Hypothesis strategy, and what the task statement promises is compared.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from hypothesis import find, settings
from hypothesis.errors import NoSuchExample, Unsatisfiable
from hypothesis.strategies import SearchStrategy

from coursekit.asgi import Trace, lifespan_must_start
from coursekit.types import ASGIApp, Message, Scope

from . import answers
from .errors import GraderFault
from .expect import Mistake, expect
from .sandbox.protocol import Document
from .submission import Submission, SubmissionCrashed, SubmissionError, SubmissionRaised, SubmissionTimedOut

REPLY_SECONDS = 5.0


class Side(Protocol):
    """One side of a differential test: the learner's ``submission`` (``Submission``) or the
    ``reference`` (``autograder.reference.Lazy``), which share this API."""

    async def describe(self, name: str) -> Document: ...
    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any: ...
    async def probe(self, reference: str, *args: Any, **kwargs: Any) -> Any: ...
    async def make(self, factory: str, *args: Any, **kwargs: Any) -> str: ...
    def asgi(self, name: str, label: str | None = None) -> ASGIApp: ...


# How a differential test sees one side: on one input, or on all of them in one exchange with
# the sandbox (``same_as_reference``).
Run = Callable[[Side, Any], Awaitable[Any]]
Batch = Callable[[Side, list[Any]], Awaitable[list[Any]]]


async def require(submission: Submission, name: str, kind: str | tuple[str, ...] = "async function") -> None:
    """Fail with a clear message unless the learner's cells define ``name`` as ``kind`` (or one
    of the kinds: a factory the statement only calls may be a function or a class)."""
    found = await submission.describe(name)
    if not found["defined"]:
        raise Mistake(
            f"`{name}` is not defined after running your exercise cells. Check the cell still defines "
            f"it under exactly this name, and that the cell runs without an error."
        )
    kinds = (kind,) if isinstance(kind, str) else kind
    if found["kind"] not in kinds:
        wanted = " or ".join(f"{'an' if each[0] in 'aeiou' else 'a'} {each}" for each in kinds)
        raise Mistake(f"`{name}` should be {wanted}, but it is a {found['kind']} (signature {found['signature']}).")


@asynccontextmanager
async def client(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@asynccontextmanager
async def lifespan(app: ASGIApp, what: str = "Your app") -> AsyncIterator[Any]:
    """``app``'s lifespan run as a test client runs it (asgi_lifespan's ``LifespanManager``),
    yielding the manager. An app whose lifespan call returns without starting up (an answer
    that does nothing) fails at once with a ``Mistake`` naming ``what``, rather than after the
    manager's time-out: a server would go on without the lifespan, which the task asks for."""
    from asgi_lifespan import LifespanManager, LifespanNotSupported

    def failed() -> Mistake:
        return Mistake(f"{what} returned from its lifespan without starting up (no lifespan.startup.complete).")

    try:
        async with LifespanManager(lifespan_must_start(app, failed), startup_timeout=5, shutdown_timeout=5) as manager:
            yield manager
    except LifespanNotSupported as exc:
        raise (exc.__cause__ if isinstance(exc.__cause__, Mistake) else exc) from None


class Conversation:
    """Run one ASGI call in the background and exchange messages with it step by step."""

    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        self.task = asyncio.ensure_future(app(scope, self.inbox.get, self._send))

    async def _send(self, message: Message) -> None:
        await self.outbox.put(message)

    def push(self, message: Message) -> None:
        self.inbox.put_nowait(message)

    async def pull(self, waiting_for: str) -> Message | None:
        """The app's next message, or None if the app returned without sending one."""
        getter = asyncio.ensure_future(self.outbox.get())
        done, _ = await asyncio.wait({getter, self.task}, timeout=REPLY_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        if self.task in done:
            self.task.result()  # re-raise the app's exception, if it raised
            return None
        raise Mistake(
            f"Your app sent nothing within {REPLY_SECONDS:g} s while the grader waited for {waiting_for}.",
            out_of_time=True,
        )

    async def finished(self, seconds: float = REPLY_SECONDS) -> bool:
        """Whether the app's call returned (or raised) within ``seconds``."""
        done, _ = await asyncio.wait({self.task}, timeout=seconds)
        return bool(done)

    async def close(self) -> None:
        if not self.task.done():
            self.task.cancel()
        # Waited for, but not for ever: a cancellation can be lost (see ``submission._next_within``).
        await asyncio.wait({self.task}, timeout=REPLY_SECONDS)
        if self.task.done() and not self.task.cancelled():
            self.task.exception()  # its outcome was read already, or is moot: marked as retrieved


def body_messages(*parts: bytes) -> list[Message]:
    """A request body as a server hands it to an app: one http.request message per part,
    more_body true on all but the last."""
    return [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1} for i, part in enumerate(parts)]


# Clients that leave before their body is complete: after part of it, and before any of it.
LEAVING_EARLY = (
    [{"type": "http.request", "body": b"partial", "more_body": True}, {"type": "http.disconnect"}],
    [{"type": "http.disconnect"}],
)


def completed(trace: Trace) -> None:
    """Fail with the learner's own error when a ``coursekit.drive`` trace did not end cleanly."""
    if trace.timed_out:
        raise Mistake(
            f"Your app did not return within {trace.timeout:g} s. Does it wait for a message that "
            "never comes, or loop forever?",
            out_of_time=True,
        )
    if isinstance(trace.exception, SubmissionError):
        raise Mistake(str(trace.exception))
    if trace.exception is not None:
        raise Mistake(f"Talking to your app failed: {type(trace.exception).__name__}: {trace.exception}")


def as_json(answer: httpx.Response | Trace) -> dict[str, Any]:
    """The JSON object in the body of an httpx response or a coursekit Trace; {} otherwise."""
    try:
        value = answer.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def probe(submission: Submission, exercise: str, reference: str, *args: Any, **kwargs: Any) -> Any:
    """``submission.probe``, with the learner's errors, time-outs and crashes reported as the
    exercise's own: the feedback names the learner's code, never the probe that ran it."""
    try:
        return await submission.probe(reference, *args, **kwargs)
    except SubmissionRaised as exc:
        raise SubmissionRaised(exercise, exc.error) from None
    except SubmissionTimedOut as exc:
        raise SubmissionTimedOut(exercise, exc.seconds) from None
    except SubmissionCrashed as exc:
        raise SubmissionCrashed(exercise, exc.status, exc.site) from None


async def probe_in_background(
    submission: Submission, exercise: str, start: str, *args: Any, outcome: str, seconds: float
) -> Any:
    """A probe that takes longer than one call to the sandbox may (``Limits.call_seconds``: a
    real server started, signalled and watched, on a busy machine): ``start``, a probe of the
    lesson, begins it in a thread of the sandbox with ``args`` and returns its id at once (the
    learner's code it calls first raises there, as from ``probe``); ``outcome(id, wait)``,
    another, waits up to ``wait`` seconds and answers ``{"done": false}``, or once it has ended
    ``{"done": true, "value": ...}`` (``"failed"`` instead: the probe itself raised, a grader
    fault). Asked again until then; after ``seconds`` in all, the exercise did not answer in time."""
    run = await probe(submission, exercise, start, *args)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = await probe(submission, exercise, outcome, run, submission.limits.call_seconds / 2)
        if answer["done"] and "failed" in answer:
            raise GraderFault(f"the probe {start} failed in the sandbox: {answer['failed']}")
        if answer["done"]:
            return answer["value"]
    raise SubmissionTimedOut(exercise, seconds)


async def make(submission: Submission, exercise: str, factory: str, *args: Any, **kwargs: Any) -> str:
    """``submission.make``, with the learner's errors reported as the exercise's own."""
    try:
        return await submission.make(factory, *args, **kwargs)
    except SubmissionRaised as exc:
        raise SubmissionRaised(exercise, exc.error) from None


def error_list(outcome: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """A validation outcome reported by a probe, ``{"ok": False, "errors": [{"loc", "type"}]}``,
    as sorted ``(loc, type)`` pairs ([] when validation succeeded): comparable as plain data."""
    if outcome.get("ok"):
        return []
    return sorted((tuple(error["loc"]), error["type"]) for error in outcome["errors"])


def raised_as_type(replies: list[Any]) -> list[Any]:
    """A probe's answers with each ``{"raised": "Type: message"}`` cut to its type: which
    exception is part of the behaviour, its message is left open."""
    return [
        {"raised": reply["raised"].split(":", 1)[0]} if isinstance(reply, dict) and set(reply) == {"raised"} else reply
        for reply in replies
    ]


def probe_batch(reference: str, *args: Any, each: Callable[[Any], Any] = lambda answer: answer) -> Batch:
    """A differential test's ``batch`` made of one call of the probe ``reference``: with
    ``args``, then the list of inputs; ``each`` of its answers is what is compared."""

    async def batch(side: Side, values: list[Any]) -> list[Any]:
        return [each(answer) for answer in await side.probe(reference, *args, values)]

    return batch


def judged(outcome: dict[str, Any]) -> dict[str, Any]:
    """A validation outcome as a differential test compares it: valid or not; if valid, the
    class and the JSON-mode dump; if not, the errors' locs and types (their messages are open)."""
    if outcome.get("ok"):
        return {"valid": True, "class": outcome.get("class"), "dump": outcome.get("data")}
    return {"valid": False, "errors": error_list(outcome)}


def expect_errors(
    outcomes: list[dict[str, Any]],
    expected: list[list[tuple[Any, ...]]],
    feedback: str,
    *,
    promises: Sequence[str] = (),
) -> None:
    """Each probe outcome must fail with exactly the expected ``(loc, type)`` errors (in any
    order; ``[]`` means it must succeed). ``promises``: the ones a difference breaks, where the
    test names several (``expect``'s)."""
    if len(outcomes) != len(expected):
        raise Mistake("Some inputs got no answer: " + feedback, promises=promises)
    for outcome, wanted in zip(outcomes, expected, strict=True):
        expect(error_list(outcome) == sorted(wanted), feedback, promises=promises)


async def speedup(
    measure: Callable[[], Awaitable[dict[str, list[float]]]],
    baseline: str,
    candidate: str,
    *,
    needed: float,
    attempts: int = 3,
) -> float:
    """How many times faster ``candidate`` ran than ``baseline``, from a probe that times both
    in the sandbox, interleaved round by round: ``await measure()`` returns {name: [seconds per
    call, one per round]}. The speed-up is the median of the rounds' ratios. Below ``needed``,
    more rounds are measured (up to ``attempts`` calls of the probe) and the median is taken
    over all of them: more evidence, never the luckiest try, so a slow answer stays slow."""
    ratios: list[float] = []
    for _ in range(attempts):
        timings = await measure()
        ratios += [slow / fast for slow, fast in zip(timings[baseline], timings[candidate], strict=True) if fast > 0]
        if ratios and statistics.median(ratios) >= needed:
            break
    return statistics.median(ratios) if ratios else 0.0


async def other_scopes(app: ASGIApp) -> tuple[list[str | None], Message | None]:
    """Drive a lifespan (startup, shutdown) and a WebSocket connect through ``app``: the types
    of the lifespan answers, and the answer to the connect. For wrappers (middleware, error
    layers) that must pass scopes other than HTTP straight through."""
    from coursekit import drive, lifespan_scope, websocket_scope  # the notebooks' own tools

    lifespan = await drive(app, lifespan_scope())
    completed(lifespan)
    talk = Conversation(app, websocket_scope("/ws"))
    try:
        talk.push({"type": "websocket.connect"})
        accept = await talk.pull("websocket.accept")
    finally:
        await talk.close()
    return [message.get("type") for message in lifespan.sent], accept


# -- differential tests ---------------------------------------------------------------------------

SHOWN_CHARACTERS = 400


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[: SHOWN_CHARACTERS - 3] + "..."


def narrowed(mine: Any, theirs: Any) -> tuple[Any, Any]:
    """The parts of two observations that differ: the keys of two dicts whose values differ,
    the first differing item of two lists of one length, recursively; else both whole."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        keys = [key for key in {**theirs, **mine} if mine.get(key, "(absent)") != theirs.get(key, "(absent)")]
        pairs = {key: narrowed(mine.get(key, "(absent)"), theirs.get(key, "(absent)")) for key in keys}
        return {key: pair[0] for key, pair in pairs.items()}, {key: pair[1] for key, pair in pairs.items()}
    if isinstance(mine, list) and isinstance(theirs, list) and len(mine) == len(theirs):
        index = next(index for index, (one, other) in enumerate(zip(mine, theirs, strict=True)) if one != other)
        one, other = narrowed(mine[index], theirs[index])
        return {f"item {index}": one}, {f"item {index}": other}
    return mine, theirs


def _unsolved(exc: SubmissionRaised, exercise: str) -> None:
    """End a comparison on an unsolved exercise, naming the function that raised: the
    exercise's own (``make_jobs_app`` of ``jobs_app``), never the exercise's id as if it were
    a function that calls it."""
    if exc.error.get("type") == "NotImplementedError":
        where = exc.error.get("where")
        raise SubmissionRaised(where if where not in (None, "<module>") else exercise, exc.error) from None


async def observe(run: Run, side: Side, value: Any, exercise: str) -> Any:
    """What ``run`` saw of one side on one input, as plain data. An exception the code raised
    is part of what it does ({"raised": its type}); an unsolved exercise, code that never
    answers or a crashed sandbox ends the whole comparison with its own message."""
    try:
        return answers.plain(await run(side, value))
    except SubmissionRaised as exc:
        _unsolved(exc, exercise)
        return {"raised": exc.error.get("type")}


async def observe_all(
    run: Run | None,
    batch: Batch | None,
    side: Side,
    values: list[Any],
    exercise: str,
    unlike: list[Any] | None = None,
) -> list[Any]:
    """What one side does on every input: with ``batch``, all of them in one go (one exchange
    with the sandbox); when the batch as a whole raised, input by input, so that each gets
    its own observation. Input by input, with ``unlike`` (the other side's observations), it
    stops at the first input where the two differ: a slow wrong answer (each request waiting
    on a lock it left taken) then costs one slow input, not all of them."""
    if batch is None:
        if run is None:
            raise TypeError("observe_all needs run or batch")
        seen = []
        for index, value in enumerate(values):
            seen.append(await observe(run, side, value, exercise))
            if unlike is not None and seen[-1] != unlike[index]:
                break
        return seen
    try:
        seen = await batch(side, values)
    except SubmissionRaised as exc:
        _unsolved(exc, exercise)
        if len(values) == 1:
            return [{"raised": exc.error.get("type")}]
        return [(await observe_all(None, batch, side, [value], exercise))[0] for value in values]
    if len(seen) != len(values):
        raise Mistake(f"Your `{exercise}` stopped answering partway through the grader's inputs.")
    return [answers.plain(each) for each in seen]


class ReferenceRaisedEverywhere(GraderFault):
    """A differential test whose reference raises on every input compares nothing: its
    ``run`` or ``batch`` is broken (a probe called wrongly), not the learner's answer."""

    def __init__(self, exercise: str, raised: str) -> None:
        super().__init__(
            f"the differential test of {exercise} is broken: the reference solution raised {raised} on "
            "every generated input. Check what its run or batch sends."
        )


# What a differential test checks: promise ids, {observation key: promise id or ids}, or
# (while a lesson's statements do not number their promises yet) a sentence.
Promised = Sequence[str] | Mapping[str, str | Sequence[str]] | str


class ReferenceFailed(GraderFault):
    """The reference solution (the grader's own side of a differential test) ran out of time or
    crashed: what its answer would have been is unknown, which is no fault of the learner's."""

    def __init__(self, exercise: str, error: Exception) -> None:
        super().__init__(f"the reference solution of {exercise} could not be observed: {error}")


async def reference_side(
    run: Run | None, batch: Batch | None, reference: Side, values: list[Any], exercise: str
) -> list[Any]:
    """What the reference does on every input (``observe_all``); its failures are the grader's."""
    try:
        return await observe_all(run, batch, reference, values, f"{exercise} (reference)")
    except SubmissionError as exc:
        raise ReferenceFailed(exercise, exc) from None


async def same_as_reference(
    submission: Submission,
    reference: Side,
    exercise: str,
    inputs: SearchStrategy[Any],
    run: Run | None = None,
    *,
    batch: Batch | None = None,
    promise: Promised,
    show: Callable[[Any], str] = _shown,
    examples: int = answers.EXAMPLES,
) -> None:
    """Fail unless the learner's answer is seen to do the same as the reference on every input
    drawn from ``inputs``.

    What is seen of a side is given either way:

    - ``run(side, value)`` drives one side (``submission`` or ``reference``: the same API) on
      one input and returns plain data holding only what the task statement promises for it
      (a status, a parsed JSON body, a header's presence...), never what it leaves open;
    - ``batch(side, values)`` does the same for all inputs at once and returns the list of
      observations: one request to the sandbox instead of one per input (a probe that takes
      a list, ``probe_batch``; ASGI calls played in the sandbox, ``strategies.outcomes``
      and ``strategies.drives``). Faster: prefer it wherever the inputs allow.

    ``inputs`` draws plain data (it crosses to the sandbox as JSON). The inputs are drawn once
    per grading run, and the reference's observations of them computed once per run too
    (``autograder.answers``): a correct answer costs its own observations and nothing else.
    On the first difference, Hypothesis shrinks the input, and the learner reads the smallest
    one found and both answers, after the promises broken (by number and in the statement's
    words: ``autograder.plugin.feedback_for``). The test's own code is never shown.

    ``promise`` says which promises of the exercise's statement the comparison checks (their
    ids in the lesson's promises.toml):

    - a list of ids: a difference breaks them all;
    - ``{observation key: id (or a list of ids)}``, when ``run``/``batch`` observe a dict per
      input: a difference breaks the promises of the keys that differ (all of the map's, for
      a key not in it, such as "raised"), so the feedback names the one the learner broke.

    A sentence (a ``str``) is still read, for lessons whose statements do not number their
    promises yet: the message then quotes it ("The task says: ...").
    """
    if run is None and batch is None:
        raise TypeError("same_as_reference needs run or batch")
    key = answers.key(exercise, inputs, examples)
    values = answers.drawn(key, inputs, examples)
    theirs = answers.remembered(key)
    if theirs is None:
        theirs = await reference_side(run, batch, reference, values, exercise)
        if values and all(isinstance(seen, dict) and set(seen) == {"raised"} for seen in theirs):
            raise ReferenceRaisedEverywhere(exercise, theirs[0]["raised"])
        answers.remember(key, theirs)
    mine = await observe_all(run, batch, submission, values, exercise, unlike=theirs)
    if mine == theirs:
        return
    # The learner's side may stop short, at its first difference (``observe_all``).
    first = next(index for index, (one, other) in enumerate(zip(mine, theirs, strict=False)) if one != other)
    smallest, (mine, theirs) = await _smallest_difference(
        submission, reference, exercise, inputs, run, batch, examples, values[first], (mine[first], theirs[first])
    )
    broken = broken_promises(promise, mine, theirs)
    mine, theirs = narrowed(mine, theirs)
    says = f"The task says: {promise}\n" if isinstance(promise, str) else ""
    raise Mistake(
        f"Your `{exercise}` does not do what the task asks on this input (the smallest of the "
        f"grader's generated inputs where it differs from a correct answer):\n    {show(smallest)}\n"
        f"{says}"
        f"Where the answers differ, yours: {_shown(mine)}\n"
        f"and what the task asks for:      {_shown(theirs)}",
        promises=broken,
    )


def broken_promises(promise: Promised, mine: Any, theirs: Any) -> tuple[str, ...]:
    """The promise ids a difference between two observations breaks (see ``same_as_reference``)."""
    if isinstance(promise, str):
        return ()
    if not isinstance(promise, Mapping):
        return tuple(promise)

    def ids(keys: Iterable[str]) -> tuple[str, ...]:
        found: list[str] = []
        for key in keys:
            named = promise[key]
            found += [named] if isinstance(named, str) else named
        return tuple(dict.fromkeys(found))

    if not (isinstance(mine, dict) and isinstance(theirs, dict)):
        return ids(promise)
    differing = [key for key in {**theirs, **mine} if mine.get(key, "(absent)") != theirs.get(key, "(absent)")]
    return ids(promise) if any(key not in promise for key in differing) else ids(differing)


async def _smallest_difference(
    submission: Submission,
    reference: Side,
    exercise: str,
    inputs: SearchStrategy[Any],
    run: Run | None,
    batch: Batch | None,
    examples: int,
    found: Any,
    seen: tuple[Any, Any],
) -> tuple[Any, tuple[Any, Any]]:
    """Hypothesis's search for the smallest input on which the two sides differ, from the same
    derandomized draws (so it meets the difference already ``found`` again, then shrinks it),
    within ``examples + answers.SHRINK_STEPS`` comparisons and ``answers.SHRINK_SECONDS``;
    ``found`` and what was ``seen`` on it if the search ends with nothing smaller."""
    loop = asyncio.get_running_loop()
    kept: dict[str, tuple[Any, Any]] = {repr(found): seen}  # repr(input) -> (the learner's, the reference's)
    stopped: list[BaseException] = []
    budget = examples + answers.SHRINK_STEPS
    deadline = time.monotonic() + answers.SHRINK_SECONDS

    async def both(value: Any) -> tuple[Any, Any]:
        theirs = (await reference_side(run, batch, reference, [value], exercise))[0]
        return (await observe_all(run, batch, submission, [value], exercise))[0], theirs

    def differs(value: Any) -> bool:
        # Runs in Hypothesis's thread; the exchanges run on the test's loop. Every verdict
        # is kept, so an input asked twice (Hypothesis replays the last) gets the same one,
        # and nothing runs after the budget or after a side could not answer.
        key = repr(value)
        if key not in kept:
            if stopped or len(kept) > budget or time.monotonic() > deadline:
                return False
            try:
                kept[key] = asyncio.run_coroutine_threadsafe(both(value), loop).result()
            except BaseException as exc:  # out of time, crashed: report it as it is
                stopped.append(exc)
                return False
        mine, theirs = kept[key]
        return bool(mine != theirs)

    def search() -> Any:
        try:
            return find(inputs, differs, settings=settings(answers.DIFFERENTIAL, max_examples=examples))
        except (NoSuchExample, Unsatisfiable):
            return None

    smallest = await loop.run_in_executor(None, search)
    if stopped:
        raise stopped[0]
    if smallest is None or repr(smallest) not in kept:
        return found, seen
    return smallest, kept[repr(smallest)]


def names(*wanted: str) -> dict[str, Document]:
    """``{name: defined(name)}``: several of the learner's (or setup cells') names, passed to a
    probe as one JSON object."""
    from .submission import defined

    return {name: defined(name) for name in wanted}


# Errors whose message says what happened but not why, and the why a learner needs.
WHY = {
    "database is locked": "Another connection held SQLite's write lock: either for longer than this "
    "connection waits (a transaction left open on some path, or a statement whose rows "
    "were not all read), or while this connection's transaction, begun as a reader (BEGIN "
    "is deferred), tried to write after the other one had written, which SQLite refuses at "
    "once. BEGIN IMMEDIATE takes the write lock before the first read.",
}


def shown_error(raised: str) -> str:
    """A probe's ``"Type: message"`` as a learner reads it: the type alone when the message is
    empty (``NotImplementedError``, not ``NotImplementedError: ``), and the why of an error
    whose message gives none."""
    kind, _, message = raised.partition(":")
    shown = raised if message.strip() else kind
    why = next((why for words, why in WHY.items() if words in message), None)
    return f"{shown}. {why}" if why else f"{shown}."


def answered(answer: Any, name: str) -> Any:
    """A probe's answer for one call of the learner's ``name``; a call that raised (the
    probes' ``{"raised": "Type: message"}``) fails with the learner's own error."""
    if isinstance(answer, dict) and set(answer) == {"raised"}:
        raised = answer["raised"]
        hint = " The exercise is not solved yet." if raised.startswith("NotImplementedError") else ""
        raise Mistake(f"Your `{name}` raised {shown_error(raised)}{hint}")
    return answer


def without_errors(report: Any, name: str, allowed: tuple[str, ...] = ()) -> Any:
    """A probe's report (a dict, or a list of dicts, one per scenario) whose parts may hold
    ``"error": {"raised": type}`` for what the learner's code raised: fail with the first such
    error not in ``allowed``, as ``answered`` does; else return the report."""
    for part in report if isinstance(report, list) else [report]:
        error = part.get("error") if isinstance(part, dict) else None
        if error is not None and error.get("raised") not in allowed:
            answered(error, name)
    return report


# -- responsiveness: is a cheap request answered while a slow one runs? ---------------------------
#
# Timing checks must never flip on a busy machine, so this one compares orders of magnitude,
# measured in the same run: a loop held by the slow request makes a cheap request wait for
# most of the slow one (hundreds of milliseconds by construction), a free loop answers it in
# about the idle time (milliseconds). The threshold sits far from both, scales with the idle
# time measured just before, and an attempt that fails is repeated before the test fails.

LEAD_SECONDS = 0.15  # let the slow request get going before the first cheap one
CHEAP_REQUESTS = 4
CHEAP_GAP_SECONDS = 0.02


@dataclass
class Responsiveness:
    idle: float  # median seconds of a cheap request with nothing else running
    busy: float  # seconds the slow request took
    during: list[float]  # seconds of each cheap request while the slow one ran, from when it was due
    slow_status: int

    @property
    def threshold(self) -> float:
        return min(0.4 * self.busy, max(0.1, 10 * self.idle))

    @property
    def responsive(self) -> bool:
        return len(self.during) >= 2 and max(self.during) < self.threshold

    def describe(self) -> str:
        worst = max(self.during, default=self.busy)
        return (
            f"a cheap request took {worst * 1000:.0f} ms while a slow one ({self.busy * 1000:.0f} ms) ran, "
            f"against {self.idle * 1000:.0f} ms when idle"
        )


async def _timed(request: Awaitable[httpx.Response]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = await request
    return time.perf_counter() - started, response


async def responsiveness(
    http: httpx.AsyncClient, slow_path: str, cheap_path: str = "/ping", attempts: int = 3
) -> Responsiveness:
    """Measure ``cheap_path`` alone, then while ``slow_path`` runs; up to ``attempts`` times
    until the app is found responsive. Returns the last measurement."""
    for _ in range(attempts):
        idle = sorted([(await _timed(http.get(cheap_path)))[0] for _ in range(5)])[2]
        slow = asyncio.ensure_future(_timed(http.get(slow_path)))
        slow_ended: list[float] = []

        def note_the_end(_: object, ended: list[float] = slow_ended) -> None:
            ended.append(time.perf_counter())

        slow.add_done_callback(note_the_end)
        await asyncio.sleep(LEAD_SECONDS)
        during: list[float] = []
        due = time.perf_counter()
        # Cheap requests go while the slow one runs, and each counts from when it was due,
        # not from when it was sent: when the app runs in this very loop (nbgrader's
        # in-process grading), a held loop delays the sending too. A request held up until
        # the slow one ended counts: it is the evidence.
        while len(during) < CHEAP_REQUESTS and not (slow_ended and slow_ended[0] <= due):
            await http.get(cheap_path)
            finished = time.perf_counter()
            during.append(finished - due)
            due = finished + CHEAP_GAP_SECONDS
            await asyncio.sleep(CHEAP_GAP_SECONDS)
        busy, response = await slow
        result = Responsiveness(idle, busy, during, response.status_code)
        if result.responsive:
            break
    return result
