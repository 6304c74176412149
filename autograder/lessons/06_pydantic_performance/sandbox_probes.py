"""Public probes for lesson 06 (Pydantic, the real bottleneck).

The exercises hand back Python objects (model classes, a union type, a parser, an app), which
cannot cross the sandbox boundary. A hidden test names the learner's factory; a probe here
calls it, feeds what it built inputs given as JSON, and reports as JSON: validated data in
JSON mode, errors as ``{"loc": [...], "type": ...}`` lists, timings as lists of seconds.
Nothing here is a test or an answer: the hidden suite decides what the reports should say.

Speed probes time in CPU time of this process (``coursekit.timing.cpu_time``, from getrusage: in a
sandbox with a CPU limit, ``time.process_time`` only moves at the scheduler's tick),
interleaving the two candidates round by round (``coursekit.compare``), so other work on the
machine neither counts nor favours one candidate.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from autograder.sandbox.fixtures import plain, run_http

ROUNDS = 7
MIN_BATCH = 0.005  # seconds of CPU time per round and candidate


def _errors(exc: Exception) -> list[dict]:
    """A ValidationError's errors as plain data; any other exception as one pseudo-error."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return [{"loc": plain(list(error["loc"])), "type": error["type"]} for error in exc.errors()]
    return [{"loc": [], "type": f"raised {type(exc).__name__}"}]


def _outcome(validate: Callable[[], Any], dump: Callable[[Any], Any]) -> dict:
    try:
        value = validate()
    except Exception as exc:  # the report says what was raised: the suite judges it
        return {"ok": False, "errors": _errors(exc)}
    return {"ok": True, "class": type(value).__name__, "data": plain(dump(value))}


# --- make_invoice_model and make_payment_type ---------------------------------------------------


def validate_documents(make_model: Callable[[], Any], documents: list) -> list[dict]:
    """``make_model()`` once, then ``model_validate`` each document: the class of the result
    and its ``model_dump(mode="json")``, or its errors."""
    model = make_model()
    return [
        _outcome(lambda document=document: model.model_validate(document), lambda value: value.model_dump(mode="json"))
        for document in documents
    ]


def validate_with_adapter(make_type: Callable[[], Any], documents: list) -> list[dict]:
    """``TypeAdapter(make_type())`` once, then validate each document with it."""
    from pydantic import TypeAdapter

    adapter = TypeAdapter(make_type())
    return [
        _outcome(
            lambda document=document: adapter.validate_python(document),
            lambda value: adapter.dump_python(value, mode="json"),
        )
        for document in documents
    ]


# --- make_summary_model ----------------------------------------------------------------------


def dump_summaries(make_model: Callable[[], Any], documents: list) -> dict:
    """Build a summary from each document (``model_validate``) and dump it every way: Python
    mode, JSON mode, ``model_dump_json``, and the whole list through a ``TypeAdapter`` and
    inside a parent model. JSON texts are returned as text, so key order shows."""
    from pydantic import BaseModel, TypeAdapter, create_model

    model = make_model()
    summaries = [model.model_validate(document) for document in documents]
    parent: type[BaseModel] = create_model("Parent", items=(list[model], ...))
    return {
        "python": [plain(summary.model_dump()) for summary in summaries],
        "json_mode": [plain(summary.model_dump(mode="json")) for summary in summaries],
        "json_text": [summary.model_dump_json() for summary in summaries],
        "adapter_text": TypeAdapter(list[model]).dump_json(summaries).decode(),
        "parent_text": parent(items=summaries).model_dump_json(),
    }


# --- make_invoice_parser ---------------------------------------------------------------------


class _CountingAdapters:
    """Counts ``TypeAdapter`` constructions while active (wherever the name was imported from)."""

    def __enter__(self) -> _CountingAdapters:
        from pydantic import TypeAdapter

        self.cls, self.original, self.count = TypeAdapter, TypeAdapter.__init__, 0
        counter = self

        def counting_init(adapter, *args, **kwargs):
            counter.count += 1
            return counter.original(adapter, *args, **kwargs)

        TypeAdapter.__init__ = counting_init
        return self

    def __exit__(self, *exc: object) -> None:
        self.cls.__init__ = self.original


