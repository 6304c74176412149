"""Hidden tests for `overridden`: a context manager for tests that swaps FastAPI dependencies.

The probe uses the learner's overridden(app, overrides) on a small FastAPI app of its own
(get_settings, get_db as a generator, get_user depending on get_db) and reports what requests
saw and what app.dependency_overrides held at each point.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import same_as_reference

pytestmark = pytest.mark.anyio
NAME = "overridden"
REAL = {"user": "user-from-real-db", "settings": "real-settings"}


async def scenarios(submission) -> dict:
    found = await submission.describe(NAME)
    expect(found["defined"], f"`{NAME}` is not defined after running your exercise cells.")
    return await submission.probe("lesson03.override_report", defined(NAME))


def expect_ran(report: dict, name: str) -> dict:
    outcome = report.get(name, {})
    if "error" in outcome:
        error = outcome["error"]
        expect(
            False,
            f"Using `with overridden(app, {{...}}):` raised {error['type']}: {error['message']}. "
            "It should be a context manager (contextlib.contextmanager) that yields the app.",
        )
    return outcome


@graded(NAME, points=1.5, promises=["enter", "gives-app", "restore"])
async def test_overridden_swaps_then_restores(submission):
    """Inside the block requests use the replacements; afterwards the overrides are exactly as before."""
    report = await scenarios(submission)
    simple = expect_ran(report, "simple")
    expect(
        simple["inside"] == {"user": "user-from-fake-db", "settings": "real-settings"},
        "Inside the block, requests should use the replacement (set app.dependency_overrides[original] = replacement).",
        promises=["enter"],
    )
    expect(simple["yielded_app"], "`with overridden(app, ...) as x:` should give the app as x.", promises=["gives-app"])
    expect(
        simple["after"] == REAL and simple["held_after"] == {},
        "After the block, the app should use its real dependencies again, with no override left behind.",
        promises=["restore"],
    )
    existing = expect_ran(report, "existing")
    expect(
        existing["inside"] == {"user": "user-from-fake-db", "settings": "fake-settings"},
        "Keep the overrides that were already there: add yours to app.dependency_overrides, don't replace the dict.",
        promises=["enter"],
    )
    expect(
        existing["held_after"] == {"get_settings": "fake_settings"},
        "After the block, an override that was there before must still be there.",
        promises=["restore"],
    )


@graded(NAME, points=1.5, promises=["nest", "raised"], unhappy=True)
async def test_overridden_nests_and_survives_errors(submission):
    """Nested blocks restore the outer block's overrides; a block that raises still restores, and the error
    propagates."""
    report = await scenarios(submission)
    nested = expect_ran(report, "nested")
    expect(
        nested["inner"] == {"user": "fake-user", "settings": "real-settings"}
        and nested["outer"]["user"] == "user-from-fake-db",
        "Inside nested blocks, the innermost replacement should win.",
        promises=["nest"],
    )
    expect(
        nested["between"] == {"user": "user-from-fake-db", "settings": "real-settings"}
        and nested["held_between"] == {"get_db": "fake_db"},
        "When an inner block ends, put back the override that was there before it (the outer block's), "
        "rather than removing the key.",
        promises=["nest"],
    )
    expect(
        nested["after"] == REAL and nested["held_after"] == {},
        "After the outer block, no override should be left.",
        promises=["nest"],
    )
    raising = expect_ran(report, "raising")
    expect(
        raising["raised"] == "LookupError",
        "An exception raised inside the block should propagate out of it, not be swallowed.",
        promises=["raised"],
    )
    expect(
        raising["after"] == REAL and raising["held_after"] == {},
        "Restore the overrides even when the block raises (try/finally around the yield): "
        "a failing test must not leave its overrides behind for the next one.",
        promises=["raised"],
    )
    cancelled = expect_ran(report, "cancelled")
    expect(
        cancelled["raised"] == "CancelledError",
        "A cancellation (asyncio.CancelledError) raised inside the block should propagate out of it.",
        promises=["raised"],
    )
    expect(
        cancelled["held_after"] == {"get_settings": "fake_settings"},
        "Restore the overrides however the block ends, also by a BaseException that is not an Exception (a "
        "cancelled or interrupted test): `finally` runs for every one, `except Exception` does not.",
        promises=["raised"],
    )


@graded(NAME, points=1, promises=["restore"], unhappy=True)
async def test_overridden_undoes_what_the_block_changed(submission):
    """Overrides the block itself set or removed in app.dependency_overrides are undone when it ends."""
    changed = expect_ran(await scenarios(submission), "changed_inside")
    expect(
        changed["inside"] == {"user": "fake-user", "settings": "real-settings"},
        "Inside the block, a test may change app.dependency_overrides itself, and requests then see its change.",
    )
    expect(
        changed["after"] == {"user": "user-from-real-db", "settings": "fake-settings"}
        and changed["held_after"] == {"get_settings": "fake_settings"},
        "After the block, app.dependency_overrides must hold exactly what it held before entering, even when "
        "the block itself set an override or removed one: restore the whole of it, not only the keys you "
        "were given.",
    )


ORIGINALS = st.sampled_from(["get_settings", "get_db", "get_user"])
REPLACEMENTS = st.sampled_from(["fake_db", "other_db", "fake_settings", "fake_user", "get_settings"])
MAPPINGS = st.dictionaries(ORIGINALS, REPLACEMENTS, max_size=3)
RAISES = st.sampled_from([None, None, "LookupError", "CancelledError"])
# What a block may do to app.dependency_overrides itself, besides entering: set some, remove some.
CHANGES = {"set": st.dictionaries(ORIGINALS, REPLACEMENTS, max_size=1), "remove": st.lists(ORIGINALS, max_size=1)}
BLOCKS = st.recursive(
    st.fixed_dictionaries({"overrides": MAPPINGS, "raise": RAISES, "inner": st.just([])}, optional=CHANGES),
    lambda inner: st.fixed_dictionaries(
        {"overrides": MAPPINGS, "raise": RAISES, "inner": st.lists(inner, max_size=2)}, optional=CHANGES
    ),
    max_leaves=4,
)
SCRIPTS = st.fixed_dictionaries({"existing": MAPPINGS, "blocks": st.lists(BLOCKS, min_size=1, max_size=2)})


@graded(NAME, points=2, promises=["enter", "gives-app", "restore", "raised", "nest"], unhappy=True)
async def test_overridden_follows_generated_scripts(submission, reference):
    """Over generated uses (existing overrides, nested blocks, blocks that change the overrides themselves or raise),
    requests and overrides are as the task says at every step."""
    found = await submission.describe(NAME)
    expect(found["defined"], f"`{NAME}` is not defined after running your exercise cells.")

    async def run(side, script):
        return await side.probe("lesson03.override_script", defined(NAME), script["existing"], script["blocks"])

    await same_as_reference(
        submission,
        reference,
        NAME,
        SCRIPTS,
        run,
        examples=20,
        promise=["enter", "gives-app", "restore", "raised", "nest"],
    )
