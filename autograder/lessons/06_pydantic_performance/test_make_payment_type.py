"""Hidden tests for `make_payment_type`: a union of three payment models, discriminated by `method`."""

import json

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import expect_errors, judged, probe, require, same_as_reference

from .inputs import edited, edits, shown_edits

pytestmark = pytest.mark.anyio
NAME = "make_payment_type"

CARD = {"method": "card", "amount": "12.50", "last4": "4242"}
TRANSFER = {"method": "transfer", "amount": "1999.00", "iban": "DE89370400440532013000"}
CASH = {"method": "cash", "amount": "0.05", "received_by": 7}


async def outcomes(submission, documents):
    await require(submission, NAME, kind="function")
    return await probe(submission, NAME, "lesson06.validate_with_adapter", defined(NAME), documents)


@graded(NAME, points=1, promises=["members", "field-order"])
async def test_each_method_gives_its_model(submission):
    """A card, a transfer and a cash payment validate into CardPayment, TransferPayment, CashPayment, and dump back
    with their fields in the table's order."""
    documents = [
        CARD,
        TRANSFER,
        CASH,
        {**CARD, "amount": 3},
        {**TRANSFER, "iban": "X" * 15},
        {**TRANSFER, "iban": "X" * 34},
    ]
    got = await outcomes(submission, documents)
    expect(
        all(outcome["ok"] for outcome in got),
        "A valid payment was refused: check each model's fields (amount may be given as a number or a string; "
        "an IBAN may have 15 to 34 characters).",
        promises=["members"],
    )
    expect(
        [outcome["class"] for outcome in got]
        == ["CardPayment", "TransferPayment", "CashPayment", "CardPayment", "TransferPayment", "TransferPayment"],
        "Each payment should become the model its method names: CardPayment, TransferPayment or CashPayment "
        "(with exactly these class names).",
        promises=["members"],
    )
    expect(
        [outcome["data"] for outcome in got[:3]] == [CARD, TRANSFER, CASH],
        "Dumped in JSON mode, a valid payment should give back its document (amount as a decimal string).",
        promises=["members"],
    )
    expect(
        [json.dumps(outcome["data"]) for outcome in got[:3]] == [json.dumps(each) for each in (CARD, TRANSFER, CASH)],
        "Dumped in JSON mode, a valid payment gives its fields in another order than the table's: method, "
        "amount, then the member's own field (a client reading the JSON sees the order you declare them in).",
        promises=["field-order"],
    )


async def check_cases(submission, cases, feedback, promises):
    expect_errors(
        await outcomes(submission, [document for document, _ in cases]),
        [wanted for _, wanted in cases],
        feedback,
        promises=promises,
    )


@graded(NAME, points=1.5, promises=["tag-errors", "tag-loc"], unhappy=True)
async def test_errors_are_those_of_a_discriminated_union(submission):
    """An unknown or missing method is one union_tag error; a bad field is reported under its tag only."""
    tags = [
        ({"method": "cheque", "amount": "1.00"}, [((), "union_tag_invalid")]),
        ({"amount": "1.00", "last4": "4242"}, [((), "union_tag_not_found")]),
    ]
    await check_cases(
        submission,
        tags,
        "The errors are not those of a union discriminated on `method`: an unknown method should be one "
        "union_tag_invalid error, a missing one union_tag_not_found, not one error per member of the "
        "union.",
        ["tag-errors"],
    )
    fields = [
        ({**CARD, "last4": "42"}, [(("card", "last4"), "string_pattern_mismatch")]),
        ({"method": "cash", "amount": "5.00"}, [(("cash", "received_by"), "missing")]),
    ]
    await check_cases(
        submission,
        fields,
        "The errors are not those of a union discriminated on `method`: a bad field should be one error "
        "whose loc starts with the tag, such as ('card', 'last4'), not one error per member of the union.",
        ["tag-loc"],
    )


