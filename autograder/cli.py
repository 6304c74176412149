"""``autograder`` (or ``python -m autograder``): the instructor's and the maintainer's commands.

autograder grade PATH... --out DIR     grade notebooks (files or folders of .ipynb)
autograder check NOTEBOOK              grade your own notebook and read the feedback
autograder publish DIR                 the course as a class's learners get it (no answers)
autograder release [LESSON...]         regenerate learner notebooks from solutions/
autograder release --check             fail if a committed learner notebook is stale
autograder serve                       the grading service: web app, queue, workers (127.0.0.1)
autograder worker --broker URL --database URL   grading workers alone, for another machine
                                       (or AUTOGRADER_BROKER, AUTOGRADER_DATABASE: URLs with passwords)
autograder submit NOTEBOOK --server URL --token T   hand a notebook in and wait for its feedback
autograder tokens add NAME [--instructor]   a learner's (or instructor's) token for the service
autograder tokens import ROSTER.csv    a token for everyone on a roster (name,instructor)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import report
from .errors import GraderError, NoHiddenTests, RootWithoutConfinement, UnconfinedGrading
from .grade import Start, grade_all, lessons_for
from .jail import confinement, isolation
from .lessons import Lesson, lesson_named, lessons_named
from .types import Limits, SubmissionResult

if TYPE_CHECKING:  # the service's modules are imported by its commands alone (FastAPI, SQLAlchemy)
    from .service.settings import Settings


def _submissions(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        else:
            found.append(path)  # a missing or odd file still gets a result saying so
    return found


def refuse_as_root() -> None:
    if confinement().as_root:
        raise RootWithoutConfinement(confinement().describe())


def _lesson(args: argparse.Namespace) -> Lesson | None:
    return lesson_named(args.lesson) if args.lesson else None


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(submission_seconds=args.timeout, cell_seconds=args.cell_timeout, call_seconds=args.call_timeout)


def grade_command(args: argparse.Namespace) -> int:
    lesson = _lesson(args)
    paths = _submissions(args.paths)
    if not paths:
        raise GraderError("no notebooks found in " + ", ".join(args.paths))
    # Found out before anything is graded: other people's code is not run unconfined
    # unless the instructor says so, and never as root.
    refuse_as_root()
    if not confinement().protective and not args.accept_risk:
        raise UnconfinedGrading(confinement().describe())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    done = 0

    def on_result(result: SubmissionResult) -> None:
        nonlocal done
        done += 1
        report.write_json(result, out)
        report.write_feedback(result, out)
        if args.gradescope:
            report.write_gradescope(result, out)
        print(report.progress_line(done, len(paths), result), flush=True)

    def on_start(start: Start) -> None:  # the first line: how submissions are confined, and the canary's proof
        print(f"isolation: {isolation()}; {start}", flush=True)

    results = grade_all(
        paths, limits=_limits(args), jobs=args.jobs, lesson=lesson, out=out, on_result=on_result, on_start=on_start
    )
    gradebook = report.write_gradebook(results, out)
    rates = report.write_pass_rates(results, out)
    print(report.class_summary(results, time.monotonic() - started))
    print(f"gradebook: {gradebook}; pass rates: {rates}")
    return _not_graded(results)


def _not_graded(results: list[SubmissionResult]) -> int:
    """1 when the grader failed on some submission (they have no score): a run that could not
    grade everyone must not look like one that did."""
    failed = [result.submission for result in results if not result.graded]
    if failed:
        print(
            f"autograder: {len(failed)} submission(s) not graded because the grader failed ({', '.join(failed)}); "
            "their results say why",
            file=sys.stderr,
        )
    return 1 if failed else 0


def check_command(args: argparse.Namespace) -> int:
    """A learner's own notebook: the same hidden tests and feedback, in whatever confinement
    the machine gives (their own code, so no consent is asked), said plainly."""
    path = Path(args.notebook)
    lesson = _lesson(args) or lessons_for([path], None)[0]
    if lesson is not None and not any(lesson.suite.glob("test_*.py")):
        raise NoHiddenTests(lesson.slug)
    refuse_as_root()
    found = confinement()
    if found.protective:
        first = f"Your code runs confined ({found.describe()})."
    else:
        first = (
            "Your code runs UNCONFINED, with your own user's rights: this machine cannot confine it "
            f"({found.describe()}). Check only notebooks you wrote yourself."
        )
    [result] = grade_all(
        [path],
        limits=_limits(args),
        jobs=1,
        lesson=lesson,
        on_start=lambda start: print(f"{first} {start}.", flush=True),
    )
    print()
    print(report.feedback_text(result, markdown=False))  # a terminal renders nothing
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        report.write_json(result, out)
        print(f"feedback written to {report.write_feedback(result, out)}")
    return _not_graded([result])


def publish_command(args: argparse.Namespace) -> int:
    from .publish import publish  # asks git for the course's files: only this command needs it

    target = Path(args.folder)
    if target.exists() and any(target.iterdir()):
        raise GraderError(f"{target} is not empty: publish into a new folder")
    copied = publish(target)
    print(
        f"{len(copied)} files written to {target}: the learner notebooks and what they need, "
        "without solutions or hidden tests. Give learners this folder."
    )
    return 0


def release_command(args: argparse.Namespace) -> int:
    from . import release as releasing  # imports nbgrader: only the maintainers' command pays for it

    lessons = lessons_named(args.lessons)
    if args.check:
        releasing.check(lessons)
        print(
            f"{len(lessons)} lesson(s): learner notebooks, and the solutions' promise lists and kernel metadata, "
            "match a fresh release"
        )
        return 0
    for lesson in lessons:
        changed = releasing.release(lesson)
        for path in changed:
            print(f"{path}: written")
        if not changed:
            print(f"{lesson.release}: unchanged")
    for path in releasing.release_course():
        print(f"{path}: written (from course.toml)")
    return 0


def _service_settings(args: argparse.Namespace) -> Settings:
    from .service.settings import Settings

    return Settings().with_changes(
        data=getattr(args, "data", None),
        database_url=getattr(args, "database", None),
        broker_url=getattr(args, "broker", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
        scratch=getattr(args, "scratch", None),
        accept_risk=getattr(args, "accept_risk", None) or None,
    )


def serve_command(args: argparse.Namespace) -> int:
    from .service import processes
    from .service.grading import refuse_unconfined

    settings = _service_settings(args)
    refuse_unconfined(settings)  # before any process starts, as `grade` does
    print(f"isolation: {isolation()}", flush=True)
    processes.serve(settings, web=args.command == "serve")
    return 0


def submit_command(args: argparse.Namespace) -> int:
    from coursekit.submit import SubmissionFailed, configured, submit

    service = configured(args.server, args.token)
    if service is None:
        raise GraderError("no server: pass --server URL --token TOKEN (or set AUTOGRADER_SERVER and AUTOGRADER_TOKEN)")
    try:
        state = submit(
            Path(args.notebook), service, on_progress=lambda text: print(text, flush=True), timeout=args.wait
        )
    except SubmissionFailed as exc:
        raise GraderError(str(exc)) from None
    print()
    print(state.get("feedback") or "")
    return 0 if state["status"] == "done" else 1


def tokens_command(args: argparse.Namespace) -> int:
    import asyncio

    from .service.store import Store
    from .service.tokens import new_token, read_roster, token_hash

    settings = _service_settings(args)
    settings.make_folder()
    people = [(args.name, args.instructor)] if args.action == "add" else read_roster(Path(args.roster))

    async def add() -> list[tuple[str, str]]:
        store = Store.connect(settings.database)
        await store.create_tables()
        made = []
        for name, instructor in people:
            token = new_token()
            await store.add_learner(name, token_hash(token), instructor)
            made.append((name, token))
        await store.close()
        return made

    made = asyncio.run(add())
    if args.action == "add":
        print(made[0][1])  # the token alone, so a script can capture it; only its hash is stored
    else:
        print("name,token")
        for name, token in made:
            print(f"{name},{token}")
        print(f"{len(made)} token(s) made; give each person theirs: only their hashes are stored", file=sys.stderr)
    return 0


def _service_options(command: argparse.ArgumentParser, *, web: bool | None) -> None:
    """web: True for serve, False for worker (a broker is required), None for tokens (no broker)."""
    # A URL with a password belongs in the environment (readable by this user alone), not on
    # the command line, which every user of the machine reads in /proc/<pid>/cmdline.
    command.add_argument(
        "--database",
        default=os.environ.get("AUTOGRADER_DATABASE"),
        help="SQLAlchemy async URL (default: $AUTOGRADER_DATABASE, else SQLite in --data); "
        "e.g. postgresql+asyncpg://user:password@host/db, better given in $AUTOGRADER_DATABASE",
    )
    command.add_argument("--data", help="folder for the database and the service's files (default: ./grading-service)")
    if web is not None:
        broker = os.environ.get("AUTOGRADER_BROKER")
        command.add_argument(
            "--broker",
            default=broker,
            required=not web and not broker,
            help="Redis URL of the queue, e.g. redis://:password@host:6379/0, better given in "
            "$AUTOGRADER_BROKER (serve's default: a Redis it starts on 127.0.0.1, with a "
            "password of its own)",
        )
    if web:
        command.add_argument("--host", help="address to listen on (default 127.0.0.1: this machine only)")
        command.add_argument("--port", type=int, help="port (default 8765)")


def _limit_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--timeout", type=float, default=Limits.submission_seconds, help="seconds one notebook may take in all"
    )
    command.add_argument(
        "--cell-timeout", type=float, default=Limits.cell_seconds, help="seconds one exercise cell may take to run"
    )
    command.add_argument(
        "--call-timeout",
        type=float,
        default=Limits.call_seconds,
        help="seconds the learner's code may take to answer one request",
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="autograder", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade submitted notebooks with the hidden suites")
    grade.add_argument("paths", nargs="+", help="notebooks, or folders searched for *.ipynb")
    grade.add_argument("--out", required=True, help="folder for the results")
    grade.add_argument("--lesson", help="grade against this lesson (default: told from each notebook)")
    grade.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: CPUs)")
    grade.add_argument(
        "--gradescope", action="store_true", help="also write gradescope/<name>/results.json for each submission"
    )
    grade.add_argument(
        "--accept-risk",
        action="store_true",
        help="grade even where submissions cannot be confined (they run with your rights)",
    )
    _limit_options(grade)
    grade.set_defaults(run=grade_command)
    check = commands.add_parser("check", help="grade your own notebook and print its feedback")
    check.add_argument("notebook", help="the .ipynb file to check")
    check.add_argument("--lesson", help="the lesson (default: told from the notebook)")
    check.add_argument("--out", help="also write <name>.json and <name>.feedback.md into this folder")
    _limit_options(check)
    check.set_defaults(run=check_command)
    pub = commands.add_parser("publish", help="write the course as a class's learners get it (no answers)")
    pub.add_argument("folder", help="a new folder for the learners' copy")
    pub.set_defaults(run=publish_command)
    rel = commands.add_parser("release", help="make the learner notebooks from solutions/")
    rel.add_argument("lessons", nargs="*", help="lesson slugs or numbers (default: all)")
    rel.add_argument("--check", action="store_true", help="only check that they are up to date")
    rel.set_defaults(run=release_command)
    for name, web in (("serve", True), ("worker", False)):
        service = commands.add_parser(name, help="run the grading service" if web else "run grading workers only")
        _service_options(service, web=web)
        service.add_argument("--workers", type=int, help="worker processes (default 1)")
        service.add_argument(
            "--scratch", help="where workers write the notebooks they grade (default: a temporary folder)"
        )
        service.add_argument(
            "--accept-risk",
            action="store_true",
            help="grade even where submissions cannot be confined (they run with your rights)",
        )
        service.set_defaults(run=serve_command)
    sub = commands.add_parser("submit", help="submit a notebook to a grading service and wait for the feedback")
    sub.add_argument("notebook", help="the .ipynb file")
    sub.add_argument("--server", help="the service's URL (or AUTOGRADER_SERVER)")
    sub.add_argument("--token", help="your token (or AUTOGRADER_TOKEN)")
    sub.add_argument("--wait", type=float, default=600.0, help="seconds to wait for the feedback")
    sub.set_defaults(run=submit_command)
    tokens = commands.add_parser("tokens", help="tokens for the grading service")
    actions = tokens.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="make a token for one person and print it")
    add.add_argument("name")
    add.add_argument("--instructor", action="store_true", help="may see the class and export grades")
    imported = actions.add_parser("import", help="make a token for everyone on a CSV roster (name,instructor)")
    imported.add_argument("roster")
    for each in (add, imported):
        _service_options(each, web=None)
        each.set_defaults(run=tokens_command)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except GraderError as exc:
        print(f"autograder: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