def parse_batches(make_parser: Callable[[], Any], batches: list[str], as_text: bool = False) -> dict:
    """``make_parser()`` once; then ``parse(raw)`` on each batch (JSON text, passed as bytes, or
    as ``str`` with ``as_text``). Reports, per batch, the class names and JSON-mode dumps of what
    came back, or the errors; and how many TypeAdapters were built during the ``parse`` calls
    (not in ``make_parser``)."""
    parse = make_parser()
    results = []
    with _CountingAdapters() as counter:
        for raw in batches:
            try:
                parsed = parse(raw if as_text else raw.encode())
            except Exception as exc:
                results.append({"ok": False, "errors": _errors(exc)})
                continue
            if not isinstance(parsed, list):
                results.append({"ok": True, "type": type(parsed).__name__, "classes": [], "data": []})
                continue
            results.append(
                {
                    "ok": True,
                    "type": "list",
                    "classes": [type(item).__name__ for item in parsed],
                    "data": [
                        plain(item.model_dump(mode="json")) if hasattr(item, "model_dump") else plain(item)
                        for item in parsed
                    ],
                }
            )
    return {"results": results, "adapters_built": counter.count}


def parse_speed(make_parser: Callable[[], Any], model: Any, raw: str) -> dict:
    """Seconds of CPU per call, round by round: the learner's ``parse(raw)`` against a baseline
    that builds ``TypeAdapter(list[model])`` and calls ``json.loads`` on every call."""
    from pydantic import TypeAdapter

    from coursekit.timing import compare, cpu_time

    parse, data = make_parser(), raw.encode()
    timings = compare(
        {
            "baseline": lambda: TypeAdapter(list[model]).validate_python(json.loads(data)),
            "learner": lambda: parse(data),
        },
        repeat=ROUNDS,
        clock=cpu_time,
        min_batch=MIN_BATCH,
    ).timings
    return {name: timing.per_call for name, timing in timings.items()}


# --- make_fast_app ---------------------------------------------------------------------------


async def answers(make_app: Callable[[], Any], paths: list[str]) -> list[dict]:
    """``make_app()`` once, then one GET per path: status, content-type and the body (parsed
    JSON where it is JSON, else its text). A request the app raised on is reported as the 500 a
    server answers, with the exception as its body, so the suite names the request it broke."""
    app = make_app()
    replies = []
    for path in paths:
        target, _, query = path.partition("?")
        try:
            reply = await run_http(app, "GET", target, query=query)
        except Exception as exc:  # the learner's app raised: a 500, as a server answers it
            replies.append(
                {"status": 500, "content_type": None, "body": {"$raised": f"{type(exc).__name__}: {exc}"[:300]}}
            )
            continue
        headers = {
            bytes(name).decode("latin-1").lower(): bytes(value).decode("latin-1") for name, value in reply["headers"]
        }
        text = reply["body"].decode("utf-8", errors="replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = {"$text": text[:300]}
        replies.append({"status": reply["status"], "content_type": headers.get("content-type"), "body": body})
    return replies


async def answers_from_new_rows(
    make_app: Callable[[], Any], make_slow: Callable[[], Any], rows: list, paths: list[str]
) -> dict:
    """An app made and asked ``paths``; then ``rows`` (the cells' ``INVOICE_ROWS``) changed in
    place, every other row dropped and the rest reversed, and a second app made and asked the
    same, beside the slow app: the two last apps' answers (as ``answers`` reports them). The
    rows are put back before this returns, whatever happened."""
    await answers(make_app, paths)  # whatever an app keeps, it has now
    kept = list(rows)
    rows[:] = kept[::-2]
    try:
        return {"fast": await answers(make_app, paths), "slow": await answers(make_slow, paths)}
    finally:
        rows[:] = kept


def app_speed(make_slow: Callable[[], Any], make_fast: Callable[[], Any], path: str) -> dict:
    """Seconds of CPU per request, round by round, for the two apps made here, on ``path``."""
    from coursekit.timing import compare, cpu_time

    target, _, query = path.partition("?")

    def requester(app):
        async def one_request():
            reply = await run_http(app, "GET", target, query=query)
            if reply["status"] != 200:
                raise RuntimeError(f"GET {path} answered {reply['status']}")

        return one_request

    timings = compare(
        {"slow": requester(make_slow()), "fast": requester(make_fast())},
        repeat=ROUNDS,
        clock=cpu_time,
        min_batch=MIN_BATCH,
    ).timings
    return {name: timing.per_call for name, timing in timings.items()}
