"""Hidden tests for `make_export_app`: a CSV export that streams from SQLite in constant memory.

A probe (``lesson08.export_runs``) builds a table of invoices with the lesson's own
`make_invoices_db`, serves one GET /invoices.csv through an in-process client that plays
uvicorn's part (``coursekit.streams.http_call``), watches the connections `open_db` hands out,
and measures the peak of Python's memory during the call. The reference solution runs the
same cases: the expected body and the memory baseline come from it, in the same run.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, same_as_reference, without_errors

pytestmark = pytest.mark.anyio
NAME = "export_csv"
FACTORY = "make_export_app"
HEADER = "id,customer,amount_cents,issued"
SMALL, LARGE = 1_000, 6_000  # rows of the two exports whose memory is compared
HUGE = 24_000  # and of the larger one a client stops reading (its memory compared with LARGE's)
FETCH = 0.2  # seconds each query or fetch in a worker thread lasts where a client leaves during one


async def runs(side, cases: list[dict]) -> list[dict]:
    await require(side, FACTORY, kind="function")
    answers = await probe(side, NAME, "lesson08.export_runs", defined(FACTORY), defined("make_invoices_db"), cases)
    return without_errors(answers, FACTORY)


def answered(seen: dict) -> str:
    if seen["status"] is None:
        return "it sent no answer" + (f" (it raised {seen['app_error']})" if seen["app_error"] else "")
    return f"it answered {seen['status']}" + (f" after raising {seen['app_error']}" if seen["app_error"] else "")


def header(seen: dict, name: str) -> str | None:
    return next((value for key, value in seen["headers"] if key == name), None)


def normalized(value: str | None) -> str:
    return (value or "").replace(" ", "").lower()


@graded(NAME, points=1, promises=["status-and-headers"])
async def test_answers_csv_with_its_headers(submission):
    """GET /invoices.csv answers 200, text/csv; charset=utf-8, as an attachment named invoices.csv."""
    (seen,) = await runs(submission, [{"rows": 30}])
    expect(
        seen["status"] == 200 and seen["complete"],
        f"GET /invoices.csv should answer 200 with the export; {answered(seen)}.",
    )
    expect(
        normalized(header(seen, "content-type")) == "text/csv;charset=utf-8",
        f"The Content-Type should be text/csv; charset=utf-8 (yours: {header(seen, 'content-type')!r}).",
    )
    expect(
        normalized(header(seen, "content-disposition")) == 'attachment;filename="invoices.csv"',
        'The Content-Disposition should be attachment; filename="invoices.csv" '
        f"(yours: {header(seen, 'content-disposition')!r}).",
    )


@graded(NAME, points=1.5, promises=["csv-rows"])
async def test_rows_are_written_as_csv_writer_writes_them(submission, reference):
    """The body is the header line and every invoice in id order, as csv.writer writes them."""
    cases = [{"rows": 60, "body": True}, {"rows": 1_234}]  # the second: several batches of any usual size
    seen, long = await runs(submission, cases)
    want, long_want = await runs(reference, cases)
    expect(seen["status"] == 200, f"GET /invoices.csv should answer 200; {answered(seen)}.")
    mine, theirs = seen["body"], want["body"]
    expect(
        mine.split("\r\n")[0] == HEADER,
        f"The export should start with the line {HEADER} (ending in \\r\\n, as "
        f"csv.writer ends lines); it starts with {mine[:60]!r}.",
    )
    expect(
        '"Hopper, Grace"' in mine and '"Edsger ""EWD"" Dijkstra"' in mine and '"Barbara\nLiskov"' in mine,
        "Names holding a comma, a double quote or a line break must be quoted as csv.writer quotes them "
        '("Hopper, Grace", doubled quotes inside); joining fields with "," breaks the file.',
    )
    expect(
        mine == theirs,
        "The export differs from what csv.writer writes for the table: the header line, then every "
        "invoice in id order, fields as stored, lines ending in \\r\\n.",
    )
    expect(
        (long["size"], long["sha256"]) == (long_want["size"], long_want["sha256"]),
        "The export of a table of 1,234 invoices differs from csv.writer's (it is right for 60): is every batch sent "
        "once, whole, and nothing of an earlier batch sent again?",
    )


@graded(NAME, points=1, promises=["min-cents"])
async def test_min_cents_keeps_the_larger_invoices(submission, reference):
    """?min_cents=N keeps invoices of at least N cents; none left: the header line alone."""
    cases = [
        {"rows": 60, "query": "min_cents=50000", "body": True},
        {"rows": 60, "query": "min_cents=100000", "body": True},
        {"rows": 60, "query": "min_cents=55433", "body": True},
    ]  # invoice 7's amount: kept
    seen, want = await runs(submission, cases), await runs(reference, cases)
    for one in seen:
        expect(one["status"] == 200, f"GET /invoices.csv?min_cents=N should answer 200; {answered(one)}.")
    expect(
        seen[1]["body"] == want[1]["body"],
        "When no invoice has min_cents or more, the export should be the header "
        f"line alone; yours: {seen[1]['body'][:120]!r}.",
    )
    expect(
        [one["body"] for one in seen] == [one["body"] for one in want],
        "?min_cents=N should keep exactly the invoices whose amount_cents is at least N (N itself included), in "
        "id order, after the header line.",
    )


# Tables of 0 to 80 invoices (every kind of customer name comes round every 6 rows), with or
# without ?min_cents= (thresholds that keep all, some, one or none, a negative one, and two that
# are the amounts of invoices 1 and 7, which must be kept).
EXPORTS = st.fixed_dictionaries(
    {
        "rows": st.integers(0, 80),
        "query": st.sampled_from(
            [
                None,
                "min_cents=0",
                "min_cents=1",
                "min_cents=7919",
                "min_cents=25000",
                "min_cents=55433",
                "min_cents=99990",
                "min_cents=100000",
                "min_cents=-5",
            ]
        ),
        "body": st.just(True),
    }
)


def promised(seen: dict) -> dict:
    return {
        "status": seen["status"],
        "content-type": normalized(header(seen, "content-type")),
        "content-disposition": normalized(header(seen, "content-disposition")),
        "body": seen.get("body"),
    }


def shown_export(case: dict) -> str:
    return f"GET /invoices.csv{'?' + case['query'] if case['query'] else ''} on a table of {case['rows']} invoices"


@graded(NAME, points=1, promises=["status-and-headers", "csv-rows", "min-cents"])
async def test_generated_tables_and_thresholds_as_the_task_says(submission, reference):
    """On generated tables and ?min_cents= thresholds, the status, headers and CSV are as the task says."""
    await require(submission, FACTORY, kind="function")

    async def batch(side, cases):
        return [promised(seen) for seen in await runs(side, cases)]

    await same_as_reference(
        submission,
        reference,
        NAME,
        EXPORTS,
        batch=batch,
        examples=8,
        show=shown_export,
        promise="GET /invoices.csv answers 200, text/csv; charset=utf-8, attachment; "
        'filename="invoices.csv", with the header line then every invoice in id order as '
        "csv.writer writes them; ?min_cents=N keeps those of at least N cents.",
    )


@graded(NAME, points=1.5, promises=["constant-memory"])
async def test_memory_does_not_grow_with_the_table(submission, reference):
    """From 1,000 to 6,000 invoices, memory grows far less than the CSV does, as the reference's, also for a
    client that stops reading (nothing may pile up while it does)."""
    stalled = {"stall_after_chunks": 1, "leave_after": 0.6, "memory": True}
    cases = [
        {"rows": SMALL, "memory": True},
        {"rows": LARGE, "memory": True},
        {"rows": LARGE, **stalled},
        {"rows": HUGE, **stalled},
    ]
    small, large, large_stalled, huge_stalled = await runs(submission, cases)
    want_small, want_large, want_large_stalled, want_huge_stalled = await runs(reference, cases)
    expect(
        small["status"] == large["status"] == 200 and large["complete"],
        f"An export of {LARGE:,} invoices should complete with 200; {answered(large)}.",
    )
    expect(
        large["chunks"] > 1,
        f"The export of {LARGE:,} invoices came in one piece: send it in pieces as you read the "
        "rows (a StreamingResponse over a generator), never as one body.",
    )
    extra = want_large["size"] - want_small["size"]
    growth, reference_growth = large["peak"] - small["peak"], want_large["peak"] - want_small["peak"]
    allowed = max(0.5 * extra, 5 * reference_growth)
    expect(
        growth < allowed,
        f"From {SMALL:,} to {LARGE:,} invoices, your export's peak memory grew by {growth / 1e6:.1f} MB for "
        f"{extra / 1e6:.1f} MB more CSV: read a batch of rows at a time (fetchmany) and yield it, never every row "
        "(fetchall) or the whole body at once.",
    )
    # Past a batch or two, what an export holds while its client reads nothing is the same for any table.
    growth = huge_stalled["peak"] - large_stalled["peak"]
    allowed = max(
        0.5 * extra * (HUGE - LARGE) / (LARGE - SMALL), 5 * (want_huge_stalled["peak"] - want_large_stalled["peak"])
    )
    expect(
        growth < allowed,
        f"A client stopped reading after the first piece, and from {LARGE:,} to {HUGE:,} invoices your export's peak "
        f"memory grew by {growth / 1e6:.1f} MB meanwhile: read the next batch only when the last one has been sent, "
        "so that nothing piles up while a client reads slowly.",
    )


@graded(NAME, points=1.5, promises=["closes-connection"], unhappy=True)
async def test_the_connection_is_closed_even_when_the_client_leaves(submission):
    """The connection from open_db is closed after the export, and within 0.5 s of a client leaving mid-way,
    whether it was reading or had stopped reading, and never while a worker thread is still running a query on
    it; the garbage collector is held meanwhile (the probe's)."""
    done, left, stalled = await runs(
        submission,
        [
            {"rows": 40, "watch_close": True},
            {"rows": LARGE, "leave_after_chunks": 2, "watch_close": True},
            {"rows": LARGE, "stall_after_chunks": 2, "leave_after": 0.3, "watch_close": True},
        ],
    )
    expect(
        done["opened"] > 0,
        "Open the database with the given open_db(db_path), so that the connection can be "
        "closed (the grader watches the connections open_db gives).",
    )
    expect(
        done["closed_within"] == done["opened"],
        "After a complete export the database connection was still open: "
        "close it (db.close()) once the last row is sent.",
    )
    for one, who in (
        (left, "A client left in the middle of the export"),
        (stalled, "A client stopped reading in the middle of the export, then left"),
    ):
        expect(
            one["opened"] > 0 and one["closed_within"] == one["opened"],
            f"{who}, and the database connection was still open half a second later (the garbage collector held): "
            "close it in the finally of an async generator that you give to StreamingResponse yourself, which "
            "Starlette cancels at its await when the client leaves. A generator that FastAPI iterates for you (a "
            "path operation that yields) can be left at its yield, and a sync generator in its thread: only the "
            "garbage collector ever closes those.",
        )
    # Each query or fetch in a worker thread lasts FETCH s (a slow disk, a busy database), and
    # the client leaves at moments that fall inside one: the finally then runs while a thread
    # still uses the connection, unless the cancellation waits for that thread.
    during = await runs(
        submission,
        [
            {"rows": LARGE, "leave_after": leave, "slow_fetch": FETCH, "watch_close": True}
            for leave in (1.5 * FETCH, 2.5 * FETCH)
        ],
    )
    for one in (done, left, stalled, *during):
        expect(
            one["closed_during_a_query"] == 0,
            "A client left while a worker thread was running your query, and the database connection was closed "
            "under it: a cancelled `await asyncio.to_thread(...)` does not stop its thread, and closing a sqlite3 "
            "connection under a running query can crash the whole server. Fetch with `run_in_threadpool` "
            "(starlette.concurrency), which lets the cancellation reach your finally only once the thread is done.",
        )
    for one in during:
        expect(
            one["opened"] > 0 and one["closed_within"] == one["opened"],
            "A client left while your export was fetching rows in a worker thread, and the database connection "
            "was still open half a second later (the garbage collector held): close it in the finally of an async "
            "generator that you give to StreamingResponse yourself.",
        )
