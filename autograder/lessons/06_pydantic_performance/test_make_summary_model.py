"""Hidden tests for `make_summary_model`: a model with a custom serializer used for JSON only."""

import json
from datetime import date

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import error_list, probe, require, same_as_reference
from coursekit import data

pytestmark = pytest.mark.anyio
NAME = "make_summary_model"
FIELDS = ("number", "customer", "amount_cents", "currency", "issued_on")
ROWS = [
    {key: row[key] for key in FIELDS} | {"issued_on": row["issued_on"].isoformat()} for row in data.rows("invoices")
]
# Amounts where a float or a missing zero would show: 0, 5 cents, 1.00, 6819.40, 1234567.89, and
# 1000000000000000.01, past the integers a float holds exactly (2**53), even formatted with :.2f
EDGES = [ROWS[0] | {"amount_cents": cents} for cents in (0, 5, 100, 681940, 123456789, 10**17 + 1)]
DOCUMENTS = ROWS[:60] + EDGES


def expected_json(row: dict) -> dict:
    cents = row["amount_cents"]
    return {
        "number": row["number"],
        "customer": row["customer"],
        "amount": f"{cents // 100}.{cents % 100:02d} {row['currency']}",
        "issued_on": row["issued_on"],
    }


def in_order(text: str):
    """JSON text parsed with each object as its (key, value) pairs, in the text's order: the key
    order is promised, the spacing is not."""
    return json.loads(text, object_pairs_hook=list)


async def dumps(submission):
    await require(submission, NAME, kind="function")
    return await probe(submission, NAME, "lesson06.dump_summaries", defined(NAME), DOCUMENTS)


@graded(NAME, points=1.5, promises=["json-shape", "amount-text"], unhappy=True)  # amounts at the edges: 0, past 2**53
async def test_json_has_the_amount_as_text(submission):
    """In JSON, amount_cents and currency become one "amount" string with two decimals."""
    got = await dumps(submission)
    wanted = [expected_json(row) for row in DOCUMENTS]
    mine = [json.loads(text) for text in got["json_text"]]

    def but_amount(item):
        return (
            {key: value for key, value in item.items() if key != "amount"}
            if isinstance(item, dict) and "amount" in item
            else item
        )

    expect(
        [but_amount(item) for item in mine] == [but_amount(item) for item in wanted],
        "model_dump_json() should give {number, customer, amount, issued_on}, and nothing else.",
        promises=["json-shape"],
    )
    expect(
        mine == wanted,
        'model_dump_json() should give amount like "6819.40 USD": units, a dot, exactly two digits of cents '
        "(computed from the integer cents, for any number of them), a space, the currency.",
        promises=["amount-text"],
    )
    expect(
        got["json_mode"] == wanted,
        "model_dump(mode='json') should give the same as model_dump_json().",
        promises=["json-shape"],
    )


@graded(NAME, points=0.5, promises=["json-shape", "json-everywhere"])
async def test_json_keys_in_order_everywhere(submission):
    """The JSON text has its keys in the stated order, also inside a TypeAdapter's or a parent model's JSON."""
    got = await dumps(submission)
    wanted = [expected_json(row) for row in DOCUMENTS]
    expect(
        [in_order(text) for text in got["json_text"]] == [in_order(json.dumps(item)) for item in wanted],
        "The keys of the JSON should come in this order: number, customer, amount, issued_on.",
        promises=["json-shape"],
    )
    expect(
        in_order(got["adapter_text"]) == in_order(json.dumps(wanted))
        and in_order(got["parent_text"]) == in_order(json.dumps({"items": wanted})),
        "Dumped to JSON as part of something larger (a list through a TypeAdapter, a field of another model), a "
        "summary should still use your serializer: put it on the model itself.",
        promises=["json-everywhere"],
    )


@graded(NAME, points=1, promises=["python-unchanged"])
async def test_python_mode_is_unchanged(submission):
    """model_dump() (Python mode) keeps the five fields as validated."""
    got = await dumps(submission)
    wanted = [
        {key: row[key] for key in FIELDS[:-1]}
        | {"issued_on": {"$type": "date", "$repr": repr(date.fromisoformat(row["issued_on"]))}}
        for row in DOCUMENTS
    ]
    expect(
        got["python"] == wanted and all(list(item) == list(FIELDS) for item in got["python"]),
        "model_dump() in Python mode should not change: the five fields in order, amount_cents an int, issued_on a "
        "datetime.date. Limit your serializer to JSON.",
    )


@graded(NAME, points=0.5, promises=["fields"], unhappy=True)
async def test_validation_rules(submission):
    """amount_cents must be >= 0 and currency one of EUR, GBP, USD."""
    cases = [
        (ROWS[0] | {"amount_cents": -1}, [(("amount_cents",), "greater_than_equal")]),
        (ROWS[0] | {"currency": "CHF"}, [(("currency",), "literal_error")]),
        (ROWS[0] | {"issued_on": "2024-02-30"}, None),
    ]
    await require(submission, NAME, kind="function")
    got = await probe(submission, NAME, "lesson06.validate_documents", defined(NAME), [doc for doc, _ in cases])
    expect(error_list(got[0]) == cases[0][1], "A negative amount_cents should be refused with greater_than_equal.")
    expect(
        error_list(got[1]) == cases[1][1], "A currency other than EUR, GBP or USD should be refused with literal_error."
    )
    expect(not got[2]["ok"], "issued_on should be a date: an impossible date should be refused.")


SUMMARIES = st.fixed_dictionaries(
    {
        "number": st.sampled_from([row["number"] for row in ROWS[:3]]),
        "customer": st.sampled_from(["Acme GmbH", "Zo\u00eb & S\u00f6hne", "\u65e5\u672c", ""]),
        "amount_cents": st.integers(0, 10**12) | st.sampled_from([0, 1, 5, 9, 10, 99, 100, 101, 1000]),
        "currency": st.sampled_from(["EUR", "GBP", "USD"]),
        "issued_on": st.dates().map(date.isoformat),
    }
)


@graded(NAME, points=1, promises=["json-shape", "amount-text", "python-unchanged"], unhappy=True)
async def test_generated_summaries_dump_as_the_task_says(submission, reference):
    """On generated summaries (any amount of cents, every currency, non-ASCII names, any date), every dump is as the
    task says."""
    await require(submission, NAME, kind="function")

    async def batch(side, documents):
        got = await probe(side, NAME, "lesson06.dump_summaries", defined(NAME), documents)
        return [
            {"model_dump()": python, "model_dump(mode='json')": json_mode, "model_dump_json()": text}
            for python, json_mode, text in zip(got["python"], got["json_mode"], got["json_text"], strict=True)
        ]

    await same_as_reference(
        submission,
        reference,
        NAME,
        SUMMARIES,
        batch=batch,
        examples=40,
        promise={
            "model_dump()": "python-unchanged",
            "model_dump(mode='json')": ["json-shape", "amount-text"],
            "model_dump_json()": ["json-shape", "amount-text"],
        },
    )
