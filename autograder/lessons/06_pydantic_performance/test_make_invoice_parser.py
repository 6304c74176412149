"""Hidden tests for `make_invoice_parser`: a bulk parser on one reused TypeAdapter, validating JSON directly."""

import json

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import expect_errors, judged, probe, require, same_as_reference
from coursekit import data

from .inputs import edited, edits

pytestmark = pytest.mark.anyio
NAME = "make_invoice_parser"
ROWS = json.loads(json.dumps(data.rows("invoices"), default=str))  # dates as ISO strings


async def parse(submission, batches, as_text=False):
    await require(submission, NAME, kind="function")
    return await probe(submission, NAME, "lesson06.parse_batches", defined(NAME), batches, as_text=as_text)


@graded(NAME, points=1, promises=["list-of-invoices"])
async def test_parses_rows_into_stored_invoices(submission):
    """A JSON array of rows, as bytes or str, becomes a list of StoredInvoice, in order; an empty array an empty
    list."""
    got = await parse(submission, [json.dumps(ROWS), json.dumps(ROWS[:1]), "[]"])
    everything, one, empty = got["results"]
    expect(
        everything["ok"] and everything["type"] == "list",
        "parse(raw) should return a list for a JSON array of valid rows"
        + (f"; it raised errors {everything['errors'][:2]}" if not everything["ok"] else "."),
    )
    expect(
        everything["classes"] == ["StoredInvoice"] * len(ROWS), "Each element should become a StoredInvoice, in order."
    )
    expect(everything["data"] == ROWS and one["data"] == ROWS[:1], "The parsed invoices do not hold the rows' values.")
    expect(empty["ok"] and empty["data"] == [] and empty["type"] == "list", "An empty array should give an empty list.")
    (text,) = (await parse(submission, [json.dumps(ROWS[:3])], as_text=True))["results"]
    expect(
        text["ok"] and text["data"] == ROWS[:3],
        "parse(raw) should take raw as a str too, not only as bytes"
        + (f": given a str it raised errors {text['errors'][:2]}." if not text["ok"] else ".")
        + " Hand raw to the validation as it comes.",
    )


@graded(NAME, points=1, promises=["json-directly", "element-index"], unhappy=True)
async def test_errors_of_bad_input(submission):
    """Invalid JSON is json_invalid, a non-array list_type, and a bad element's errors start with its index."""
    bad = [dict(row) for row in ROWS[:4]]
    bad[2]["amount_cents"] = "many"
    bad[3]["currency"] = "CHF"
    cases = [
        ("[{", [((), "json_invalid")]),
        ('{"id": 1}', [((), "list_type")]),
        (json.dumps(bad), [((2, "amount_cents"), "int_parsing"), ((3, "currency"), "literal_error")]),
    ]
    got = await parse(submission, [raw for raw, _ in cases])
    expect_errors(
        got["results"][:2],
        [wanted for _, wanted in cases[:2]],
        "Bad input should raise a ValidationError: invalid JSON with one json_invalid error (validate the JSON "
        "directly, without json.loads), JSON that is not an array with list_type.",
        promises=["json-directly"],
    )
    expect_errors(
        got["results"][2:],
        [wanted for _, wanted in cases[2:]],
        "A bad element should raise a ValidationError with errors whose loc starts with its index, such as "
        "(2, 'amount_cents').",
        promises=["element-index"],
    )


@graded(NAME, points=1, negative=True, promises=["built-once"], unhappy=True)  # doing nothing builds none either
async def test_builds_no_adapter_per_call(submission):
    """parse builds no TypeAdapter: the one it uses was built once, by make_invoice_parser."""
    got = await parse(submission, [json.dumps(ROWS[:5])] * 3)
    expect(
        all(outcome["ok"] for outcome in got["results"]),
        "parse(raw) failed on valid rows.",
        promises=["list-of-invoices"],
    )
    expect(
        got["adapters_built"] == 0,
        f"parse built {got['adapters_built']} TypeAdapter(s) in 3 calls: build it once, in make_invoice_parser, "
        "and let the function you return reuse it.",
    )


# Three stored rows, edited in any field (or the whole row), as a JSON array; or JSON that is
# broken or not an array.
FIELDS = [
    "id",
    "tenant_id",
    "user_id",
    "number",
    "customer",
    "amount_cents",
    "currency",
    "status",
    "issued_on",
    "due_on",
    "extra",
]
PLACES = [[index] for index in range(3)] + [[index, field] for index in range(3) for field in FIELDS]
VALUES = st.sampled_from(
    [0, -1, 7, 2.0, 2.5, True, None, "", "7", "many", "CHF", "EUR", "paid", "PAID", "2024-02-30", "2024-03-01", [], {}]
)
BATCHES = edits(PLACES, VALUES).map(lambda changes: json.dumps(edited(ROWS[:3], changes))) | st.sampled_from(
    ["[{", "", "{}", "null", '{"id": 1}', "[]", "[1]"]
)


@graded(NAME, points=1, promises=["list-of-invoices", "json-directly", "element-index"], unhappy=True)
async def test_generated_batches_are_parsed_as_the_task_says(submission, reference):
    """On generated batches (rows edited in every field, broken JSON, JSON that is no array), the invoices or errors are
    as the task says."""
    await require(submission, NAME, kind="function")

    async def batch(side, raws):
        got = await probe(side, NAME, "lesson06.parse_batches", defined(NAME), raws)
        return [
            judged(outcome) | {"type": outcome.get("type"), "classes": outcome.get("classes")}
            for outcome in got["results"]
        ]

    await same_as_reference(
        submission,
        reference,
        NAME,
        BATCHES,
        batch=batch,
        examples=40,
        promise=["list-of-invoices", "json-directly", "element-index"],
    )
