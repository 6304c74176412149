"""Hidden tests for `make_invoice_model`: the invoice document's models, their rules and their errors."""

import copy
import json
from datetime import date

import pytest
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import expect_errors, judged, probe, require, same_as_reference
from coursekit import data

from .inputs import edited, edits, shown_edits

pytestmark = pytest.mark.anyio
NAME = "make_invoice_model"
DOCUMENTS = data.invoice_documents(450)  # the 400 invoices, then 50 more with new ids
BASE = DOCUMENTS[6]  # a paid invoice with two lines and a note


def changed(edit) -> dict:
    document = copy.deepcopy(BASE)
    edit(document)
    return document


def date_error(text: str) -> str:
    """The error type Pydantic itself gives a bad date string."""
    try:
        TypeAdapter(date).validate_python(text)
    except ValidationError as exc:
        return exc.errors()[0]["type"]
    raise AssertionError(f"{text!r} is a valid date")


def put(path, value):
    def edit(document):
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def both(*edits):
    def edit(document):
        for each in edits:
            each(document)

    return edit


def drop(path):
    def edit(document):
        target = document
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return edit


async def outcomes(submission, documents):
    await require(submission, NAME, kind="function")
    return await probe(submission, NAME, "lesson06.validate_documents", defined(NAME), documents)


async def check_cases(submission, cases, feedback, promises):
    """cases: [(edit, expected errors as [(loc, type)])]; all validated in one probe call. A
    difference breaks ``promises`` (those of the test that these cases are about)."""
    expect_errors(
        await outcomes(submission, [changed(edit) for edit, _ in cases]),
        [wanted for _, wanted in cases],
        feedback,
        promises=promises,
    )


@graded(NAME, points=1, promises=["accepts-valid", "dump-back"])
async def test_valid_documents_round_trip(submission):
    """Every invoice document validates, and model_dump(mode='json') gives it back unchanged."""
    got = await outcomes(submission, DOCUMENTS)
    refused = [outcome for outcome in got if not outcome["ok"]]
    expect(
        not refused,
        "Some valid invoice documents were refused, e.g. with errors "
        f"{refused[0]['errors'][:3] if refused else ''}. Check each rule against the table.",
        promises=["accepts-valid"],
    )
    expect(
        all(outcome["class"] == "Invoice" for outcome in got),
        "make_invoice_model() should return the class named Invoice.",
        promises=["accepts-valid"],
    )
    expect(
        all(outcome["data"] == document for outcome, document in zip(got, DOCUMENTS, strict=True)),
        "model_dump(mode='json') of a valid document should give back the same document: the same keys, "
        "unit_price as a decimal string, dates as ISO strings, null optional fields kept.",
        promises=["dump-back"],
    )
    expect(
        all(
            json.dumps(outcome["data"]) == json.dumps(document)
            for outcome, document in zip(got, DOCUMENTS, strict=True)
        ),
        "model_dump(mode='json') of a valid document gives its keys in another order than the document's "
        "(a client reading the JSON sees it): declare the fields of Invoice, Customer and Line in the order "
        "their keys come in the document.",
        promises=["dump-back"],
    )
    edge = [
        changed(put(["number"], "ACME-2024-12345")),
        changed(put(["customer", "name"], "x")),
        changed(put(["customer", "name"], "x" * 200)),
        changed(put(["lines", 0, "description"], "x")),
        changed(put(["customer", "email"], "ap@acme.example")),
        changed(put(["due_on"], BASE["issued_on"])),
        changed(put(["lines", 0, "unit_price"], 12.5)),
        changed(put(["lines", 0, "unit_price"], "0")),
        changed(put(["note"], "x" * 500)),
        changed(drop(["paid_on"])),
        changed(drop(["customer", "email"])),
    ]
    accepted = await outcomes(submission, edge)
    expect(
        all(outcome["ok"] for outcome in accepted),
        "A document at the edge of the rules was refused: a longer sequence number, a name or a description "
        "of 1 character, a 200-character name, "
        "an e-mail, due on the day of issue, a price of 0 or given as a number, a 500-character note, "
        "or a missing optional field (paid_on, email) should all be accepted.",
        promises=["accepts-valid"],
    )


