"""Grading a learner's own tests by the bugs they catch (the trusted side).

The learner writes tests (``test_*(client)`` functions) for an app whose code they can read.
The grader runs them against that app and against hidden variants of it, each with one bug.
A variant is caught when every test passes on the correct app and at least one fails on the
variant. Where each part runs:

- the app under test (the correct one or a variant) runs here, in the grader's process: a
  fresh instance per learner test, its lifespan run, served through ``httpx.ASGITransport``;
- the learner's tests run in a sandbox (``autograder.sandbox.learner_tests``); their client
  forwards every request here as plain data and gets the response back as plain data. What a
  test can learn of the app is its HTTP behaviour, nothing else;
- every run of the tests (correct or variant) gets a sandbox of its own, a new process with a
  new scratch folder, so a test cannot count runs or leave a mark for the next one; and the
  correct app is run first and again last, so a test whose verdict drifts with the run (the
  clock, process ids) fails on the correct app and catches nothing;
- a test's verdict crosses back as plain data and is read strictly: only the string
  "passed" passes. A test that errs, hangs, crashes its sandbox or asks for something but
  ``client`` has failed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypedDict

import httpx
from asgi_lifespan import LifespanManager

from .submission import Submission, SubmissionError

MAX_REQUESTS = 500  # per learner test: a test that loops on requests ends as failed
MAX_BODY = 1_000_000
BASE_URL = "http://test"

AppFactory = Callable[[], Any]
Sandbox = Callable[[], AbstractAsyncContextManager[Submission]]


class RequestRefused(Exception):
    """A forwarded request that is not plain, well-formed HTTP."""


def as_request(plain: Any) -> httpx.Request:
    """The learner's request, checked field by field: it was built in the sandbox."""
    if not isinstance(plain, dict):
        raise RequestRefused("not a request")
    method, url, headers, body = (plain.get(key) for key in ("method", "url", "headers", "body"))
    if not (isinstance(method, str) and method.isalpha() and len(method) <= 16):
        raise RequestRefused("bad method")
    if not (isinstance(url, str) and url.startswith(BASE_URL) and len(url) <= 8192):
        raise RequestRefused(f"requests go to {BASE_URL}")
    if not (
        isinstance(headers, list)
        and len(headers) <= 100
        and all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, bytes) for part in pair)
            for pair in headers
        )
    ):
        raise RequestRefused("bad headers")
    if not (isinstance(body, bytes) and len(body) <= MAX_BODY):
        raise RequestRefused("bad body")
    return httpx.Request(method, url, headers=[tuple(pair) for pair in headers], content=body)


class Served:
    """One fresh instance of the app under test, its lifespan running, answering plain requests."""

    def __init__(self, make_app: AppFactory) -> None:
        self.make_app = make_app
        self.count = 0

    async def __aenter__(self) -> Served:
        self.manager = LifespanManager(self.make_app())
        await self.manager.__aenter__()
        # An app that raises answers 500, as a server would: the test sees a status, not our traceback.
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.manager.app, raise_app_exceptions=False), base_url=BASE_URL
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.client.aclose()
        await self.manager.__aexit__(kind, error, traceback)

    async def answer(self, plain: Any) -> dict[str, Any]:
        self.count += 1
        if self.count > MAX_REQUESTS:
            return {"error": f"a test may send at most {MAX_REQUESTS} requests"}
        try:
            request = as_request(plain)
        except RequestRefused as refused:
            return {"error": str(refused)}
        response = await self.client.send(request)
        return {
            "status": response.status_code,
            "headers": [list(pair) for pair in response.headers.raw],
            "body": response.content,
        }


class Verdict(TypedDict):
    """One of the learner's tests, as run: passed, or failed with the error's type and message."""

    outcome: Literal["passed", "failed"]
    error: str | None
    message: str


def verdict_of(value: Any) -> Verdict:
    """The sandbox's report of one test, read strictly (it is the learner's process talking)."""
    if isinstance(value, dict) and value.get("outcome") == "passed":
        return {"outcome": "passed", "error": None, "message": ""}
    error = value.get("error") if isinstance(value, dict) else None
    message = value.get("message") if isinstance(value, dict) else None
    return {
        "outcome": "failed",
        "error": error if isinstance(error, str) else "unknown",
        "message": message[:300] if isinstance(message, str) else "",
    }


@dataclass
class Run:
    """The learner's tests on one app: each test's verdict, in order."""

    verdicts: dict[str, Verdict] = field(default_factory=dict)
    requests: int = 0  # sent by all the tests together

    @property
    def passed(self) -> bool:
        return bool(self.verdicts) and all(v["outcome"] == "passed" for v in self.verdicts.values())

    @property
    def failed(self) -> list[str]:
        return [name for name, verdict in self.verdicts.items() if verdict["outcome"] != "passed"]


async def run_tests(submission: Submission, make_app: AppFactory, *, until_failure: bool = False) -> Run:
    """Each of the learner's tests against a fresh ``make_app()``; a test that ends the
    sandbox (timeout, crash) fails, and so do the tests it left unrun. ``until_failure``: stop
    after the first test that fails (one is all a variant needs to be caught)."""
    run = Run()
    names = await submission.learner_tests()
    if not isinstance(names, list):
        return run
    for name in names:
        if not isinstance(name, str):
            continue
        if not submission.reusable:
            run.verdicts[name] = {"outcome": "failed", "error": "NotRun", "message": "an earlier test ended the run"}
            continue
        async with Served(make_app) as served:
            verdict: Verdict
            try:
                verdict = verdict_of(await submission.run_learner_test(name, served.answer))
            except SubmissionError as error:
                verdict = {"outcome": "failed", "error": type(error).__name__, "message": str(error)[:300]}
            run.requests += served.count
        run.verdicts[name] = verdict
        if until_failure and verdict["outcome"] != "passed":
            break
    return run


@dataclass
class Hunt:
    """The learner's tests on the correct app (first and last) and on each variant."""

    correct: list[Run]
    variants: dict[str, Run]

    @property
    def honest(self) -> bool:
        """Every run on the correct app passed every test (and there was a test)."""
        return all(run.passed for run in self.correct)

    def caught(self, variant: str) -> bool:
        return self.honest and not self.variants[variant].passed


async def hunt(sandbox: Sandbox, correct: AppFactory, variants: dict[str, AppFactory]) -> Hunt:
    """Run the learner's tests on ``correct``, each variant (until a test fails: the variant is
    caught), then ``correct`` again, each run in a sandbox of its own (``sandbox()``)."""

    async def one(make_app: AppFactory, until_failure: bool = False) -> Run:
        async with sandbox() as submission:
            return await run_tests(submission, make_app, until_failure=until_failure)

    first = await one(correct)
    if not first.passed:  # nothing can be caught: spare the variants' runs
        return Hunt([first], {name: Run() for name in variants})
    if first.requests == 0:  # tests that asked the app nothing cannot tell a variant from it
        return Hunt([first], dict.fromkeys(variants, first))
    found = {name: await one(make_app, until_failure=True) for name, make_app in variants.items()}
    last = await one(correct)
    return Hunt([first, last], found)
