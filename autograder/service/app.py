"""The web app: learners upload notebooks and read their feedback; instructors see the class.

    POST /api/submissions               a notebook as the body, or as a multipart form's one file (``upload``)
                                        -> 202 {id, status_url, events_url}; an Idempotency-Key names one
                                        submission: a retry gets it again, another notebook under it a 422
    GET  /api/submissions/{id}          status, score, max score, feedback (as `autograder grade` writes it)
    GET  /api/submissions/{id}/events   the same, streamed as server-sent events until graded (woken by
                                        the workers' announcements on the broker: ``progress``)
    GET  /api/instructor/class          latest score per learner and lesson, pass rate per test, the lessons
    GET  /api/instructor/lessons/{lesson}  that lesson's score histogram, mean and median; per exercise the
                                        mean and full-marks share; per hidden test the pass rate and
                                        discrimination, hardest first (``statistics``)
    GET  /api/instructor/learners/{id}  a learner's submissions (scores, times) and their latest feedback
                                        as they read it (`?lesson=` for that lesson's)
    GET  /api/instructor/queue          waiting/grading/failed now, submissions per hour over the last
                                        `?hours=` (48), the median time to feedback, grader errors apart
    GET  /api/instructor/grades.csv     the gradebook (`?lesson=` for one lesson)
    GET  /api/instructor/gradescope.zip Gradescope's results.json per learner
    POST /api/instructor/regrade/{lesson}  grade the lesson's submissions again with its suite as it is now
    POST /api/instructor/retry          grade again every submission not graded because the grader failed
    GET  /instructor                    the instructor's page (it asks for the token, then calls the above),
                                        with its stylesheet and script beside it (``static/``)
    GET  /api/health                    {ok, broker}, 503 while the broker is down; with an instructor's
                                        token, the queue's counts too

Every response carries the security headers of ``headers``.

An upload is stored (committed) before the ``202`` goes out, then its id is put on the queue;
if that fails, the sweeper here sends it later. Nothing a response holds comes from a hidden
test's source: only scores, test names and the feedback messages the suites wrote for learners.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from . import instructor, queue
from .errors import (
    InstructorsOnly,
    KeyReused,
    KeyTooLong,
    MissingToken,
    NoSuchLearner,
    NoSuchLesson,
    NoSuchSubmission,
    NotYours,
    ServiceError,
    TooMany,
    WrongToken,
)
from .headers import SecurityHeaders
from .progress import Progress
from .settings import Settings
from .store import FINISHED, MAX_KEY_LENGTH, KeyConflict, Learner, Limited, Store, Submission
from .tokens import token_hash
from .upload import body_within_limit, graded_lessons, lesson_of, notebook_of

PAGE_ASSETS = {"instructor.css": "text/css", "instructor.js": "text/javascript"}


def public(submission: Submission, learner: str, ahead: int | None = None) -> dict[str, Any]:
    """What a learner may read about a submission (the stored result without server paths)."""
    result = json.loads(submission.result) if submission.result else None
    if result:
        result.pop("path", None)
    document = {
        "id": submission.id,
        "learner": learner,
        "lesson": submission.lesson,
        "status": submission.status,
        "score": submission.score,
        "max_score": submission.max_score,
        "feedback": submission.feedback,
        "result": result,
        "created_at": submission.created_at,
        "graded_at": submission.graded_at,
        "status_url": f"/api/submissions/{submission.id}",
    }
    if ahead is not None:
        document["ahead"] = ahead
    return document


def create_app(settings: Settings) -> FastAPI:
    store = Store.connect(settings.database)
    broker = queue.broker_for(settings)
    progress = Progress(settings.broker_url)

    async def enqueue(ids: list[str]) -> None:
        """Send ids to the queue; a failure is logged, not raised: the rows are stored, and the
        sweeper sends them once the broker answers again."""
        try:
            for submission_id in ids:
                await run_in_threadpool(queue.send, broker, submission_id)
        except Exception as exc:
            print(f"service: could not enqueue ({type(exc).__name__}: {exc}); the sweeper will retry", flush=True)
            return
        await store.mark_enqueued(ids)

    async def sweep(first: bool) -> int:
        """Send again what is stored but unfinished. At start-up, everything still queued (the
        last web app may have died between its commit and its send); later, only what has waited
        longer than a sweep while the broker's queue is empty (its message was lost)."""
        now = time.time()
        if not first:
            waiting: int = await run_in_threadpool(queue.waiting, broker)
            if waiting:
                return 0
        ids = await store.unfinished(queued_before=now if first else now - settings.sweep_seconds, now=now)
        if ids:
            await enqueue(ids)
        return len(ids)

    async def sweeper() -> None:
        while True:
            await asyncio.sleep(settings.sweep_seconds)
            try:
                await sweep(first=False)
            except Exception as exc:  # the database or broker is away for a moment: try next time
                print(f"service: sweep failed ({type(exc).__name__}: {exc})", flush=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.create_tables()
        resent = await sweep(first=True)
        if resent:
            print(f"service: {resent} stored submission(s) sent to the queue again", flush=True)
        task = asyncio.create_task(sweeper())
        await progress.start()
        yield
        await progress.stop()
        task.cancel()
        await store.close()
        broker.close()

    app = FastAPI(title="autograder service", lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    app.state.store, app.state.settings, app.state.progress = store, settings, progress

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=exc.headers)

    async def bearer(authorization: str | None) -> Learner | None:
        """Who the Authorization header names: None without one, ``WrongToken`` for an unknown one."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        found = await store.learner_by_token(token_hash(token.strip()))
        if found is None:
            raise WrongToken()
        return found

    async def learner(authorization: str | None = Header(default=None)) -> Learner:
        found = await bearer(authorization)
        if found is None:
            raise MissingToken()
        return found

    async def teacher(who: Learner = Depends(learner)) -> Learner:
        if not who.instructor:
            raise InstructorsOnly()
        return who

    @app.post("/api/submissions", status_code=202)
    async def submit(
        request: Request, who: Learner = Depends(learner), idempotency_key: str | None = Header(default=None)
    ) -> JSONResponse:
        if idempotency_key is not None and len(idempotency_key) > MAX_KEY_LENGTH:
            raise KeyTooLong(MAX_KEY_LENGTH, len(idempotency_key))  # before the body is read
        body = await notebook_of(request.headers, await body_within_limit(request, settings.max_upload_bytes))
        lesson = await run_in_threadpool(lesson_of, body)
        accepted = await store.accept(who, lesson, body, idempotency_key, per_minute=settings.submissions_per_minute)
        if isinstance(accepted, KeyConflict):
            raise KeyReused(accepted.first)
        if isinstance(accepted, Limited):
            raise TooMany(settings.submissions_per_minute, max(1, math.ceil(accepted.retry_after)))
        if accepted.created:
            await enqueue([accepted.submission.id])
        document = public(accepted.submission, who.name)
        document["events_url"] = f"/api/submissions/{accepted.submission.id}/events"
        return JSONResponse(document, status_code=202, headers={"Location": document["status_url"]})

    async def readable(submission_id: str, who: Learner) -> Submission:
        submission = await store.get(submission_id)
        if submission is None:
            raise NoSuchSubmission(submission_id)
        if submission.learner_id != who.id and not who.instructor:
            raise NotYours()
        return submission

    @app.get("/api/submissions/{submission_id}")
    async def status(submission_id: str, who: Learner = Depends(learner)) -> dict[str, Any]:
        submission = await readable(submission_id, who)
        ahead = await store.ahead_of(submission) if submission.status == "queued" else None
        return public(submission, await store.learner_name(submission.learner_id), ahead)

    @app.get("/api/submissions/{submission_id}/events")
    async def events(submission_id: str, who: Learner = Depends(learner)) -> StreamingResponse:
        submission = await readable(submission_id, who)
        name = await store.learner_name(submission.learner_id)

        async def stream() -> AsyncIterator[str]:
            last = None
            while True:
                change = progress.next_change()
                current = await store.get(submission_id)
                if current is None:  # never deleted: only a database emptied by hand
                    return
                ahead = await store.ahead_of(current) if current.status == "queued" else None
                if (current.status, ahead) != last:
                    last = (current.status, ahead)
                    yield f"event: {current.status}\ndata: {json.dumps(public(current, name, ahead))}\n\n"
                if current.status in FINISHED:
                    return
                await progress.wait(change, settings.progress_poll_seconds)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    def known(lesson: str | None) -> str | None:
        slugs = [each.slug for each in graded_lessons()]
        if lesson is not None and lesson not in slugs:
            raise NoSuchLesson(lesson, slugs)
        return lesson

    @app.get("/api/instructor/class")
    async def class_view(lesson: str | None = None, who: Learner = Depends(teacher)) -> dict[str, Any]:
        return instructor.class_view(
            await store.latest(known(lesson)),
            await store.learners(),
            await store.counts(),
            await store.grader_errors(),
            [each.slug for each in graded_lessons()],
        )

    @app.get("/api/instructor/lessons/{lesson}")
    async def lesson_view(lesson: str, who: Learner = Depends(teacher)) -> dict[str, Any]:
        return instructor.lesson_view(lesson, await store.latest(known(lesson)), await store.learners())

    @app.get("/api/instructor/learners/{learner_id}")
    async def learner_view(
        learner_id: int, lesson: str | None = None, who: Learner = Depends(teacher)
    ) -> dict[str, Any]:
        names = await store.learners()
        if learner_id not in names:
            raise NoSuchLearner(learner_id)
        return instructor.learner_view(learner_id, names[learner_id], await store.history(learner_id), known(lesson))

    @app.get("/api/instructor/queue")
    async def queue_view(hours: int = Query(48, ge=1, le=24 * 14), who: Learner = Depends(teacher)) -> dict[str, Any]:
        now = time.time()
        recent = await store.timings_since(now - hours * 3600)
        return instructor.queue_view(
            await store.counts(), recent, await store.grader_errors(), await store.learners(), now=now, hours=hours
        )

    @app.get("/api/instructor/grades.csv")
    async def grades(lesson: str | None = None, who: Learner = Depends(teacher)) -> Response:
        text = instructor.gradebook_csv(await store.latest(known(lesson)), await store.learners())
        return Response(
            text, media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="grades.csv"'}
        )

    @app.get("/api/instructor/gradescope.zip")
    async def gradescope(lesson: str | None = None, who: Learner = Depends(teacher)) -> Response:
        data = instructor.gradescope_zip(await store.latest(known(lesson)), await store.learners())
        return Response(
            data, media_type="application/zip", headers={"Content-Disposition": 'attachment; filename="gradescope.zip"'}
        )

    @app.post("/api/instructor/regrade/{lesson}", status_code=202)
    async def regrade(lesson: str, who: Learner = Depends(teacher)) -> dict[str, Any]:
        known(lesson)
        ids = await store.regrade(lesson)
        await enqueue(ids)
        return {"lesson": lesson, "queued": len(ids)}

    @app.post("/api/instructor/retry", status_code=202)
    async def retry(who: Learner = Depends(teacher)) -> dict[str, Any]:
        ids = await store.retry_errors()
        await enqueue(ids)
        return {"queued": len(ids)}

    @app.get("/instructor", response_class=HTMLResponse)
    async def page() -> str:
        return resources.files(__package__).joinpath("static", "instructor.html").read_text(encoding="utf-8")

    @app.get("/instructor/{asset}")
    async def page_asset(asset: str) -> Response:
        """The page's own stylesheet and script: served from here, since the course runs offline
        (no CDN), and only these names, so nothing else of the package is reachable."""
        if asset not in PAGE_ASSETS:
            return Response("no such file", status_code=404, media_type="text/plain")
        text = resources.files(__package__).joinpath("static", asset).read_text(encoding="utf-8")
        return Response(text, media_type=PAGE_ASSETS[asset])

    @app.get("/api/health")
    async def health(authorization: str | None = Header(default=None)) -> JSONResponse:
        """Liveness for anyone (a load balancer, ``serve``'s own checks): whether the web app and
        its broker answer, 503 when the broker does not (uploads are stored then, but nothing is
        graded until it is back). The class's counts are the instructor's alone."""
        broker_up = await run_in_threadpool(queue.answers, settings.broker_url)
        document: dict[str, Any] = {"ok": broker_up, "broker": "up" if broker_up else "down"}
        who = await bearer(authorization)
        if who is not None and who.instructor:
            document["counts"] = await store.counts()
        return JSONResponse(document, status_code=200 if broker_up else 503)

    return app
