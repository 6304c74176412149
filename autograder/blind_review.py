"""The blind review of a lesson: answers written from the learner's notebook by someone who
has not read the hidden suite, graded, and recorded in the lesson's folder, before the suite is
strengthened and after (docs/AUTHORING.md, "The blind review").

    python -m autograder.blind_review grade LESSON ANSWERS.toml   # a new review, graded now: "before"
    python -m autograder.blind_review grade LESSON                # the recorded answers graded again: "after"
    python -m autograder.blind_review record LESSON ANSWERS.toml GRADES.jsonl --commit C
                                                                  # a review graded at commit C elsewhere: "before"

``ANSWERS.toml`` is the reviewer's: ``[[answer]]`` entries with ``exercise``, ``kind``
(``"wrong"`` or ``"correct"``), ``promise`` (in the reviewer's words, what the answer breaks or
how it differs), ``self_check`` (what the notebook's self-check said) and ``source`` (the whole
exercise cell). Each answer replaces its exercise's cell in the solution notebook and only that
exercise is graded (``grade_all(..., only=...)``), as the mutation gate grades: up to its first
failed test, the later ones not run (so ``points`` is what the answer earned up to there). A
wrong answer is *caught* when it loses points; a correct one is *kept* when it keeps them all.

The record, ``autograder/lessons/<slug>/blind_review.toml``, holds the reviewer, every answer
with its result ``before`` (and, once graded again, ``after``: points, total, the tests that
failed, the commit graded at), and a summary of each grading: the catch rate per exercise and
for the lesson, and how many correct answers kept full marks. The summary is made from the
answers, and a test fails when it drifts from them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from .errors import NoSuchLesson
from .grade import grade_all
from .lessons import ROOT, Lesson, lesson_named
from .notebook import with_cell
from .suite import NOT_RUN
from .types import Only

KINDS = ("wrong", "correct")
REVIEWER = "a helper who read only the learner notebooks"
GRADINGS = ("before", "after")
# The record's TOML, read as tomllib gives it: an answer ([[answer]]: exercise, kind, promise,
# source, and a result for each grading), a result (commit, caught, points, total, failed), a
# summary of a grading, and the whole record (reviewer, answer).
Answer = dict[str, Any]
Result = dict[str, Any]
Summary = dict[str, Any]
Record = dict[str, Any]


# -- grading the answers ----------------------------------------------------------------------------


def result(got: float, total: float, failed: list[str], commit: str) -> Result:
    return {"commit": commit, "caught": got < total or total == 0, "points": got, "total": total, "failed": failed}


def graded(lesson: Lesson, answers: list[Answer], commit: str) -> list[Result]:
    """Each answer's result: the answer in place of its exercise's cell in the solution
    notebook, that exercise's tests alone."""
    solution = json.loads(lesson.solution.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="blind-") as folder:
        only: dict[Path, str | Only] = {}
        for number, answer in enumerate(answers, 1):
            path = Path(folder) / f"{number:03d}-{answer['kind']}-{answer['exercise']}.ipynb"
            path.write_text(json.dumps(with_cell(solution, answer["exercise"], answer["source"])))
            only[path] = answer["exercise"]
        results = grade_all(list(only), lesson=lesson, only=only)
    made = []
    for answer, graded_one in zip(answers, results, strict=True):
        got, total = graded_one.exercise_scores().get(answer["exercise"], (0.0, 0.0))
        made.append(
            result(
                got,
                total,
                [test.name for test in graded_one.tests if not test.passed and test.feedback != NOT_RUN],
                commit,
            )
        )
    return made


