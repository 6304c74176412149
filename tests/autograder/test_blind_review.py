"""autograder.blind_review: a review's answers graded each in place of its exercise's cell, and
the record written with summaries made from them."""

from __future__ import annotations

import json
import tomllib

import pytest

from autograder import blind_review
from autograder.lessons import Lesson, find_lesson

RIGHT = """
async def json_app(scope, receive, send):
    from starlette.responses import JSONResponse

    await JSONResponse({"method": scope["method"], "path": scope["path"]})(scope, receive, send)
"""
WRONG = """
async def json_app(scope, receive, send):
    body = json.dumps({"method": scope["method"], "path": scope["path"]}).encode()
    await send({"type": "http.response.start", "status": 201, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""


def answer(kind: str, exercise: str, before: dict, **more) -> dict:
    return {
        "exercise": exercise,
        "kind": kind,
        "promise": "why",
        "self_check": "passes",
        "source": "pass\n",
        "before": before,
        **more,
    }


def test_the_summary_counts_wrong_answers_caught_and_correct_ones_kept(tmp_path):
    caught = blind_review.result(1.0, 2.0, ["test_a"], "abc1234")
    kept = blind_review.result(2.0, 2.0, [], "abc1234")
    answers = [
        answer("wrong", "json_app", caught),
        answer("wrong", "json_app", kept),
        answer("correct", "json_app", kept),
        answer("wrong", "echo_app", caught, note="a note"),
    ]
    made = blind_review.summary(answers, "before")
    assert made["commit"] == "abc1234"
    assert (made["wrong"], made["caught"], made["catch_rate"], made["correct"], made["kept_at_full_marks"]) == (
        3,
        2,
        "67 %",
        1,
        1,
    )
    assert made["exercise"]["json_app"]["catch_rate"] == "50 %" and made["exercise"]["echo_app"]["caught"] == 1
    assert blind_review.summary(answers, "after") is None

    lesson = Lesson("01_asgi_by_hand")
    text = blind_review.written(lesson, {"reviewer": "someone", "answer": answers})
    read = tomllib.loads(text)
    assert read["answer"] == answers and read["summary"]["before"]["caught"] == 2 and "after" not in read["summary"]
    assert blind_review.written(lesson, read) == text


def test_a_source_that_toml_cannot_hold_as_written_is_kept_exactly():
    for source in ["x = '''a'''\n", "tab\there\n", "bell\x07\n", "plain\n"]:
        assert tomllib.loads(f"source = {blind_review._source(source)}")["source"].strip("\n") == source.strip("\n")


def test_results_graded_elsewhere_are_read_from_json_lines(tmp_path):
    answers = [answer("wrong", "json_app", {}), answer("correct", "echo_app", {})]
    grades = tmp_path / "grades.jsonl"
    rows = [
        {"number": 2, "exercise": "echo_app", "kind": "correct", "got": 7.0, "total": 7.0, "failed": []},
        {
            "number": 1,
            "exercise": "json_app",
            "kind": "wrong",
            "got": 6.0,
            "total": 8.0,
            "failed": [["test_x", "Your app ..."], ["test_y", "This check did not run."]],
        },
    ]
    grades.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    assert blind_review.imported(grades, answers, "eacc94c") == [
        {"commit": "eacc94c", "caught": True, "points": 6.0, "total": 8.0, "failed": ["test_x"]},
        {"commit": "eacc94c", "caught": False, "points": 7.0, "total": 7.0, "failed": []},
    ]
    grades.write_text(json.dumps({**rows[0], "kind": "wrong"}) + "\n")
    with pytest.raises(SystemExit, match="answer 2 is correct echo_app"):
        blind_review.imported(grades, answers, "eacc94c")


def test_a_review_is_recorded_before_once(tmp_path, monkeypatch):
    lesson = find_lesson("01")
    monkeypatch.setattr(Lesson, "blind_review", property(lambda self: tmp_path / "blind_review.toml"))
    answers = [answer("wrong", "json_app", {})]
    del answers[0]["before"]
    blind_review.recorded_before(lesson, answers, [blind_review.result(0.0, 9.0, ["test_a"], "abc1234")])
    assert blind_review.read(lesson)["answer"][0]["before"]["caught"] is True
    with pytest.raises(SystemExit, match="graded 'before' once"):
        blind_review.recorded_before(lesson, answers, [])


def test_each_answer_is_graded_in_place_of_its_exercise_cell_alone():
    lesson = find_lesson("01")
    wrong, right = blind_review.graded(
        lesson,
        [
            {"exercise": "json_app", "kind": "wrong", "source": WRONG},
            {"exercise": "json_app", "kind": "correct", "source": RIGHT},
        ],
        "HEAD",
    )
    assert wrong["caught"] and wrong["points"] < wrong["total"] and wrong["failed"] and wrong["commit"] == "HEAD"
    assert not right["caught"] and right["points"] == right["total"] > 0 and right["failed"] == []
