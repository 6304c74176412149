"""Hidden tests for step 3, `create_invoice`: one transaction, an idempotency key, a durable job.

Probes (``lesson10.creation_report``, ``idempotency_report``, ``relay_report``,
``report_route_report``) make ``make_app(url, creation_router(report_actor(broker, url)))`` on a
fresh database in the sandbox, with a broker of the probe's (a StubBroker that keeps every
message, reads with a second connection whether the invoice and its job were stored when it got
it, and can be down), run one scenario each and report statuses, bodies, the rows left and the
messages sent. Expected numbers and rows come from the dataset, read here; expected report texts
from the reference's ``report_text``. A differential test posts generated sequences (valid and
invalid bodies, tenants, keys) to both sides and compares what they answered, stored and sent.
"""

import json

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import require, same_as_reference
from coursekit import data

from .background import scenario as in_background

pytestmark = pytest.mark.anyio
NAME = "create_invoice"
PARTS = ("make_app", "report_actor", "creation_router")
INVOICE_FIELDS = ("id", "number", "customer", "amount_cents", "currency", "status", "issued_on", "due_on")
USERS = {row["id"]: row for row in data.rows("users")}
TENANTS = {row["id"]: row for row in data.rows("tenants")}
INVOICES = data.rows("invoices")
NEW = {
    "customer": "Café Müller",
    "amount_cents": 12_345,
    "currency": "EUR",
    "issued_on": "2026-07-01",
    "due_on": "2026-07-31",
}

# Bodies the statement refuses (422), each with what it breaks, for the feedback.
REFUSED = [
    ("no body fields at all", {}),
    ("no due_on", {key: value for key, value in NEW.items() if key != "due_on"}),
    ("an empty customer", {**NEW, "customer": ""}),
    ("a customer of 201 characters", {**NEW, "customer": "x" * 201}),
    ("a customer that is null", {**NEW, "customer": None}),
    ("a negative amount", {**NEW, "amount_cents": -1}),
    ("an amount with a fraction (12.5)", {**NEW, "amount_cents": 12.5}),
    ("the currency CHF", {**NEW, "currency": "CHF"}),
    ("the currency eur (lower case)", {**NEW, "currency": "eur"}),
    ("an issued_on that is no date (2026-02-30)", {**NEW, "issued_on": "2026-02-30"}),
    ("a due_on before issued_on", {**NEW, "due_on": "2026-06-30"}),
    ("a JSON list instead of an object", [NEW]),
]
# Invoices created in turn, as [user, body]: every tenant's numbering, a year without invoices,
# and the limits the statement accepts (200 characters, 0 cents, due on the issue date).
CREATED = [
    [3, NEW],
    [1, {**NEW, "customer": "y" * 200, "amount_cents": 0, "issued_on": "2026-12-31", "due_on": "2026-12-31"}],
    [15, {**NEW, "customer": "Jensen, Jensen & Jensen", "currency": "GBP", "issued_on": "2026-01-02"}],
    [3, {**NEW, "currency": "USD", "issued_on": "2031-03-01", "due_on": "2031-04-01"}],
    [37, {**NEW, "customer": "Z", "issued_on": "2025-05-05", "due_on": "2025-06-05"}],
]

_reports: dict = {}  # one run of each scenario per submission


async def scenario(submission, name: str, *args) -> dict:
    """The probe ``name``'s report on the learner's service, run once per submission."""
    if name not in _reports:
        for part in PARTS:
            await require(submission, part, kind="function")
        await require(submission, "send_pending", kind="async function")
        _reports[name] = await in_background(
            submission, NAME, name, defined("make_app"), defined("report_actor"), defined("creation_router"), *args
        )
    return _reports[name]


async def creations(side) -> dict:
    return await scenario(side, "creation_report", defined("new_database"), [body for _, body in REFUSED], CREATED)


def issued_in(tenant_id: int, year: int) -> int:
    return sum(row["tenant_id"] == tenant_id and row["issued_on"].year == year for row in INVOICES)


