"""Hidden speed checks of lesson 06, in a module of their own so they can be run alone
(tests/lessons/test_lesson06_under_load.py grades them again and again on a busy machine).

Each compares the learner's code with a baseline timed in the same sandbox, at the same time,
round by round, in CPU time (the lesson's ``sandbox_probes.py``), asks for a wide margin, and
measures again before failing (``autograder.suitekit.speedup``).
"""

import json

import pytest

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, speedup
from coursekit import data

pytestmark = pytest.mark.anyio
PARSER = "make_invoice_parser"
PARSER_NEEDED = 1 / 0.6  # "at most 0.6 times as long" as the baseline
FIVE_ROWS = json.dumps(data.rows("invoices")[:5], default=str)
APP = "make_fast_app"
APP_NEEDED = 2.0
APP_PATH = "/tenants/1/invoices"


@graded(PARSER, points=1, negative=True, promises=["speed"])  # doing nothing is fast: it counts beside a correct parse
async def test_parser_speed(submission):
    """On 5 rows, parse takes at most 0.6 times as long as building an adapter and calling json.loads per call."""
    await require(submission, PARSER, kind="function")

    async def measure():
        return await probe(
            submission, PARSER, "lesson06.parse_speed", defined(PARSER), defined("StoredInvoice"), FIVE_ROWS
        )

    faster = await speedup(measure, "baseline", "learner", needed=PARSER_NEEDED)
    expect(
        faster >= PARSER_NEEDED,
        f"On 5 rows your parser was only {faster:.2f} times as fast as building a TypeAdapter and calling json.loads "
        f"on every call (it should be at least {PARSER_NEEDED:.2f} times as fast). Build the adapter once and "
        "validate the bytes directly.",
    )


@graded(APP, points=2, promises=["twice-as-fast"])
async def test_fast_app_speed(submission):
    """GET /tenants/1/invoices takes at most half the slow app's time, measured side by side."""
    await require(submission, APP, kind="function")

    async def measure():
        return await probe(submission, APP, "lesson06.app_speed", defined("make_slow_app"), defined(APP), APP_PATH)

    faster = await speedup(measure, "slow", "fast", needed=APP_NEEDED)
    expect(
        faster >= APP_NEEDED,
        f"Your app answered GET {APP_PATH} only {faster:.2f} times as fast as the slow one; it should be at least "
        f"{APP_NEEDED:g} times as fast. Which work is the same on every request, and which way of answering skips "
        "FastAPI's own encoding?",
    )