@graded(NAME, points=0.5, promises=["due-after-issue"], unhappy=True)
async def test_due_on_not_before_issued_on(submission):
    """due_on before issued_on is one value_error at ('due_on',), checked only when issued_on is valid."""
    cases = [
        (put(["due_on"], "2020-01-01"), [(("due_on",), "value_error")]),
        (
            both(put(["issued_on"], "not a date"), put(["due_on"], "2020-01-01")),
            [(("issued_on",), date_error("not a date"))],
        ),
    ]
    await check_cases(
        submission,
        cases,
        "due_on before issued_on should give exactly one error, of type value_error, at loc ('due_on',); "
        "and when issued_on is itself invalid, only issued_on's error.",
        ["due-after-issue"],
    )


@graded(NAME, points=1.5, promises=["field-errors", "whole-number"], unhappy=True)
async def test_field_rules_give_the_stated_errors(submission):
    """Each field's rule refuses bad values with the error type of the table, at the field's loc."""
    cases = [
        (put(["id"], 0), [(("id",), "greater_than")]),
        (put(["number"], "acme-2024-0001"), [(("number",), "string_pattern_mismatch")]),
        (put(["number"], "ACME-2024-001"), [(("number",), "string_pattern_mismatch")]),
        (put(["customer", "name"], ""), [(("customer", "name"), "string_too_short")]),
        (put(["customer", "name"], "x" * 201), [(("customer", "name"), "string_too_long")]),
        (put(["currency"], "CHF"), [(("currency",), "literal_error")]),
        (put(["status"], "cancelled"), [(("status",), "literal_error")]),
        (put(["issued_on"], "2024-13-01"), [(("issued_on",), date_error("2024-13-01"))]),
        (put(["lines"], []), [(("lines",), "too_short")]),
        (put(["lines", 1, "description"], ""), [(("lines", 1, "description"), "string_too_short")]),
        (put(["lines", 0, "description"], "x" * 101), [(("lines", 0, "description"), "string_too_long")]),
        (put(["note"], "x" * 501), [(("note",), "string_too_long")]),
        (drop(["currency"]), [(("currency",), "missing")]),
        (drop(["customer", "name"]), [(("customer", "name"), "missing")]),
    ]
    await check_cases(
        submission,
        cases,
        "A bad value got other errors than the table states (check each field's rule, its error type, "
        "and that its loc is the field's own path, e.g. ('customer', 'name')).",
        ["field-errors"],
    )
    around = [
        (put(["number"], "xACME-2024-0001"), [(("number",), "string_pattern_mismatch")]),
        (put(["number"], "ACME-2024-0001x"), [(("number",), "string_pattern_mismatch")]),
    ]
    await check_cases(
        submission,
        around,
        "A number with something before or after a valid one was accepted: the whole string must match "
        "the pattern, from its first character to its last. Pydantic's pattern= looks for a match "
        "anywhere in the string: what in the pattern ties it to the start and the end?",
        ["whole-number"],
    )


@graded(NAME, points=0.5, promises=["strict-quantity", "field-errors"], unhappy=True)
async def test_quantity_is_strict_and_prices_have_two_places(submission):
    """quantity is a strict positive int; unit_price is >= 0 with at most 2 decimal places."""
    strict = [
        (put(["lines", 0, "quantity"], "3"), [(("lines", 0, "quantity"), "int_type")]),
        (put(["lines", 0, "quantity"], 2.0), [(("lines", 0, "quantity"), "int_type")]),
        (put(["lines", 0, "quantity"], True), [(("lines", 0, "quantity"), "int_type")]),
    ]
    await check_cases(
        submission,
        strict,
        "quantity must be strict: a string, a float or a bool is an int_type error.",
        ["strict-quantity"],
    )
    bounds = [
        (put(["lines", 1, "quantity"], 0), [(("lines", 1, "quantity"), "greater_than")]),
        (put(["lines", 0, "unit_price"], "-1.00"), [(("lines", 0, "unit_price"), "greater_than_equal")]),
        (put(["lines", 0, "unit_price"], "1.234"), [(("lines", 0, "unit_price"), "decimal_max_places")]),
    ]
    await check_cases(
        submission,
        bounds,
        "quantity must be > 0 (greater_than); unit_price must be >= 0 (greater_than_equal) with at most 2 "
        "decimal places (decimal_max_places).",
        ["field-errors"],
    )