def expected_numbers() -> list[str]:
    """The number of each invoice of CREATED, counted from the dataset and the ones before it."""
    numbers, made = [], {}
    for user_id, body in CREATED:
        tenant = USERS[user_id]["tenant_id"]
        year = int(body["issued_on"][:4])
        made[tenant, year] = made.get((tenant, year), 0) + 1
        numbers.append(f"{TENANTS[tenant]['slug'].upper()}-{year}-{issued_in(tenant, year) + made[tenant, year]:04d}")
    return numbers


def shown(answer: dict) -> str:
    return f"{answer['status']} {answer['text'][:160]}"


@graded(NAME, points=1.5, promises=["body-422"], unhappy=True)
async def test_create_invoice_refuses_what_the_statement_refuses(submission):
    """Each body the statement refuses gets 422 and creates nothing; its limits (1 and 200 characters, 0 cents, due on
    the issue date) are accepted."""
    report = await creations(submission)
    for (label, _), answer in zip(REFUSED, report["refused"], strict=True):
        expect(answer["status"] == 422, f"POST /invoices with {label} should answer 422; it answered {shown(answer)}.")
        expect(
            answer["added"] == [0, 0], f"POST /invoices with {label} was refused, yet it stored an invoice or a job."
        )
    limits = report["created"][1]
    expect(
        limits["status"] == 201,
        "POST /invoices with a customer of 200 characters, an amount of 0 and due_on equal to issued_on is valid "
        f"and should answer 201; it answered {shown(limits)}.",
    )
    shortest = report["created"][4]
    expect(
        shortest["status"] == 201,
        f"POST /invoices with a customer of 1 character is valid and should answer 201; it answered {shown(shortest)}.",
    )


@graded(NAME, points=2, promises=["created"])
async def test_create_invoice_stores_a_numbered_draft_of_the_callers_tenant(submission):
    """Each created invoice is a draft of the caller's tenant, made by the caller, numbered <SLUG>-<year>-<seq> on 4
    digits."""
    report = await creations(submission)
    for (user_id, body), number, answer in zip(CREATED, expected_numbers(), report["created"], strict=True):
        expect(
            answer["status"] == 201,
            f"POST /invoices with a valid body as user {user_id} should answer 201; it answered {shown(answer)}.",
        )
        row = answer["row"]
        expect(row is not None, "The id your 201 answered is not an invoice in the database: answer the stored one.")
        user = USERS[user_id]
        expect(
            (row["tenant_id"], row["user_id"], row["status"]) == (user["tenant_id"], user_id, "draft"),
            "A new invoice should be a draft of the caller's tenant, with user_id the caller's: got tenant "
            f"{row['tenant_id']}, user {row['user_id']}, status {row['status']!r} for user {user_id} of tenant "
            f"{user['tenant_id']}.",
        )
        stored = {key: row[key] for key in ("customer", "amount_cents", "currency", "issued_on", "due_on")}
        expect(stored == body, f"The invoice should store the body's fields as given; stored {stored}.")
        expect(
            row["number"] == number,
            f"Invoice number {row['number']!r} should be {number!r}: the tenant's slug upper-cased, the year of "
            "issued_on, and one more than the tenant's invoices issued that year (those created before it too), "
            "on 4 digits.",
        )


