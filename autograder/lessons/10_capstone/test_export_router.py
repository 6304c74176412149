"""Hidden tests for step 5, `export_router`: a CSV export streamed in constant memory.

A probe (``lesson10.export_runs``) serves ``make_app(url, export_router())`` on a fresh database
(with more invoices added to Acme where a case says so) in the sandbox and makes one GET
/invoices.csv per case through a client that plays a server's part (``coursekit.streams.http_call``:
it may leave in the middle, reading or not), the garbage collector held; it reports what the
client saw, the peak of Python's memory, and the connections left borrowed or thrown away. The
expected CSV is written here with ``csv.writer``, from the dataset (and the copies the probe adds).
"""

import csv
import io

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference
from coursekit import data

from .background import scenario as in_background

pytestmark = pytest.mark.anyio
NAME = "export_router"
INVOICE_FIELDS = ("id", "number", "customer", "amount_cents", "currency", "status", "issued_on", "due_on")
USERS = {row["id"]: row for row in data.rows("users")}
TENANTS = {row["id"]: row for row in data.rows("tenants")}
INVOICES = data.rows("invoices")
SMALL, LARGE = 1_000, 3_000  # invoices added to Acme in the two exports whose memory is compared


async def runs(side, cases: list[dict], *, apart: bool = False) -> list[dict]:
    """The exports of ``cases``, in one probe call, or ``apart``, one call each (a large export
    within the time limit of one call)."""
    await require(side, "make_app", kind="function")
    await require(side, NAME, kind="function")
    batches = [[case] for case in cases] if apart else [cases]
    return [
        seen
        for batch in batches
        for seen in await in_background(
            side, NAME, "export_runs", defined("make_app"), defined(NAME), defined("new_database"), batch
        )
    ]


def expected_csv(tenant_id: int, status: str | None = None, more: int = 0) -> str:
    """The export of the dataset, or of Acme with ``more`` invoices added (as the probe's
    ``add_invoices`` adds them: copies of the dataset's in turn, numbered COPY-<n>)."""
    rows = [row for row in INVOICES if row["tenant_id"] == tenant_id and status in (None, row["status"])]
    rows += [
        {**INVOICES[(copy - 1) % len(INVOICES)], "id": len(INVOICES) + copy, "number": f"COPY-{copy}"}
        for copy in range(1, more + 1)
    ]
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(INVOICE_FIELDS)
    writer.writerows([row[name] for name in INVOICE_FIELDS] for row in rows)
    return text.getvalue()


def header(seen: dict, name: str) -> str | None:
    return next((value for key, value in seen["headers"] if key == name), None)


def answered(seen: dict) -> str:
    if seen["status"] is None:
        return "it sent no answer" + (f" (it raised {seen['error']})" if seen["error"] else "")
    return f"it answered {seen['status']}" + (f" and raised {seen['error']}" if seen["error"] else "")


@graded(NAME, points=1.5, promises=["csv-response"], unhappy=True)
async def test_export_router_answers_csv_to_admins_only(submission):
    """An admin gets 200 text/csv; charset=utf-8 as an attachment named <slug>-invoices.csv; a member 403; no valid
    token 401."""
    admins = [1, 15, 27, 36]
    seen = await runs(
        submission, [{"user": admin} for admin in admins] + [{"user": 3}, {"user": 28}, {"user": None}, {"user": 13}]
    )
    for admin, one in zip(admins, seen, strict=False):
        slug = TENANTS[USERS[admin]["tenant_id"]]["slug"]
        expect(
            one["status"] == 200 and one["complete"],
            f"GET /invoices.csv as an admin of {slug} should answer 200 with the export; {answered(one)}.",
        )
        expect(
            header(one, "content-type") == "text/csv; charset=utf-8",
            f"The Content-Type should be text/csv; charset=utf-8 (yours: {header(one, 'content-type')!r}).",
        )
        expect(
            header(one, "content-disposition") == f'attachment; filename="{slug}-invoices.csv"',
            f'The Content-Disposition of {slug}\'s export should be attachment; filename="{slug}-invoices.csv" '
            f"(yours: {header(one, 'content-disposition')!r}).",
        )
    for one, label, status in zip(
        seen[len(admins) :],
        ("a member", "a member", "no token", "an inactive user's token"),
        (403, 403, 401, 401),
        strict=True,
    ):
        expect(one["status"] == status, f"GET /invoices.csv with {label} should answer {status}; {answered(one)}.")


@graded(NAME, points=2, promises=["rows"])
async def test_export_router_writes_the_tenants_invoices_as_csv_writer_does(submission):
    """The header line, then the tenant's invoices in id order (those of ?status= when given, empty too), as csv.writer
    writes them; also with 1,234 more."""
    cases = [
        {"user": 1, "body": True},
        {"user": 15, "query": "status=paid", "body": True},
        {"user": 27, "query": "status=void", "body": True},
        {"user": 36, "body": True},
        {"user": 1, "query": "status=", "body": True},
        {"user": 1, "more": 1_234, "body": True},
    ]
    seen = await runs(submission, cases)
    wanted = [expected_csv(1), expected_csv(2, "paid"), expected_csv(3, "void"), expected_csv(4), expected_csv(1, "")]
    for one, want, label in zip(
        seen,
        wanted,
        (
            "Acme's export",
            "Globex's export of ?status=paid",
            "Initech's export of ?status=void",
            "Umbrella's (empty) export",
            "Acme's export of ?status= (a status given, empty, that no invoice has: the header line alone)",
        ),
        strict=False,
    ):
        expect(one["status"] == 200, f"GET /invoices.csv as an admin should answer 200; {answered(one)}.")
        body = one.get("body", "")
        expect(
            body.split("\r\n")[0] == ",".join(INVOICE_FIELDS),
            f"The export should start with the header line {','.join(INVOICE_FIELDS)} (ending in \\r\\n as "
            f"csv.writer ends lines); it starts with {body[:80]!r}.",
        )
        expect(
            body == want,
            f"{label} differs from what csv.writer writes for the tenant's invoices in id order (names "
            "with commas or quotes quoted, dates as ISO): read the rows in id order and write them with "
            "csv.writer.",
        )
    expect(
        seen[-1].get("body") == expected_csv(1, more=1_234),
        "The export of Acme with 1,234 more invoices differs from csv.writer's (it is right for the dataset's): is "
        "every batch sent once, whole, and nothing of an earlier batch sent again?",
    )


