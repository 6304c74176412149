"""Hidden tests for step 7, `service_tests`: the learner's tests of the service, graded by the bugs they catch.

The learner's ``test_*(client)`` functions run in their sandbox; the service they test runs here,
in the grader's process (``autograder.learner_tests``): the reference solution's own steps, run
in a namespace of this process, put together as the statement says (``make_app(url,
read_router(), creation_router(report_actor(StubBroker(), url)), listing_router(),
export_router())`` inside ``request_log``), a fresh one on a fresh database per test. The tests
run against the correct service (first and last) and against each variant below, every run in a
sandbox of its own; a variant is caught when every test passes on the correct service and at
least one fails on the variant.

Each variant is the reference with one small edit in one step's cell, breaking one promise of
steps 1 to 5 that a client can see; the variants live only here. The graded tests are named for
a hidden bug's number: their names reach the learner's feedback. An uncaught bug's message
names the promise it breaks, in the statement's words.
"""

import ast
import inspect
import io
import shutil
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder import reference as references
from autograder.errors import GraderFault
from autograder.expect import expect, graded
from autograder.learner_tests import hunt
from autograder.suite import PROMISES

pytestmark = pytest.mark.anyio
NAME = "service_tests"


@dataclass(frozen=True)
class Variant:
    """The reference with ``old`` replaced by ``new`` in the cell of ``exercise``: it breaks that
    exercise's ``promise``."""

    exercise: str
    promise: str
    old: str
    new: str


VARIANTS = (
    Variant("read_router", "admin-403", 'if caller.role != "admin":', 'if caller.role not in ("admin", "member"):'),
    Variant("read_router", "unauthenticated-401", "if row is None or not row.active:", "if row is None:"),
    Variant(
        "read_router",
        "invoice-404",
        "invoices_table.c.id == invoice_id,\n                                               "
        "invoices_table.c.tenant_id == caller.tenant_id)",
        "invoices_table.c.id == invoice_id)",
    ),
    Variant(
        "create_invoice",
        "created",
        "            invoices_table.c.issued_on.between(date(year, 1, 1), date(year, 12, 31)),\n",
        "",
    ),
    Variant(
        "create_invoice",
        "idempotency-key",
        "idempotency_key: Annotated[str | None, Header()] = None",
        'idempotency_key: Annotated[str | None, Header(alias="x-idempotency-key")] = None',
    ),
    Variant(
        "listing_router",
        "same-answers",
        "        if status is not None:\n            query = query.where(invoices_table.c.status == status)\n",
        "",
    ),
    Variant(
        "export_router",
        "rows",
        "query = select(*columns).where(invoices_table.c.tenant_id == caller.tenant_id)",
        "query = select(*columns)",
    ),
)


async def namespace(cells, variant: Variant | None = None) -> dict:
    """The reference's cells run in a fresh namespace of this process, ``variant``'s edit made."""
    names: dict = {"__name__": "__main__"}
    for cell in cells:
        source = cell.source
        if variant is not None and cell.id == variant.exercise:
            if source.count(variant.old) != 1:
                raise GraderFault(
                    f"the hidden variant ({variant.exercise}: {variant.promise}) no longer applies to "
                    f"the reference's {cell.id} cell: update VARIANTS in test_service_tests.py"
                )
            source = source.replace(variant.old, variant.new)
        code = compile(
            source, f"<reference {cell.id}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
        )
        ran = eval(code, names)  # the reference solution (trusted), to serve the learner's tests  # noqa: S307
        if inspect.iscoroutine(ran):
            await ran
    return names


def service_maker(names: dict, pristine: Path, folder: Path):
    """A function making the service of ``names`` (the reference's steps, or a variant's) on a
    fresh database, a copy of ``pristine`` (made by ``new_database``), in a folder of ``folder``."""
    from dramatiq.brokers.stub import StubBroker

    def service():
        copy = Path(tempfile.mkdtemp(dir=folder))
        shutil.copyfile(pristine, copy / "service.db")
        url = f"sqlite+aiosqlite:///{copy / 'service.db'}"
        app = names["make_app"](
            url,
            names["read_router"](),
            names["creation_router"](names["report_actor"](StubBroker(), url)),
            names["listing_router"](),
            names["export_router"](),
        )
        return names["request_log"](app, io.StringIO())

    return service


@asynccontextmanager
async def scratch():
    folder = Path(tempfile.mkdtemp(prefix="lesson10-services-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_hunts = {}  # one hunt per submission (a worker grades one): every graded test below reads it


async def the_hunt(submission, separate_sandbox, request):
    if "hunt" not in _hunts:
        names = await submission.learner_tests()
        expect(
            isinstance(names, list) and names != [],
            "Define your tests as functions named test_...(client) in the exercise cell.",
        )
        cells = references.cells(references.lesson_of(request))
        async with scratch() as folder:
            names = await namespace(cells)
            pristine = Path(names["new_database"](folder).split(":///", 1)[1])  # folder/service.db
            correct = service_maker(names, pristine, folder)
            variants = {
                number: service_maker(await namespace(cells, variant), pristine, folder)
                for number, variant in enumerate(VARIANTS, 1)
            }
            _hunts["hunt"] = await hunt(separate_sandbox, correct, variants)
    return _hunts["hunt"]


def broken(variant: Variant, request) -> str:
    """The promise a variant breaks, by number and in the statement's words."""
    table = request.config.stash.get(PROMISES, {})
    found = next((promise for promise in table.get(variant.exercise, ()) if promise.id == variant.promise), None)
    if found is None:
        return f"a promise of `{variant.exercise}`"
    return f"promise {found.number} of `{variant.exercise}` ({found.text})"


def expect_honest(found) -> None:
    failing = {
        name: verdict
        for run in found.correct
        for name, verdict in run.verdicts.items()
        if verdict["outcome"] != "passed"
    }
    shown = "; ".join(
        f"{name} ({verdict['error']}{': ' + verdict['message'] if verdict['message'] else ''})"
        for name, verdict in list(failing.items())[:3]
    )
    expect(
        not failing,
        f"Every test must pass on a correct service, and these did not: {shown}. A test that fails on "
        "a correct service catches nothing: fix it (or the step it tests is what you must fix in your "
        "own service) or remove it.",
    )


@graded(NAME, points=1, negative=True, promises=["pass-on-correct"], unhappy=True)
async def test_your_tests_pass_on_a_correct_service(submission, separate_sandbox, request):
    """Every one of the learner's tests passes on a correct service, both times it runs."""
    expect_honest(await the_hunt(submission, separate_sandbox, request))


def _catches(number, variant):
    @graded(NAME, points=1, promises=["catch-variants"])
    async def test(submission, separate_sandbox, request):
        found = await the_hunt(submission, separate_sandbox, request)
        # The tests' failures on the correct service are listed once, by the test above.
        expect(
            found.honest,
            "Not counted yet: a hidden bug counts as caught only once every test of yours passes on "
            'a correct service (see "your tests pass on a correct service").',
        )
        expect(
            found.caught(number),
            f"No test of yours failed on a service that breaks {broken(variant, request)}. Which request, and which "
            "assertion, would show it?",
        )

    test.__doc__ = f"The learner's tests catch hidden bug {number}: {variant.exercise}, {variant.promise}."
    test.__name__ = f"test_catches_hidden_bug_{number}"
    return test


for _number, _variant in enumerate(VARIANTS, 1):
    globals()[f"test_catches_hidden_bug_{_number}"] = _catches(_number, _variant)
