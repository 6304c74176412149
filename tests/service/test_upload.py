"""What an upload holds (``upload``), through the web app in-process: the notebook as the raw
body or as a multipart form's file is one and the same submission, and what is not a notebook
is refused with what was wrong with it."""

from __future__ import annotations

import json

import pytest

from autograder.lessons import find_lesson
from autograder.service.app import create_app

from .service_processes import in_process, query

pytestmark = pytest.mark.anyio

SOLUTION = find_lesson("01").solution.read_bytes()


@pytest.fixture
async def client(settings, people):
    async with in_process(create_app(settings), people.header(people.alice)) as client:
        yield client


def stored(settings) -> list[bytes]:
    return [row[0] for row in query(settings, "SELECT notebook FROM submissions")]


@pytest.mark.parametrize("field", ["file", "notebook"])
async def test_a_notebook_sent_as_a_form_file_is_accepted_as_the_raw_body_is(client, settings, field):
    """As ``curl -F file=@lesson.ipynb``, an HTML form or FastAPI's UploadFile send it."""
    form = await client.post(
        "/api/submissions", files={field: ("01_asgi_by_hand.ipynb", SOLUTION, "application/x-ipynb+json")}
    )
    raw = await client.post("/api/submissions", content=SOLUTION)
    assert form.status_code == raw.status_code == 202, form.text
    assert form.json()["lesson"] == raw.json()["lesson"] == "01_asgi_by_hand"
    assert stored(settings) == [SOLUTION, SOLUTION]  # the notebook, not the form around it


async def test_a_form_retry_and_a_raw_retry_under_one_key_are_one_submission(client, settings):
    key = {"Idempotency-Key": "form-then-raw"}
    first = await client.post("/api/submissions", files={"file": ("a.ipynb", SOLUTION)}, headers=key)
    again = await client.post("/api/submissions", content=SOLUTION, headers=key)
    assert first.json()["id"] == again.json()["id"] and len(stored(settings)) == 1


async def test_a_notebook_as_a_forms_text_field_is_accepted(client):
    """``curl -F 'file=<lesson.ipynb'`` sends the file's text as a field, not a file."""
    answer = await client.post(
        "/api/submissions",
        content=multipart_fields({"file": SOLUTION.decode()}),
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize(
    ("files", "fields", "says"),
    [
        ({"a": ("a.ipynb", SOLUTION), "b": ("b.ipynb", SOLUTION)}, None, "it holds 2 files ('a.ipynb', 'b.ipynb')"),
        (None, {"name": "alice", "lesson": "01"}, "it holds no file, only the fields name, lesson"),
    ],
)
async def test_a_form_without_exactly_one_notebook_is_422_saying_so(client, settings, files, fields, says):
    if files is None:  # fields alone: httpx would send them url-encoded, so the form is written here
        answer = await client.post(
            "/api/submissions",
            content=multipart_fields(fields),
            headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
        )
    else:
        answer = await client.post("/api/submissions", files=files)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert says in detail and "curl -F file=@lesson.ipynb" in detail
    assert "saved by Jupyter" not in detail  # the advice for a broken notebook is not this one's
    assert stored(settings) == []


def multipart_fields(fields: dict[str, str], boundary: str = "XyZ") -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + f"--{boundary}--\r\n").encode()


async def test_a_broken_form_is_422_not_a_500(client, settings):
    answer = await client.post(
        "/api/submissions",
        content=b"--XyZ\r\nContent-Disposition: garbage",
        headers={"Content-Type": "multipart/form-data"},
    )  # and no boundary
    assert answer.status_code == 422 and "not a well-formed multipart form" in answer.json()["detail"]
    assert stored(settings) == []


async def test_a_notebook_nested_100000_deep_is_422_not_a_500(client, settings):
    deep = b"[" * 100_000 + b"]" * 100_000
    for body in (deep, b'{"cells": ' + deep + b"}"):
        answer = await client.post("/api/submissions", content=body)
        assert answer.status_code == 422, answer.text
        assert "nested too deeply" in answer.json()["detail"]
    form = await client.post("/api/submissions", files={"file": ("deep.ipynb", deep)})
    assert form.status_code == 422 and "nested too deeply" in form.json()["detail"]
    assert stored(settings) == []


async def test_a_notebook_that_is_not_json_says_so_as_a_form_file_too(client):
    answer = await client.post("/api/submissions", files={"file": ("lesson.py", b"print('hello')")})
    assert answer.status_code == 422 and "not valid JSON" in answer.json()["detail"]


async def test_the_raw_body_keeps_any_content_type(client):
    """Tools label a notebook every way; curl --data-binary says form-urlencoded."""
    for kind in ("application/json", "application/x-ipynb+json", "application/x-www-form-urlencoded", "text/plain"):
        answer = await client.post("/api/submissions", content=SOLUTION, headers={"Content-Type": kind})
        assert answer.status_code == 202, (kind, answer.text)
    assert json.loads(SOLUTION)["nbformat"] == 4