@graded(NAME, points=1, promises=["answer-201"])
async def test_create_invoice_answers_201_with_the_invoice_and_its_location(submission):
    """The 201 holds exactly the invoice's INVOICE_FIELDS and report_url; Location: /invoices/<id>."""
    report = await creations(submission)
    for answer in report["created"]:
        expect(
            answer["status"] == 201, f"POST /invoices with a valid body should answer 201; it answered {shown(answer)}."
        )
        body, row = answer["json"], answer["row"]
        expect(
            isinstance(body, dict) and set(body) == {*INVOICE_FIELDS, "report_url"},
            'The 201 should be a JSON object with exactly the keys of INVOICE_FIELDS and "report_url"; got '
            f"{sorted(body) if isinstance(body, dict) else body!r}.",
        )
        expect(
            row is not None and {key: body[key] for key in INVOICE_FIELDS} == {key: row[key] for key in INVOICE_FIELDS},
            "The 201's fields should be the invoice as stored (its id, number, status, dates as ISO strings).",
        )
        expect(
            body["report_url"] == f"/invoices/{body['id']}/report",
            f'"report_url" should be "/invoices/{body["id"]}/report"; it is {body["report_url"]!r}.',
        )
        expect(
            answer["location"] == f"/invoices/{body['id']}",
            f"The 201 should carry the header Location: /invoices/{body['id']}; it has {answer['location']!r}.",
        )


@graded(NAME, points=1.5, promises=["outbox"], unhappy=True)
async def test_create_invoice_writes_its_job_in_the_invoices_transaction(submission):
    """Every invoice created has its job report-<id>; when the job cannot be written, the invoice is not kept either."""
    report = await creations(submission)
    ids = [(answer["json"] or {}).get("id") for answer in report["created"] if isinstance(answer["json"], dict)]
    keys = {invoice_id: key for key, invoice_id, _ in report["jobs"]}
    expect(
        ids and all(keys.get(invoice_id) == f"report-{invoice_id}" for invoice_id in ids),
        "Each invoice created should have its report job in report_jobs, under the idempotency key "
        f"'report-<invoice id>'; found {report['jobs'][:5]}.",
    )
    blocked = report["blocked"]
    expect(
        not blocked["invoice_kept"],
        "When the invoice's report job could not be written (its key was taken), the invoice was stored anyway: "
        "write both in one transaction, so that they are stored both or neither.",
    )
    expect(blocked["sent"] == 0, "A job was sent for an invoice whose creation failed: send only what was committed.")


@graded(NAME, points=1.5, promises=["sent-after-commit"])
async def test_create_invoice_sends_the_job_once_the_invoice_is_committed(submission):
    """Each invoice's job reaches the broker once, as render_report(id, 'report-<id>'), after the commit; it is then
    marked sent."""
    report = await creations(submission)
    expect(
        report["actor_name"] == "render_report" and "render_report" in report["declared"],
        "report_actor(broker, url) should declare the actor on that broker under the name 'render_report' and "
        f"return it; its name is {report['actor_name']!r}, the broker knows {report['declared']}.",
    )
    ids = [
        answer["json"]["id"]
        for answer in report["created"]
        if isinstance(answer["json"], dict) and "id" in answer["json"]
    ]
    sent = [(message["actor"], message["args"]) for message in report["messages"]]
    expect(
        sent == [("render_report", [invoice_id, f"report-{invoice_id}"]) for invoice_id in ids],
        f"Each invoice created should send one message, render_report.send(invoice_id, idempotency_key), in order; the "
        f"broker got {sent[:6]} for invoices {ids}.",
    )
    expect(
        all(message["invoice_stored"] and message["job_stored"] for message in report["messages"]),
        "A job reached the broker before its invoice was committed (another connection could not read the invoice "
        "or its job yet): send it once the transaction has committed, after the route returns (a background task).",
    )
    expect(
        all(sent_at for _, _, sent_at in report["jobs"]),
        "Once its job is sent, mark it sent (report_jobs.sent_at); some stayed unmarked.",
    )