@graded(NAME, points=2, promises=["constant-memory"])
async def test_export_router_streams_in_constant_memory(submission):
    """From 1,000 to 3,000 more invoices, the export's peak memory grows by less than half the CSV's growth (a streamed
    export's does not grow)."""
    # A first export, not measured, warms up what any first request makes once (caches, imports).
    cases = [
        {"user": 1, "more": SMALL},
        {"user": 1, "more": SMALL, "memory": True},
        {"user": 1, "more": LARGE, "memory": True},
    ]
    _, small, large = await runs(submission, cases, apart=True)
    expect(
        small["complete"] and large["complete"],
        f"The export of Acme with {LARGE:,} more invoices should complete; {answered(large)}.",
    )
    expect(
        large["chunks"] > 2,
        f"The export of {LARGE:,} more invoices came in {large['chunks']} piece(s): send it in "
        "batches as you read the rows (a StreamingResponse over a generator).",
    )
    extra = len(expected_csv(1, more=LARGE).encode()) - len(expected_csv(1, more=SMALL).encode())
    growth = large["peak"] - small["peak"]
    expect(
        growth < 0.5 * extra,
        f"From {SMALL:,} to {LARGE:,} more invoices, your export's peak memory grew by {growth / 1e6:.1f} MB for "
        f"{extra / 1e6:.1f} MB more CSV: read the rows a batch at a time (a server-side cursor: session.stream, "
        "partitions) and yield each batch, never every row (.all()) or the whole body at once.",
    )


@graded(NAME, points=2, promises=["client-leaves"], unhappy=True)
async def test_export_router_gives_its_connection_back_whole(submission):
    """After a complete export, and within 0.5 s of a client leaving after its first piece or in the middle (reading or
    not), no connection is borrowed or thrown away."""
    cases = [
        {"user": 1, "more": LARGE},
        {"user": 1, "more": LARGE, "leave_after_chunks": 1},
        {"user": 1, "more": LARGE, "leave_after_chunks": 2},
        {"user": 1, "more": LARGE, "stall_after_chunks": 2, "leave_after": 0.3},
    ]
    for one, label in zip(
        await runs(submission, cases, apart=True),
        (
            "An export was sent in full",
            "A client left after the first piece of the export",
            "A client left in the middle of the export",
            "A client stopped reading in the middle of the export, then left",
        ),
        strict=True,
    ):
        expect(one["status"] == 200, f"GET /invoices.csv as an admin should answer 200; {answered(one)}.")
        expect(
            one["borrowed"] == 0,
            f"{label}, and half a second later {one['borrowed']} connection(s) were still borrowed (the garbage "
            "collector held): stream from the request's session (get_session closes it once the response has "
            "ended), and close the result you stream from in your generator's finally.",
        )
        expect(
            one["invalidated"] == 0,
            f"{label}, and the connection was thrown away (invalidated): a cancel landed inside a database call. "
            "Shield the calls your generator awaits (anyio.CancelScope(shield=True)), so that the cancel lands at a "
            "yield.",
        )


# Generated exports: admins, members and strangers of every tenant, each status or none.
EXPORTS = st.fixed_dictionaries(
    {
        "user": st.sampled_from([1, 2, 15, 27, 36, 3, 28, None]),
        "query": st.sampled_from(
            [None, "status=draft", "status=sent", "status=paid", "status=void", "status=lost", "status="]
        ),
        "body": st.just(True),
    }
)


def promised(seen: dict) -> dict:
    return {
        "status": seen["status"],
        "headers": [header(seen, "content-type"), header(seen, "content-disposition")]
        if seen["status"] == 200
        else None,
        "body": seen.get("body") if seen["status"] == 200 else None,
    }


def shown_export(case: dict) -> str:
    who = "without a token" if case["user"] is None else f"as user {case['user']}"
    return f"GET /invoices.csv{'?' + case['query'] if case['query'] else ''} {who}"


@graded(NAME, points=1.5, promises=["csv-response", "rows"])
async def test_export_router_answers_generated_exports_as_the_task_says(submission, reference):
    """On generated exports (admins, members and strangers of every tenant, each status), the status, headers and CSV
    are as the task says."""
    await require(submission, "make_app", kind="function")
    await require(submission, NAME, kind="function")

    async def batch(side, cases):
        return [
            promised(seen)
            for seen in await in_background(
                side, NAME, "export_runs", defined("make_app"), defined(NAME), defined("new_database"), cases
            )
        ]

    await same_as_reference(
        submission,
        reference,
        NAME,
        EXPORTS,
        batch=batch,
        examples=5,
        show=shown_export,
        promise={"status": ["csv-response"], "headers": ["csv-response"], "body": ["rows"]},
    )