@graded(NAME, points=0.5, promises=["extra-forbidden", "field-errors"], unhappy=True)
async def test_unknown_keys_are_refused_everywhere(submission):
    """An unknown key is an extra_forbidden error, in the invoice, its customer and its lines."""
    cases = [
        (put(["discount"], "5%"), [(("discount",), "extra_forbidden")]),
        (put(["customer", "vat"], "DE1"), [(("customer", "vat"), "extra_forbidden")]),
        (put(["lines", 1, "sku"], "A-1"), [(("lines", 1, "sku"), "extra_forbidden")]),
    ]
    await check_cases(
        submission,
        cases,
        "Unknown keys should be refused (extra_forbidden) in Invoice, Customer and Line alike: each model "
        "needs the setting, it is not inherited by nested models.",
        ["extra-forbidden"],
    )
    two = [
        (
            both(put(["currency"], "CHF"), put(["lines", 0, "quantity"], 0)),
            [(("currency",), "literal_error"), (("lines", 0, "quantity"), "greater_than")],
        )
    ]
    await check_cases(
        submission,
        two,
        "A document with two bad fields should get both errors, each at its field's loc.",
        ["field-errors"],
    )


# Where edits land: every field of the table, in the invoice, its customer and its lines, and
# unknown keys; and values near each rule's edges, of every JSON type.
PLACES = [
    ["id"],
    ["number"],
    ["customer"],
    ["customer", "name"],
    ["customer", "email"],
    ["currency"],
    ["status"],
    ["issued_on"],
    ["due_on"],
    ["lines"],
    ["lines", 0],
    ["lines", 0, "description"],
    ["lines", 0, "quantity"],
    ["lines", 1, "quantity"],
    ["lines", 0, "unit_price"],
    ["lines", 1, "unit_price"],
    ["paid_on"],
    ["note"],
    ["discount"],
    ["customer", "vat"],
    ["lines", 1, "sku"],
]
VALUES = st.sampled_from(
    [
        0,
        1,
        2,
        -1,
        3,
        1.5,
        2.0,
        0.0,
        True,
        None,
        [],
        {},
        "",
        "x",
        "3",
        "x" * 100,
        "x" * 101,
        "x" * 200,
        "x" * 201,
        "x" * 500,
        "x" * 501,
        "ACME-2024-0001",
        "AB-2024-12345",
        "acme-2024-0001",
        "xACME-2024-0001",
        "ACME-2024-0001x",
        "ACME-24-0001",
        "ACME-2024-001",
        "EUR",
        "GBP",
        "USD",
        "CHF",
        "eur",
        "draft",
        "sent",
        "paid",
        "void",
        "cancelled",
        "2024-01-31",
        "2024-02-30",
        "2023-12-31",
        "2030-06-01",
        "1.00",
        "0",
        "-0.01",
        "1.234",
        "12.5",
        "0.10",
    ]
)


@graded(
    NAME,
    points=1,
    promises=[
        "accepts-valid",
        "field-errors",
        "whole-number",
        "strict-quantity",
        "extra-forbidden",
        "due-after-issue",
        "dump-back",
    ],
    unhappy=True,
)
async def test_generated_documents_are_judged_as_the_table_says(submission, reference):
    """On generated edits of a valid invoice (every field, values at each rule's edges, unknown keys), valid or invalid
    as the table says, with its errors."""
    await require(submission, NAME, kind="function")

    async def batch(side, changes):
        documents = [edited(BASE, each) for each in changes]
        return [
            judged(outcome)
            for outcome in await probe(side, NAME, "lesson06.validate_documents", defined(NAME), documents)
        ]

    await same_as_reference(
        submission,
        reference,
        NAME,
        edits(PLACES, VALUES),
        batch=batch,
        examples=60,
        show=lambda changes: shown_edits(changes, "a valid invoice of the data set"),
        promise={
            "valid": ["accepts-valid", "field-errors"],
            "class": "accepts-valid",
            "dump": "dump-back",
            "errors": ["field-errors", "whole-number", "strict-quantity", "extra-forbidden", "due-after-issue"],
        },
    )