@graded(NAME, points=2, promises=["broker-down", "sent-after-commit"], unhappy=True)
async def test_create_invoice_relays_what_the_broker_refused(submission):
    """Broker down: 201, jobs unsent; send_pending sends them in order, marks them, answers the count; a second relay
    sends nothing; an app starts with the broker down, and its startup relays once it is up."""
    report = await scenario(submission, "relay_report", defined("send_pending"), defined("new_database"), NEW)
    statuses = [answer["status"] for answer in report["while_down"]]
    expect(
        statuses == [201, 201, 201],
        f"With the broker down, POST /invoices should still answer 201 (the job waits in report_jobs); it answered "
        f"{statuses}.",
        promises=["broker-down"],
    )
    jobs = report["jobs_while_down"]
    expect(
        len(jobs) == 3 and not any(sent for _, _, sent in jobs) and report["sent_while_down"] == 0,
        f"With the broker down, the jobs should stay in report_jobs, unsent (sent_at NULL); found {jobs}.",
        promises=["broker-down"],
    )
    ids = [invoice_id for _, invoice_id, _ in jobs]
    relayed = report["relayed"]
    expect(
        relayed["sent"] == [[invoice_id, f"report-{invoice_id}"] for invoice_id in ids],
        "Once the broker is back, send_pending(sessions, render_report) should send every job not marked sent, in "
        f"the order of their invoices: it sent {relayed['sent']}.",
        promises=["sent-after-commit"],
    )
    expect(
        relayed["answered"] == 3,
        f"send_pending should answer how many jobs it sent (3); it answered {relayed['answered']!r}.",
        promises=["sent-after-commit"],
    )
    expect(
        all(sent for _, _, sent in relayed["jobs"]),
        "send_pending should mark each job it sent (sent_at).",
        promises=["sent-after-commit"],
    )
    again = report["relayed_again"]
    expect(
        again["sent"] == [] and again["answered"] == 0,
        f"A second send_pending should send nothing and answer 0 (every job is marked sent); it sent {again['sent']} "
        f"and answered {again['answered']!r}.",
        promises=["sent-after-commit"],
    )
    partly = report["partly_relayed"]
    later = [job for job in partly["jobs"] if job[1] not in ids]
    expect(
        len(partly["sent"]) == 1 and [sent for _, _, sent in later] == [True, False],
        "When the broker takes one job and then refuses, send_pending should mark only the job it sent (the other "
        f"waits for the next relay); the jobs were left {later}.",
        promises=["sent-after-commit"],
    )
    expect(
        report["started_while_down"] is None and report["jobs_after_down_start"] == partly["jobs"],
        "With the broker down and a job unsent, a new app should still start (its relay sends nothing and leaves "
        f"the job for later); it failed with {report['started_while_down']}.",
        promises=["broker-down"],
    )
    taken = [args[0] for args in report["taken"] if args and isinstance(args[0], int)]
    expect(
        taken == sorted(taken) and len(report["last"]) == 2 and report["flaky_relays"][1]["sent"],
        "When the broker refuses a job, send_pending should stop there and leave it and the jobs after it for the "
        "next relay: the broker took the jobs out of their invoices' order (in the order taken: "
        f"{taken[-4:]}).",
        promises=["sent-after-commit"],
    )
    expect(
        report["sent_at_startup"] == [[later[1][1], later[1][0]]]
        and all(sent for _, _, sent in report["jobs_after_startup"]),
        "A new app on a database with a job left unsent should send it when it starts (the router's lifespan runs "
        f"send_pending); its startup sent {report['sent_at_startup']}.",
        promises=["broker-down"],
    )


IDEMPOTENT = [
    [3, NEW, "key-1"],  # 0: the first
    [3, NEW, "key-1"],  # 1: again
    [3, json.dumps(dict(reversed(NEW.items())), indent=1), "key-1"],  # 2: the same body, spelled another way
    [1, NEW, "key-1"],  # 3: another user of the same tenant
    [3, {**NEW, "amount_cents": 12_346}, "key-1"],  # 4: another body
    [15, NEW, "key-1"],  # 5: another tenant
    [3, NEW, "key-2"],  # 6: another key
    [3, NEW, None],  # 7, 8: no key, twice
    [3, NEW, None],
    [15, {**NEW, "amount_cents": 1}, "key-1"],  # 9: another body under the other tenant's key
]


