"""One stored submission through the confined grader: what a worker does with a job.

The grading itself is ``autograder.grade.grade_one``, the very function ``autograder grade``
calls for each file, with the same limits, confinement and feedback. What this module adds
is what a long-lived worker needs: the lessons' suites read once (and again only when an
instructor regrades), each notebook written to a scratch folder of its own that every sandbox
is kept out of, and the claim/lease dance with the database (``store``) that makes a job
delivered twice, or delivered again after its worker died, graded once.

Before a worker grades its first submission of a lesson, and again for each new version of
its suite (a regrade), it grades the lesson's reference solution through the same path: the
canary (``grade.run_canary``). Short of full marks, or when the grader fails on a submission
on its own side (a sandbox that never became ready), the submission is stored with the status
``error`` ("not graded: grader error"): no score, the reason for the instructor, and kept to
be graded again (``Store.retry_errors``).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from .. import report, worker
from ..errors import CanaryFailed, RootWithoutConfinement, UnconfinedGrading
from ..grade import Fixed, grade_one, hidden_paths, run_canary
from ..jail import confinement
from ..lessons import all_lessons, find_lesson
from ..suite import imports
from ..types import Limits, SubmissionResult
from .scratch import ScratchFolder, remove_dead
from .settings import Settings, private_folder
from .store import Claim, Store

# A notebook that killed its worker this many times is not tried again: it is marked failed.
MAX_ATTEMPTS = 3


class LeaseHeld(Exception):
    """Another worker is grading this submission right now; the queue retries the job later
    (by then that worker has finished it, or its lease has run out because it died)."""


def refuse_unconfined(settings: Settings) -> None:
    """The rules of ``autograder grade``: never root's rights, and other people's code only
    where it can be confined unless the instructor accepts the risk."""
    found = confinement()
    if found.as_root:
        raise RootWithoutConfinement(found.describe())
    if not found.protective and not settings.accept_risk:
        raise UnconfinedGrading(found.describe())


def sandbox_hidden(path: Path, scratch: Path, settings: Settings) -> tuple[str, ...]:
    """What no sandbox may see: the course's private parts, every submission's scratch folder,
    and the service's own files (the database holds every notebook and the token hashes)."""
    return hidden_paths([path], [scratch, settings.folder])


