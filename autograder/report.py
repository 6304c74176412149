"""Writing results: per submission a JSON document and a feedback file; per class a CSV.

The feedback file is for the learner: what passed, what failed and what to try. It is built
only from test names, points and the feedback messages the suite wrote for learners, never
from the hidden tests' source.

A submission the grader failed on (``types.GRADER_ERROR``) has no score anywhere: its JSON
says ``"score": null`` with the ``status`` and the ``grader_error``, its feedback file says it
was not graded and why (it is not the learner's fault), its gradebook row has an empty score
and the reason, and its Gradescope result has no score and is hidden from the learner.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
from pathlib import Path
from typing import Any, TextIO

from .types import SubmissionResult

SYMBOL = {True: "✅", False: "❌"}


def write_json(result: SubmissionResult, out: Path) -> Path:
    path = out / f"{result.submission}.json"
    path.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


NOT_GRADED = (
    "Not graded: the grader failed on its own side, not because of your code, so this notebook has no "
    "score. Your instructor sees why and has it graded again once the grader works."
)


# What in learner-controlled text would make Markdown emit HTML or a link when rendered: a "<"
# that opens a tag, a comment, a declaration or an autolink (all begin "<" and a letter, "/", "!"
# or "?"), and the "](" of an inline link or image; with the backslashes just before it, which
# would otherwise escape our escape.
_MARKUP = re.compile(r"(\\*)(<(?=[A-Za-z/!?])|\](?=\())")


def markdown_safe(text: str) -> str:
    """``text`` (a learner's name, an exception message, a feedback message quoting their
    values) fit to put into Markdown that something may render as HTML (a notebook, an LMS, a
    forge): every "<" that would open HTML and every "](" that would make a link is
    backslash-escaped, which renders as the character itself. Nothing else changes, so "a < b",
    "<=" and the backticks of a message stay as they were, and read the same as plain text
    save for a backslash before "<name". (The instructor's page shows the text as text.)"""
    return _MARKUP.sub(lambda found: found[1] * 2 + "\\" + found[2], text)


def feedback_text(result: SubmissionResult, *, markdown: bool = True) -> str:
    """The feedback document: Markdown, with the learner's text made inert (``markdown_safe``);
    ``markdown=False`` for a terminal or a cell's plain output, which render nothing."""
    safe = markdown_safe if markdown else str
    lines = [f"# Feedback for {safe(result.submission)}", ""]
    lines.append(f"Lesson: {result.lesson or 'unknown'}  ")
    if not result.graded:
        return "\n".join(
            [
                *lines,
                f"Score: none ({result.status})",
                "",
                NOT_GRADED,
                "",
                f"What failed (for your instructor): {safe(result.grader_error)}",
                "",
            ]
        )
    lines.append(f"Score: {result.score:g} / {result.max_score:g}")
    lines.append("")
    if result.problems:
        lines += ["## Problems with the notebook", ""]
        lines += [f"- {safe(problem)}" for problem in result.problems]
        lines.append("")
    for exercise, (got, total) in result.exercise_scores().items():
        lines += [f"## `{exercise}`: {got:g} / {total:g}", ""]
        for test in (test for test in result.tests if test.exercise == exercise):
            name = test.name.removeprefix("test_").replace("_", " ")
            line = f"- {SYMBOL[test.passed]} {name} ({test.points:g}/{test.max_points:g})"
            if not test.passed and test.feedback:
                line += f": {safe(test.feedback)}"
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


def write_feedback(result: SubmissionResult, out: Path) -> Path:
    path = out / f"{result.submission}.feedback.md"
    path.write_text(feedback_text(result), encoding="utf-8")
    return path


def write_gradebook(results: list[SubmissionResult], out: Path) -> Path:
    """grades.csv: one row per submission, a column per exercise."""
    path = out / "grades.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        write_gradebook_rows(results, handle)
    return path


def write_gradebook_rows(results: list[SubmissionResult], handle: TextIO) -> None:
    exercises: list[str] = []
    for result in results:
        exercises += [name for name in result.exercise_scores() if name not in exercises]
    writer = csv.writer(handle)
    writer.writerow(["submission", "lesson", "score", "max_score", *exercises, "problems", "status", "grader_error"])
    for result in results:
        scores = result.exercise_scores()
        writer.writerow(
            [
                result.submission,
                result.lesson or "",
                f"{result.score:g}" if result.graded else "",
                f"{result.max_score:g}",
                *(f"{scores[name][0]:g}" if name in scores else "" for name in exercises),
                len(result.problems),
                result.status,
                result.grader_error,
            ]
        )


def write_gradescope(result: SubmissionResult, out: Path) -> Path:
    """Gradescope's results.json (one folder per submission, as its autograder expects)."""
    folder = out / "gradescope" / result.submission
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    path.write_text(gradescope_text(result), encoding="utf-8")
    return path


def gradescope_text(result: SubmissionResult) -> str:
    if not result.graded:
        # Gradescope has no "not graded": no score and no tests, hidden from the learner, the
        # reason for the instructor.
        document: dict[str, Any] = {
            "output": f"{NOT_GRADED}\nWhat failed: {result.grader_error}",
            "visibility": "hidden",
            "tests": [],
            "extra_data": {"status": result.status, "grader_error": result.grader_error},
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    document = {
        "score": result.score,
        "output": "\n".join(result.problems),
        "tests": [
            {
                "name": f"{test.exercise}: {test.name}",
                "score": test.points,
                "max_score": test.max_points,
                "status": "passed" if test.passed else "failed",
                "output": test.feedback,
            }
            for test in result.tests
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def pass_rates(results: list[SubmissionResult]) -> list[tuple[str, str, int, int]]:
    """(exercise, test, passed, graded) per hidden test, hardest first."""
    counts: dict[tuple[str, str], list[int]] = {}
    for result in results:
        for test in result.tests:
            tally = counts.setdefault((test.exercise, test.name), [0, 0])
            tally[0] += test.passed
            tally[1] += 1
    rows = [(exercise, name, passed, graded) for (exercise, name), (passed, graded) in counts.items()]
    return sorted(rows, key=lambda row: (row[2] / row[3], row[0], row[1]))


def write_pass_rates(results: list[SubmissionResult], out: Path) -> Path:
    path = out / "pass_rates.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["exercise", "test", "passed", "graded", "pass_rate"])
        for exercise, name, passed, graded in pass_rates(results):
            writer.writerow([exercise, name, passed, graded, f"{passed / graded:.2f}"])
    return path


def class_summary(results: list[SubmissionResult], seconds: float) -> str:
    """What an instructor reads at the end of a run."""
    if not results:
        return "no submissions graded"
    graded = [r for r in results if r.graded]
    fractions = [r.score / r.max_score for r in graded if r.score is not None and r.max_score]
    with_problems = sum(1 for r in graded if r.problems)
    hardest = [f"{exercise}/{name} ({passed}/{total})" for exercise, name, passed, total in pass_rates(graded)[:3]]
    lines = [
        f"graded {len(graded)} submission(s) in {seconds:.1f} s "
        f"(median {statistics.median(r.seconds for r in results):.1f} s each)",
        f"median score {statistics.median(fractions or [0]):.0%}; full marks: {sum(1 for f in fractions if f == 1)}; "
        f"submissions with problems: {with_problems}",
        "hardest checks: " + ", ".join(hardest),
    ]
    failed = [r for r in results if not r.graded]
    if failed:
        lines.append(
            "NOT GRADED, grader errors (no score written; fix the grader and grade them again): "
            + ", ".join(f"{r.submission} ({r.grader_error})" for r in failed)
        )
    return "\n".join(lines)


def progress_line(done: int, total: int, result: SubmissionResult, width: int = 20) -> str:
    filled = round(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {summary_line(result)}"


def summary_line(result: SubmissionResult) -> str:
    if not result.graded:
        return f"{result.submission}: {result.status}: {result.grader_error}"
    note = f"  ({len(result.problems)} problem{'s' if len(result.problems) != 1 else ''})" if result.problems else ""
    return f"{result.submission}: {result.score:g}/{result.max_score:g} in {result.seconds:.1f} s{note}"