@graded(NAME, points=2, promises=["idempotency-key"], unhappy=True)
async def test_create_invoice_idempotency_key(submission):
    """The same key and body answer the first invoice and create and send nothing; another body is a 422; keys are per
    tenant."""
    seen = await scenario(submission, "idempotency_report", defined("new_database"), IDEMPOTENT)
    first = seen[0]
    expect(
        first["status"] == 201, f"POST /invoices with an Idempotency-Key should answer 201; it answered {shown(first)}."
    )
    for index, label in (
        (1, "the same key and body again"),
        (2, "the same key and the same body spelled another way (keys in another order, other spaces)"),
        (3, "the same key and body from another user of the same tenant"),
    ):
        expect(
            seen[index]["status"] == 201 and seen[index]["json"] == first["json"],
            f"A later POST with {label} should answer 201 with the invoice the first one created; it answered "
            f"{shown(seen[index])}." + (" Compare the body as validated, not its bytes." if index == 2 else ""),
        )
        expect(
            seen[index]["added"] == [0, 0] and seen[index]["sent"] == 0,
            f"A later POST with {label} should create nothing and send nothing; it added {seen[index]['added'][0]} "
            f"invoice(s) and sent {seen[index]['sent']} job(s).",
        )
    for index in (4, 9):
        expect(
            seen[index]["status"] == 422 and seen[index]["added"] == [0, 0],
            f"The same Idempotency-Key with another body should answer 422 and create nothing; it answered "
            f"{shown(seen[index])}.",
        )
    other = seen[5]
    expect(
        other["status"] == 201
        and other["added"] == [1, 1]
        and isinstance(other["json"], dict)
        and other["json"].get("id") != first["json"].get("id")
        and str(other["json"].get("number")).startswith("GLOBEX-"),
        f"Another tenant's key is another key: Globex posting under Acme's key should create its own invoice; it got "
        f"{shown(other)}.",
    )
    for index, label in ((6, "another key"), (7, "no key"), (8, "no key, again")):
        expect(
            seen[index]["status"] == 201 and seen[index]["added"] == [1, 1] and seen[index]["sent"] == 1,
            f"A POST with {label} should create a new invoice and send its job; it answered {shown(seen[index])}, "
            f"added {seen[index]['added'][0]} invoice(s).",
        )


@graded(NAME, points=1.5, promises=["render-once"], unhappy=True)
async def test_create_invoice_report_job_stores_the_report_once(submission, reference):
    """Each job, delivered twice, stores report_text(invoice, tenant name) under its key once, and the second delivery
    changes nothing."""
    report = await scenario(submission, "report_route_report", defined("new_database"), NEW)
    expect(report["created"] == [201, 201], f"POST /invoices should answer 201; it answered {report['created']}.")
    failures = [failure for failure in report["deliveries"] if failure]
    expect(
        not failures,
        f"Delivering a job (twice, as after a worker that died before acknowledging it) failed: "
        f"{failures[0] if failures else ''}. A second delivery must change nothing and not fail.",
    )
    expected = []
    for invoice, tenant in zip(report["invoices"], (1, 2), strict=True):
        text = await reference.call("report_text", invoice, TENANTS[tenant]["name"])
        expected.append([f"report-{invoice['id']}", invoice["id"], text])
    stored = [row[:3] for row in report["stored_once"]]
    expect(
        stored == expected,
        "Each job should store report_text(invoice, the tenant's name) in reports, under its idempotency key: "
        f"found {[[*row[:2], row[2][:60]] for row in stored]}.",
    )
    expect(
        report["stored"] == report["stored_once"],
        "A second delivery of a job changed the reports (a second row, another body or rendered_at): store a key's "
        "report once (INSERT ... ON CONFLICT DO NOTHING).",
    )