class Grader:
    """A worker process's grader: the suites it read, where it writes notebooks, who it is."""

    def __init__(self, settings: Settings, store: Store, announce: Callable[[str, str], None]) -> None:
        """``announce(submission_id, status)`` tells the web apps of a status change (``progress``)."""
        refuse_unconfined(settings)
        self.settings, self.store, self.announce = settings, store, announce
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # The notebooks this worker grades go into a folder of its own under the root; the folders
        # of workers that died there (learners' notebooks inside) go first (``scratch``).
        root = private_folder(Path(settings.scratch)) if settings.scratch else Path(tempfile.gettempdir())
        for folder in remove_dead(root):
            print(f"worker: removed {folder}, the scratch folder of a worker that died", flush=True)
        self.folder = ScratchFolder(root)
        self.scratch = self.folder.path
        # What the sandboxes may not see: a root of the instructor's choosing holds every worker's
        # folder there; the system's temporary folder, only this one's (the others' are 0700).
        self.hidden_scratch = root if settings.scratch else self.scratch
        # Differential tests' inputs and the reference's answers (``autograder.answers``) do not
        # depend on the submission: computed once per lesson and suite version, here, for every
        # submission this worker grades, as `autograder grade` shares them across a class.
        # Without it each submission paid for the reference's side too. Inside the scratch
        # folder: no sandbox sees it.
        self.answers = Path(tempfile.mkdtemp(prefix="answers-", dir=self.scratch))
        atexit.register(shutil.rmtree, self.scratch, True)  # all of it, on a clean exit
        # Read before the first submission runs, as `autograder grade` does.
        self.fixed = {
            lesson.slug: (0, Fixed.read(lesson)) for lesson in all_lessons() if any(lesson.suite.glob("test_*.py"))
        }
        self.proved: set[tuple[str, int]] = set()  # (lesson, suite version) whose canary earned full marks here
        worker.warm_up(sorted({module for _, each in self.fixed.values() for module in imports(each.sources)}))

    def suite(self, lesson: str, version: int) -> Fixed:
        """The lesson's suite at ``version`` (read again after a regrade), its canary passed in
        this worker: ``CanaryFailed`` if it did not earn full marks (it runs again next time)."""
        held, fixed = self.fixed[lesson]
        if held != version:  # an instructor changed the suite and asked for a regrade
            found = find_lesson(lesson)
            assert found is not None  # narrows the type for the checker  # noqa: S101
            fixed = Fixed.read(found)
            self.fixed[lesson] = (version, fixed)
        if (lesson, version) not in self.proved:
            hidden = sandbox_hidden(fixed.lesson.solution, self.hidden_scratch, self.settings)
            run_canary(fixed, Limits(), hidden, str(self.shared_answers(lesson, version)))
            self.proved.add((lesson, version))
        return fixed

    def shared_answers(self, lesson: str, version: int) -> Path:
        return private_folder(self.answers / f"{lesson}-{version}")

    def grade(self, submission_id: str, name: str, notebook: bytes, fixed: Fixed, version: int) -> SubmissionResult:
        folder = self.scratch / submission_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.ipynb"
        path.write_bytes(notebook)
        try:
            return grade_one(
                path,
                name,
                fixed,
                Limits(),
                sandbox_hidden(path, self.hidden_scratch, self.settings),
                answers=str(self.shared_answers(fixed.lesson.slug, version)),
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def handle(self, submission_id: str) -> str:
        """Grade the submission if no one has; return what happened (for the worker's log)."""
        lease = self.settings.lease_seconds
        claim = await self.store.claim(submission_id, self.name, lease)
        if claim is Claim.HELD:
            raise LeaseHeld(submission_id)
        if claim is not Claim.CLAIMED:
            return str(claim.value)
        self.announce(submission_id, "running")
        submission = await self.store.get(submission_id)
        assert submission is not None  # narrows the type for the checker  # noqa: S101
        if submission.attempts > MAX_ATTEMPTS:
            await self._finish_failed(
                submission_id,
                f"grading this notebook stopped its worker {MAX_ATTEMPTS} times; "
                "it is not tried again. Your instructor can see it.",
            )
            return "failed"
        name = await self.store.learner_name(submission.learner_id)
        version = await self.store.suite_version(submission.lesson)
        renewing = asyncio.create_task(self._renew(submission_id, lease))
        try:
            fixed = await asyncio.to_thread(self.suite, submission.lesson, version)  # with its canary, the first time
            result = await asyncio.to_thread(self.grade, submission_id, name, submission.notebook, fixed, version)
        except Exception as exc:  # the canary failed, or a grader bug: not graded, and said so
            reason = str(exc) if isinstance(exc, CanaryFailed) else f"the grader failed ({type(exc).__name__}: {exc})"
            result = SubmissionResult(submission=name, path="", lesson=submission.lesson).not_graded(reason)
        finally:
            renewing.cancel()
        status = "done" if result.graded else "error"
        written = await self.store.finish(
            submission_id,
            self.name,
            status=status,
            score=result.score,
            max_score=result.max_score,
            result=json.dumps(result.to_json()),
            feedback=report.feedback_text(result),
        )
        if not written:
            return "lost its claim"
        self.announce(submission_id, status)
        return status if result.graded else f"not graded: grader error ({result.grader_error})"

    async def _renew(self, submission_id: str, lease: float) -> None:
        while True:
            await asyncio.sleep(lease / 4)
            await self.store.renew(submission_id, self.name, lease)

    async def _finish_failed(self, submission_id: str, problem: str) -> None:
        result = SubmissionResult(submission=submission_id, path="", lesson=None, problems=[problem])
        if await self.store.finish(
            submission_id,
            self.name,
            status="failed",
            score=0,
            max_score=0,
            result=json.dumps(result.to_json()),
            feedback=report.feedback_text(result),
        ):
            self.announce(submission_id, "failed")
