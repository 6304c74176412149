"""Writing results: per submission a JSON document and a feedback file; per class a CSV.

The feedback file is for the learner: what passed, what failed and what to try. It is built
only from test names, points and the feedback messages the suite wrote for learners, never
from the hidden tests' source.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .types import SubmissionResult

SYMBOL = {True: "✅", False: "❌"}


def write_json(result: SubmissionResult, out: Path) -> Path:
    path = out / f"{result.submission}.json"
    path.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def feedback_text(result: SubmissionResult) -> str:
    lines = [f"# Feedback for {result.submission}", ""]
    lines.append(f"Lesson: {result.lesson or 'unknown'}  ")
    lines.append(f"Score: {result.score:g} / {result.max_score:g}")
    lines.append("")
    if result.problems:
        lines += ["## Problems with the notebook", ""]
        lines += [f"- {problem}" for problem in result.problems]
        lines.append("")
    for exercise, (got, total) in result.exercise_scores().items():
        lines += [f"## `{exercise}`: {got:g} / {total:g}", ""]
        for test in (test for test in result.tests if test.exercise == exercise):
            line = f"- {SYMBOL[test.passed]} {test.name.removeprefix('test_').replace('_', ' ')} ({test.points:g}/{test.max_points:g})"
            if not test.passed and test.feedback:
                line += f": {test.feedback}"
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


def write_feedback(result: SubmissionResult, out: Path) -> Path:
    path = out / f"{result.submission}.feedback.md"
    path.write_text(feedback_text(result), encoding="utf-8")
    return path


def write_gradebook(results: list[SubmissionResult], out: Path) -> Path:
    """grades.csv: one row per submission, a column per exercise."""
    exercises: list[str] = []
    for result in results:
        exercises += [name for name in result.exercise_scores() if name not in exercises]
    path = out / "grades.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "lesson", "score", "max_score", *exercises, "problems"])
        for result in results:
            scores = result.exercise_scores()
            writer.writerow([
                result.submission, result.lesson or "", f"{result.score:g}", f"{result.max_score:g}",
                *(f"{scores[name][0]:g}" if name in scores else "" for name in exercises),
                len(result.problems),
            ])
    return path


def summary_line(result: SubmissionResult) -> str:
    note = f"  ({len(result.problems)} problem{'s' if len(result.problems) != 1 else ''})" if result.problems else ""
    return f"{result.submission}: {result.score:g}/{result.max_score:g} in {result.seconds:.1f} s{note}"