@graded(NAME, points=1.5, promises=["report-route"])
async def test_create_invoice_report_route(submission, reference):
    """GET /invoices/{id}/report: 202 pending before the job, 200 text/plain after; 404 for another tenant, no job, no
    invoice."""
    report = await scenario(submission, "report_route_report", defined("new_database"), NEW)
    for answer in report["pending"]:
        expect(
            (answer["status"], answer["json"]) == (202, {"status": "pending"}),
            'Before its job ran, GET /invoices/{id}/report should answer 202 {"status": "pending"}; it answered '
            f"{shown(answer)}.",
        )
    for answer, odd in zip(report["out_of_range"], ("0", "-1", "2**63", "2**64"), strict=True):
        expect(
            answer["status"] in (404, 422),
            f"GET /invoices/{odd}/report (an id outside 1 ... 2**63 - 1) should answer 404 or 422; it answered "
            f"{shown(answer)}.",
        )
    for answer, label in (
        (report["other_tenant_pending"], "another tenant's invoice"),
        (report["other_tenant_rendered"], "another tenant's invoice, rendered"),
        (report["no_job"], "an invoice without a report job"),
        (report["missing"], "no invoice"),
    ):
        expect(
            answer["status"] == 404,
            f"GET /invoices/{{id}}/report of {label} should answer 404; it answered {shown(answer)}.",
        )
    for answer, invoice, tenant in zip(report["rendered"], report["invoices"], (1, 2), strict=True):
        text = await reference.call("report_text", invoice, TENANTS[tenant]["name"])
        expect(
            answer["status"] == 200 and (answer["content_type"] or "").startswith("text/plain"),
            f"Once rendered, the report should answer 200 text/plain; it answered {answer['status']} "
            f"{answer['content_type']}.",
        )
        expect(
            answer["text"] == text, f"The report should be the text its job stored; it was {answer['text'][:120]!r}."
        )


# Generated sequences of posts by active users of every tenant, valid and refused bodies, a few keys.
BODIES = st.sampled_from(
    [
        NEW,
        {**NEW, "amount_cents": 0},
        {**NEW, "customer": "Jensen, Jensen & Jensen", "currency": "USD"},
        {**NEW, "issued_on": "2025-12-31", "due_on": "2025-12-31"},
        {**NEW, "issued_on": "2024-02-29", "due_on": "2024-03-01"},
        {**NEW, "issued_on": "2030-01-01", "due_on": "2030-02-01"},
        {**NEW, "customer": "z" * 200},
        {**NEW, "customer": ""},
        {**NEW, "amount_cents": -5},
        {**NEW, "currency": "JPY"},
        {**NEW, "due_on": "2026-06-30"},
        {**NEW, "issued_on": "2026-13-01"},
    ]
)
POSTS = st.tuples(st.sampled_from([3, 1, 15, 28, 37]), BODIES, st.sampled_from([None, "k-1", "k-2"])).map(list)
SEQUENCES = st.lists(POSTS, min_size=1, max_size=4)


def shown_sequence(steps: list) -> str:
    return "; ".join(
        f"user {user} POST {json.dumps(body)}" + (f" with Idempotency-Key {key}" if key else "")
        for user, body, key in steps
    )


@graded(
    NAME, points=1.5, promises=["body-422", "created", "answer-201", "idempotency-key", "outbox", "sent-after-commit"]
)
async def test_create_invoice_answers_generated_posts_as_the_task_says(submission, reference):
    """On generated sequences of posts (tenants, valid and refused bodies, keys), what is answered, stored and sent is
    as the task says."""
    for part in PARTS:
        await require(submission, part, kind="function")

    async def batch(side, sequences):
        return await in_background(
            side,
            NAME,
            "creation_calls",
            defined("make_app"),
            defined("report_actor"),
            defined("creation_router"),
            defined("new_database"),
            sequences,
        )

    await same_as_reference(
        submission,
        reference,
        NAME,
        SEQUENCES,
        batch=batch,
        examples=4,
        show=shown_sequence,
        promise={
            "posts": ["body-422", "created", "answer-201", "idempotency-key"],
            "jobs": ["outbox", "sent-after-commit"],
            "messages": ["sent-after-commit"],
        },
    )