@graded(NAME, points=0.5, promises=["member-fields"], unhappy=True)
async def test_member_field_rules(submission):
    """last4 is four digits, iban 15 to 34 characters, received_by > 0."""
    cases = [
        ({**CARD, "last4": "42a4"}, [(("card", "last4"), "string_pattern_mismatch")]),
        ({**CARD, "last4": "12345"}, [(("card", "last4"), "string_pattern_mismatch")]),
        ({**CARD, "last4": "x4242"}, [(("card", "last4"), "string_pattern_mismatch")]),
        ({**CARD, "last4": "4242x"}, [(("card", "last4"), "string_pattern_mismatch")]),
        ({**TRANSFER, "iban": "DE89"}, [(("transfer", "iban"), "string_too_short")]),
        ({**TRANSFER, "iban": "X" * 35}, [(("transfer", "iban"), "string_too_long")]),
        ({**CASH, "received_by": 0}, [(("cash", "received_by"), "greater_than")]),
    ]
    await check_cases(
        submission,
        cases,
        "A member's field rule gives other errors than stated: last4 must match ^\\d{4}$ "
        "as a whole, nothing before or after the four digits (string_pattern_mismatch), iban have 15 "
        "to 34 characters (string_too_short, string_too_long), received_by be > 0 (greater_than).",
        ["member-fields"],
    )


@graded(NAME, points=0.5, promises=["amount"], unhappy=True)
async def test_amount_rules(submission):
    """amount is > 0 with at most two decimal places, in every member."""
    cases = [
        ({**CARD, "amount": "0"}, [(("card", "amount"), "greater_than")]),
        ({**TRANSFER, "amount": "-3.00"}, [(("transfer", "amount"), "greater_than")]),
        ({**CASH, "amount": "1.005"}, [(("cash", "amount"), "decimal_max_places")]),
    ]
    await check_cases(
        submission,
        cases,
        "amount should be a Decimal > 0 (greater_than) with at most 2 decimal places (decimal_max_places), "
        "in each of the three models.",
        ["amount"],
    )


# A valid payment of each method, edited: every field of every member, the tag too, with values
# at each rule's edges.
PLACES = [["method"], ["amount"], ["last4"], ["iban"], ["received_by"]]
VALUES = st.sampled_from(
    [
        "card",
        "transfer",
        "cash",
        "cheque",
        "Card",
        "",
        None,
        0,
        1,
        -1,
        3,
        2.5,
        True,
        "0",
        "0.01",
        "1.005",
        "-3.00",
        "12.50",
        "4242",
        "42",
        "42a4",
        "12345",
        "x4242",
        "4242x",
        "X" * 14,
        "X" * 15,
        "X" * 34,
        "X" * 35,
        "7",
    ]
)
PAYMENTS = st.tuples(st.sampled_from([CARD, TRANSFER, CASH]), edits(PLACES, VALUES)).map(list)


@graded(
    NAME,
    points=1,
    promises=["members", "amount", "member-fields", "tag-errors", "tag-loc", "field-order"],
    unhappy=True,
)
async def test_generated_payments_are_judged_as_the_task_says(submission, reference):
    """On generated edits of valid payments (the method, the amount, each member's fields), the model and the errors are
    as the task says."""
    await require(submission, NAME, kind="function")

    async def batch(side, payments):
        documents = [edited(payment, changes) for payment, changes in payments]
        return [
            judged(outcome)
            for outcome in await probe(side, NAME, "lesson06.validate_with_adapter", defined(NAME), documents)
        ]

    await same_as_reference(
        submission,
        reference,
        NAME,
        PAYMENTS,
        batch=batch,
        examples=40,
        show=lambda payment: shown_edits(payment[1], f"the payment {payment[0]}"),
        promise={
            "valid": ["members", "amount", "member-fields"],
            "class": "members",
            "dump": ["members", "field-order"],
            "errors": ["amount", "member-fields", "tag-errors", "tag-loc"],
        },
    )
