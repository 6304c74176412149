"""Hidden tests for `make_jobs_app`: enqueue from an endpoint, 202 and a status URL.

The app is made in the sandbox on a fresh queue file and talked to over ASGI; the tables are
read back by a probe.
"""

import json
from contextlib import asynccontextmanager

import httpx
import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import names, require, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "jobs_app"
FACTORY = "make_jobs_app"
SETUP = names("create_queue", "connect", "enqueue", "job_row")


@asynccontextmanager
async def app_client(submission):
    await require(submission, FACTORY, kind="function")
    path = await submission.probe("lesson05.fresh_queue", SETUP, "app")
    alias = await submission.make(FACTORY, path)
    transport = httpx.ASGITransport(app=submission.asgi(alias, label=f"{FACTORY}(path)"), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http, path


async def table(submission, path, name):
    return await submission.probe("lesson05.rows", SETUP, path, name)


def status_of(response) -> str:
    return f"you answered {response.status_code}" + (
        " (an exception in your app)" if response.status_code == 500 else ""
    )


@graded(NAME, points=1.5, promises=["post-enqueues", "answer-202"])
async def test_post_enqueues_and_answers_202(submission):
    """POST /reports answers 202 with job_id, status_url and a Location header, and the job is queued."""
    async with app_client(submission) as (http, path):
        response = await http.post("/reports", json={"invoice_id": 41})
        expect(
            response.status_code == 202,
            f"POST /reports should answer 202 Accepted ({status_of(response)}).",
            promises=["answer-202"],
        )
        body = response.json()
        job_id = body.get("job_id") if isinstance(body, dict) else None
        expect(
            isinstance(job_id, int) and body.get("status_url") == f"/jobs/{job_id}",
            'POST /reports should answer {"job_id": <id>, "status_url": "/jobs/<id>"}.',
            promises=["answer-202"],
        )
        expect(
            response.headers.get("location") == f"/jobs/{job_id}",
            "POST /reports should also give the status URL in the Location header.",
            promises=["answer-202"],
        )
        jobs = await table(submission, path, "jobs")
        requests = await table(submission, path, "report_requests")
        expect(
            len(jobs) == 1
            and jobs[0]["id"] == job_id
            and jobs[0]["kind"] == "report"
            and '"invoice_id": 41' in jobs[0]["payload"]
            and jobs[0]["state"] == "ready",
            "POST /reports should add one ready job of kind 'report' whose payload holds the invoice_id.",
            promises=["post-enqueues"],
        )
        expect(
            len(requests) == 1 and requests[0]["invoice_id"] == 41,
            "POST /reports should record the request in report_requests (the business write).",
            promises=["post-enqueues"],
        )
        expect(
            json.loads(jobs[0]["payload"]).get("request_id") == requests[0]["id"],
            "The job's payload should hold the request's id as request_id (the id of its row in report_requests).",
            promises=["post-enqueues"],
        )


@graded(NAME, points=1, promises=["status", "status-404"], unhappy=True)
async def test_status_endpoint(submission):
    """GET /jobs/{id} answers the job's id, state, attempts, result and last_error; 404 when unknown."""
    async with app_client(submission) as (http, path):
        job_id = (await http.post("/reports", json={"invoice_id": 3})).json().get("job_id")
        response = await http.get(f"/jobs/{job_id}")
        expect(
            response.status_code == 200,
            f"GET /jobs/{{id}} of a queued job should answer 200 ({status_of(response)}).",
            promises=["status"],
        )
        expect(
            response.json() == {"id": job_id, "state": "ready", "attempts": 0, "result": None, "last_error": None},
            "GET /jobs/{id} should answer exactly id, state, attempts, result and last_error of the job.",
            promises=["status"],
        )
        await submission.probe(
            "lesson05.work",
            SETUP,
            path,
            {"id": job_id, "state": "done", "attempts": 1, "error": None, "result": {"pages": 3}},
        )
        response = await http.get(f"/jobs/{job_id}")
        expect(
            response.status_code == 200
            and response.json()
            == {"id": job_id, "state": "done", "attempts": 1, "result": {"pages": 3}, "last_error": None},
            "GET /jobs/{id} should answer the job as it is now, its result decoded from JSON: for a job done with "
            'the result {"pages": 3}, that object, not the text stored in the column (job_row decodes it).',
            promises=["status"],
        )
        response = await http.get("/jobs/999")
        expect(
            response.status_code == 404,
            f"GET /jobs/{{id}} of an unknown job should answer 404 ({status_of(response)}).",
            promises=["status-404"],
        )


@graded(NAME, points=1, promises=["idempotency-key"], unhappy=True)
async def test_idempotency_key_header(submission):
    """The same Idempotency-Key twice gives the same job and writes nothing new."""
    async with app_client(submission) as (http, path):
        key = {"Idempotency-Key": "report-41-once"}
        first = await http.post("/reports", json={"invoice_id": 41}, headers=key)
        second = await http.post("/reports", json={"invoice_id": 41}, headers=key)
        other = await http.post("/reports", json={"invoice_id": 41}, headers={"Idempotency-Key": "another"})
        expect(
            first.status_code == second.status_code == other.status_code == 202,
            f"POST /reports with an Idempotency-Key header should answer 202 ({status_of(second)}).",
        )
        expect(
            first.json().get("job_id") == second.json().get("job_id") != other.json().get("job_id"),
            "A repeated POST with the same Idempotency-Key should answer the same job_id; another key, a new job.",
        )
        expect(
            len(await table(submission, path, "jobs")) == 2
            and len(await table(submission, path, "report_requests")) == 2,
            "A repeated POST with the same Idempotency-Key must not add a second job or a second report request.",
        )
        plain = [await http.post("/reports", json={"invoice_id": 41}) for _ in range(2)]
        expect(
            plain[0].json().get("job_id") != plain[1].json().get("job_id"),
            "Two POSTs without an Idempotency-Key header are two requests: each should get a job of its own.",
        )


@graded(NAME, points=1.5, promises=["one-transaction"], unhappy=True)
async def test_business_row_and_job_in_one_transaction(submission):
    """When the queue refuses the job, the request is not recorded either (outbox)."""
    async with app_client(submission) as (http, path):
        await submission.probe("lesson05.break_enqueue", SETUP, path, 13)
        response = await http.post("/reports", json={"invoice_id": 13})
        expect(
            response.status_code >= 500,
            "When the job cannot be queued, POST /reports should fail, not answer "
            f"as if the report were coming ({status_of(response)}).",
        )
        requests = await table(submission, path, "report_requests")
        expect(
            all(row["invoice_id"] != 13 for row in requests),
            "When the job could not be queued, the report request was still recorded: write the business row and "
            "the job in one transaction (BEGIN IMMEDIATE ... COMMIT), so they are saved together or not at all.",
        )
        response = await http.post("/reports", json={"invoice_id": 14})
        expect(
            response.status_code == 202,
            "After a failed POST, the next POST /reports should work again "
            f"(is a transaction left open?) ({status_of(response)}).",
        )


@graded(NAME, points=1, promises=["idempotency-key"], unhappy=True)
async def test_idempotency_key_while_its_first_request_is_being_written(submission):
    """A POST with a key whose first request is still being written (its transaction not committed yet) gets that job
    and writes nothing."""
    await require(submission, FACTORY, kind="function")
    seen = await submission.probe("lesson05.key_in_flight", SETUP, defined(FACTORY))
    job_id = seen["json"].get("job_id") if isinstance(seen["json"], dict) else None
    expect(
        seen["status"] == 202 and job_id == seen["first_job"],
        "A POST whose Idempotency-Key another request is writing at that very moment should wait for it and "
        f"answer 202 with that request's job (you answered {seen['status']}, job {job_id}): look the key up "
        "inside the transaction (after BEGIN IMMEDIATE), where no other request can be writing.",
    )
    expect(
        seen["tables"] == {"jobs": 1, "report_requests": 1},
        "A POST whose Idempotency-Key another request was writing at that very moment added rows of its own "
        f"({seen['tables']['report_requests']} report requests, {seen['tables']['jobs']} jobs, where 1 and 1 "
        "are due): look the key up inside the transaction (after BEGIN IMMEDIATE), not before it, so that the "
        "lookup sees what the other request committed.",
    )


# Sessions on a fresh queue: one to three report requests, then more of them mixed with the rest:
# report requests for a few invoices, with an Idempotency-Key header
# (repeated, or another) or without; status requests for jobs that exist or not, before and
# after a worker has moved a job on (running, done with a result, failed, dead). Observed: every
# status code, the JSON of every answer but a 404's (its detail is left open), the Location
# header, and the rows the session left in jobs and report_requests (their times left out).
KEYS = st.sampled_from([None, "report-1", "report-2", "report-1", "Report-1"])
POST = st.builds(
    lambda invoice, key: {
        "op": "request",
        "method": "POST",
        "path": "/reports",
        "json": {"invoice_id": invoice},
        "key": key,
    },
    st.sampled_from([1, 7, 41]),
    KEYS,
)
GET = st.builds(lambda job: {"op": "request", "method": "GET", "path": f"/jobs/{job}"}, st.integers(-1, 4))
WORK = st.builds(
    lambda job, state, attempts, error, result: {
        "op": "work",
        "id": job,
        "state": state,
        "attempts": attempts,
        "error": error,
        "result": result,
    },
    st.integers(1, 3),
    st.sampled_from(["running", "done", "ready", "dead"]),
    st.integers(0, 3),
    st.none() | st.just("timeout"),
    st.none() | st.just({"pages": 3}) | st.just([1, "a"]),
)
# A worker moves a job on, and its status is asked for at once.
LOOK = WORK.map(lambda work: [work, {"op": "request", "method": "GET", "path": f"/jobs/{work['id']}"}])
SESSIONS = st.builds(
    lambda first, rest: first + [step for steps in rest for step in steps],
    st.lists(POST, min_size=1, max_size=3),
    st.lists(st.one_of(POST.map(lambda step: [step]), GET.map(lambda step: [step]), LOOK), max_size=4),
)


def promised(session: dict) -> dict:
    def answer(seen):
        if seen is None:
            return None
        return {
            "status": seen["status"],
            "json": None if seen["status"] == 404 else seen["json"],
            "location": seen["location"],
        }

    jobs = [
        {
            "id": row["id"],
            "kind": row["kind"],
            "state": row["state"],
            "payload": {key: json.loads(row["payload"]).get(key) for key in ("invoice_id", "request_id")},
        }
        for row in session["tables"]["jobs"]
    ]
    requests = [{"id": row["id"], "invoice_id": row["invoice_id"]} for row in session["tables"]["report_requests"]]
    return {"answers": [answer(seen) for seen in session["answers"]], "jobs": jobs, "report_requests": requests}


def shown_session(steps: list) -> str:
    def said(step: dict) -> str:
        if step["op"] == "work":
            return (
                f"a worker sets job {step['id']} to state={step['state']!r}, attempts={step['attempts']}, "
                f"last_error={step['error']!r}, result={step['result']!r}"
            )
        if step["method"] == "POST":
            key = "" if step["key"] is None else f" with Idempotency-Key: {step['key']}"
            return f"POST /reports {json.dumps(step['json'])}{key}"
        return f"GET {step['path']}"

    return "on a new queue:\n" + "\n".join(f"      item {index}: {said(step)}" for index, step in enumerate(steps))


@graded(
    NAME, points=1, promises=["post-enqueues", "answer-202", "idempotency-key", "status", "status-404"], unhappy=True
)
async def test_generated_sessions_as_the_task_says(submission, reference):
    """On generated sessions (report requests with and without keys, status requests for known and unknown jobs as
    workers move them on), every answer and row is as the task says."""
    await require(submission, FACTORY, kind="function")

    async def batch(side, sessions):
        return [
            promised(session)
            for session in await side.probe("lesson05.jobs_sessions", SETUP, defined(FACTORY), sessions)
        ]

    await same_as_reference(
        submission,
        reference,
        NAME,
        SESSIONS,
        batch=batch,
        examples=10,
        show=shown_session,
        promise={
            "answers": ["answer-202", "idempotency-key", "status", "status-404"],
            "jobs": ["post-enqueues", "idempotency-key"],
            "report_requests": ["post-enqueues", "idempotency-key"],
        },
    )