def commit_graded() -> str:
    """The commit the suite is graded at: HEAD, marked when the lesson folders or solutions
    have changes not committed yet (the record then names no exact suite)."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", "autograder", "solutions"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return f"{head or 'unknown'}{' with uncommitted changes' if changed else ''}"


# -- the summary ----------------------------------------------------------------------------------


def _rate(caught: int, wrong: int) -> str:
    return f"{caught / wrong:.0%}".replace("%", " %") if wrong else "no wrong answers"


def _counts(answers: list[Answer], grading: str) -> Summary:
    wrong = [answer for answer in answers if answer["kind"] == "wrong"]
    correct = [answer for answer in answers if answer["kind"] == "correct"]
    caught = sum(answer[grading]["caught"] for answer in wrong)
    return {
        "wrong": len(wrong),
        "caught": caught,
        "catch_rate": _rate(caught, len(wrong)),
        "correct": len(correct),
        "kept_at_full_marks": sum(not answer[grading]["caught"] for answer in correct),
    }


def summary(answers: list[Answer], grading: str) -> Summary | None:
    """How a grading ("before" or "after") went, for the lesson and per exercise; None when
    the answers were not all graded so."""
    if not answers or any(grading not in answer for answer in answers):
        return None
    commits = sorted({answer[grading]["commit"] for answer in answers})
    exercises = list(dict.fromkeys(answer["exercise"] for answer in answers))
    return {
        "commit": ", ".join(commits),
        **_counts(answers, grading),
        "exercise": {
            exercise: _counts([answer for answer in answers if answer["exercise"] == exercise], grading)
            for exercise in exercises
        },
    }


# -- the record -----------------------------------------------------------------------------------


def read(lesson: Lesson) -> Record:
    return tomllib.loads(lesson.blind_review.read_text(encoding="utf-8")) if lesson.blind_review.exists() else {}


def reviewed(path: Path) -> list[Answer]:
    """A reviewer's answers, checked: each names an exercise and its kind, and holds a source."""
    answers: list[Answer] = tomllib.loads(path.read_text(encoding="utf-8")).get("answer", [])
    for number, answer in enumerate(answers, 1):
        missing = [key for key in ("exercise", "kind", "promise", "source") if not answer.get(key)]
        if missing or answer["kind"] not in KINDS:
            raise SystemExit(f"{path}: answer {number} needs exercise, kind (wrong or correct), promise and source")
    return answers


ANSWER_FIELDS = ("exercise", "kind", "promise", "self_check", "note")


def _value(value: Any) -> str:
    """A TOML value: strings as JSON writes them (valid TOML basic strings), inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(each) for each in value) + "]"
    return "{ " + ", ".join(f"{key} = {_value(each)}" for key, each in value.items()) + " }"


def _source(text: str) -> str:
    """A cell's source as a TOML multi-line literal string, as the reviewer wrote it."""
    if "'''" in text or any(ord(char) < 32 and char not in "\n\t" for char in text):
        return _value(text)
    return "'''\n" + text.strip("\n") + "\n'''"


def written(lesson: Lesson, record: Record) -> str:
    """The record as TOML, its summaries made from its answers."""
    answers = record["answer"]
    lines = [
        f'# The blind review of {lesson.slug} (docs/AUTHORING.md, "The blind review"): answers written',
        "# from the learner's notebook by a reviewer who never read the hidden suite, each graded alone",
        "# (in place of its exercise's cell in the solution notebook) before the suite was strengthened",
        "# and after. Written by `python -m autograder.blind_review`; the summaries are made from the answers.",
        "",
        f"reviewer = {_value(record['reviewer'])}",
    ]
    for grading in GRADINGS:
        made = summary(answers, grading)
        if made is None:
            continue
        exercises = made.pop("exercise")
        lines += ["", f"[summary.{grading}]", *(f"{key} = {_value(value)}" for key, value in made.items())]
        for exercise, counts in exercises.items():
            lines += [
                "",
                f"[summary.{grading}.exercise.{exercise}]",
                *(f"{key} = {_value(value)}" for key, value in counts.items()),
            ]
    for answer in answers:
        lines += [
            "",
            "[[answer]]",
            *(f"{key} = {_value(answer[key])}" for key in ANSWER_FIELDS if key in answer),
            *(f"{grading} = {_value(answer[grading])}" for grading in GRADINGS if grading in answer),
            f"source = {_source(answer['source'])}",
        ]
    return "\n".join(lines) + "\n"


