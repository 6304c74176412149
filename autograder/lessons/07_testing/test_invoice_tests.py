"""Hidden tests for `invoice_tests`: the learner's own tests, graded by the bugs they catch.

The learner's ``test_*(client)`` functions run in their sandbox; the invoices app they test
runs here (``autograder.learner_tests``). They are run against the correct app (first and
last) and against each variant below, every run in a sandbox of its own. A variant is caught
when all tests pass on the correct app and at least one fails on the variant.

The variants live only here: each breaks one of the app's promises by overriding one rule of
``coursekit.invoice_api.Rules``. Every app, correct or not, has its payments service replaced by
a recorder (``with_recorder``), as the task says: the real one cannot be reached here.

The graded tests are named for a hidden bug's number, not for the bug: their names reach the
learner's feedback, and a list of the six bugs would turn the exercise into a checklist. An
uncaught bug's message names the promise it breaks, once the learner's tests pass on the
correct app.
"""

import pytest

from autograder.expect import expect, graded
from autograder.learner_tests import hunt
from coursekit.invoice_api import Rules, make_invoice_app, with_recorder

pytestmark = pytest.mark.anyio
NAME = "invoice_tests"


class TotalIgnoresQuantity(Rules):
    def line_total(self, line):
        return line.unit_cents


class ZeroQuantityAccepted(Rules):
    def acceptable(self, invoice):
        return bool(invoice.lines) and all(line.quantity >= 0 and line.unit_cents >= 0 for line in invoice.lines)


class AnyoneIsAGuest(Rules):
    def user_for(self, authorization):
        return super().user_for(authorization) or "guest"


class UnknownTokenAccepted(Rules):
    def user_for(self, authorization):
        scheme, _, token = (authorization or "").partition(" ")
        return super().user_for(authorization) or ("guest" if scheme == "Bearer" and token else None)


class FreeLinesRefused(Rules):
    def acceptable(self, invoice):
        return bool(invoice.lines) and all(line.quantity >= 1 and line.unit_cents >= 1 for line in invoice.lines)


class OthersInvoicesVisible(Rules):
    def visible_to(self, owner, user):
        return True


class PaysTwice(Rules):
    def payable(self, status):
        return True


class StatusFilterIgnored(Rules):
    def matches(self, status, wanted):
        return True


# Each variant, and what the learner is told when no test of theirs noticed it: the promise
# broken, in the words of the app's documentation (the learner can read it), never a test.
VARIANTS = {
    TotalIgnoresQuantity: "total_cents is the sum of quantity x unit_cents over the lines",
    ZeroQuantityAccepted: "a line with quantity below 1 is refused with 422",
    AnyoneIsAGuest: "a request without a valid bearer token gets 401",
    OthersInvoicesVisible: "another user's invoice answers 404",
    PaysTwice: "paying an invoice already paid answers 409",
    StatusFilterIgnored: "GET /invoices?status=... lists only the invoices with that status",
    UnknownTokenAccepted: "a request whose bearer token is not one of TOKENS gets 401",
    FreeLinesRefused: "a line with quantity >= 1 and unit_cents >= 0 is accepted (a free line of 0 cents too)",
}

_hunts = {}  # one hunt per submission (a worker grades one): every graded test below reads it


async def the_hunt(submission, separate_sandbox):
    if "hunt" not in _hunts:
        names = await submission.learner_tests()
        expect(
            isinstance(names, list) and names != [],
            "Define your tests as functions named test_...(client) in the exercise cell.",
        )
        variants = {
            variant.__name__: (lambda variant=variant: with_recorder(make_invoice_app(rules=variant())))
            for variant in VARIANTS
        }
        _hunts["hunt"] = await hunt(separate_sandbox, lambda: with_recorder(make_invoice_app()), variants)
    return _hunts["hunt"]


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
        f"Every test must pass on the correct app, and these did not: {shown}. A test that "
        "fails on the correct app catches nothing: fix it or remove it.",
    )


@graded(NAME, points=1, negative=True, promises=["pass-on-correct"], unhappy=True)
async def test_your_tests_pass_on_the_correct_app(submission, separate_sandbox):
    """Every one of the learner's tests passes on the correct app, every time."""
    expect_honest(await the_hunt(submission, separate_sandbox))


def _catches(number, variant):
    @graded(NAME, points=1, promises=["catch-variants"])
    async def test(submission, separate_sandbox):
        found = await the_hunt(submission, separate_sandbox)
        # The tests' failures on the correct app are listed once, by the test above.
        expect(
            found.honest,
            "Not counted yet: a hidden bug counts as caught only once every test of yours "
            'passes on the correct app (see "your tests pass on the correct app").',
        )
        expect(
            found.caught(variant.__name__),
            f"No test of yours failed on an app that breaks this promise: {VARIANTS[variant]}. "
            "Add a test that checks it.",
        )

    test.__doc__ = f"The learner's tests catch hidden bug {number}: {VARIANTS[variant]} ({variant.__name__})."
    test.__name__ = f"test_catches_hidden_bug_{number}"
    return test


for _number, _variant in enumerate(VARIANTS, 1):
    globals()[f"test_catches_hidden_bug_{_number}"] = _catches(_number, _variant)