def write(lesson: Lesson, record: Record) -> None:
    lesson.blind_review.write_text(written(lesson, record), encoding="utf-8")


def recorded_before(lesson: Lesson, answers: list[Answer], results: list[Result], reviewer: str = REVIEWER) -> Record:
    """A new record: the answers and their results before the suite is strengthened."""
    if lesson.blind_review.exists():
        raise SystemExit(
            f"{lesson.blind_review} exists: a review is graded 'before' once; "
            "grade it again without ANSWERS.toml for 'after'"
        )
    record = {
        "reviewer": reviewer,
        "answer": [
            {key: answer[key] for key in (*ANSWER_FIELDS, "source") if key in answer} | {"before": before}
            for answer, before in zip(answers, results, strict=True)
        ],
    }
    write(lesson, record)
    return record


def imported(path: Path, answers: list[Answer], commit: str) -> list[Result]:
    """Results graded elsewhere: JSON lines with number (1-based, into the answers), got or
    points, total, and failed ([test, feedback] pairs or test names)."""
    results: list[Result | None] = [None] * len(answers)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        answer = answers[row["number"] - 1]
        if row["exercise"] != answer["exercise"] or row["kind"] != answer["kind"]:
            raise SystemExit(f"{path}: answer {row['number']} is {answer['kind']} {answer['exercise']} in the answers")
        failed = [
            each[0] if isinstance(each, list) else each
            for each in row.get("failed", [])
            if not isinstance(each, list) or each[1] != NOT_RUN
        ]
        results[row["number"] - 1] = result(
            float(row.get("got", row.get("points", 0.0))), float(row["total"]), failed, commit
        )
    unrecorded = [number for number, each in enumerate(results, 1) if each is None]
    if unrecorded:
        raise SystemExit(f"{path}: no result for answers {unrecorded}")
    return [each for each in results if each is not None]  # every one, as just checked


def printed(lesson: Lesson, record: Record) -> str:
    lines = []
    for grading in GRADINGS:
        made = summary(record["answer"], grading)
        if made is not None:
            lines.append(
                f"{lesson.slug} {grading} (at {made['commit']}): wrong answers caught {made['caught']} of "
                f"{made['wrong']} ({made['catch_rate']}), correct ones at full marks {made['kept_at_full_marks']}"
                f" of {made['correct']}"
            )
            lines += [
                f"    {exercise:24} caught {counts['caught']} of {counts['wrong']}, kept {counts['kept_at_full_marks']}"
                f" of {counts['correct']}"
                for exercise, counts in made["exercise"].items()
            ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.blind_review", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade a new review (before), or the recorded one again (after)")
    grade.add_argument("lesson")
    grade.add_argument("answers", nargs="?", type=Path, help="the reviewer's ANSWERS.toml (a new review)")
    record = commands.add_parser("record", help="record a review graded elsewhere as 'before'")
    record.add_argument("lesson")
    record.add_argument("answers", type=Path)
    record.add_argument("grades", type=Path, help="JSON lines, one per answer")
    record.add_argument("--commit", required=True, help="the commit those grades were made at")
    record.add_argument("--reviewer", default=REVIEWER)
    args = parser.parse_args(argv)
    try:
        lesson = lesson_named(args.lesson)
    except NoSuchLesson as exc:
        parser.error(str(exc))
    if args.command == "record":
        answers = reviewed(args.answers)
        made = recorded_before(lesson, answers, imported(args.grades, answers, args.commit), args.reviewer)
    elif args.answers is not None:
        answers = reviewed(args.answers)
        made = recorded_before(lesson, answers, graded(lesson, answers, commit_graded()))
    else:
        made = read(lesson)
        if not made:
            parser.error(f"{lesson.slug} has no blind review yet: pass the reviewer's ANSWERS.toml")
        for answer, after in zip(made["answer"], graded(lesson, made["answer"], commit_graded()), strict=True):
            answer["after"] = after
        write(lesson, made)
    print(printed(lesson, made))
    return 0


if __name__ == "__main__":
    sys.exit(main())
