"""What an upload holds: its body (within the size limit), the notebook in it, and its lesson.

Learners' tools send a notebook two ways, and both are the same submission:

- **the raw body** (``autograder submit``, ``submit_notebook``, ``curl --data-binary @lesson.ipynb``),
  whatever its Content-Type: tools label a notebook every way (``application/json``,
  ``application/x-ipynb+json``, curl's ``application/x-www-form-urlencoded``);
- **a multipart form** (``curl -F file=@lesson.ipynb``, an HTML form, FastAPI's own
  ``UploadFile``, Gradescope-style clients): the notebook is the form's one file, under any
  field name.

A body that is neither a notebook nor a form holding one is refused with what was wrong with
*it* (``NotASubmission``), never with advice about a file the learner did send.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from .. import notebook
from ..errors import GraderError
from ..grade import detect_lesson
from ..lessons import Lesson, all_lessons
from .errors import FormWithoutNotebook, NestedTooDeeply, NotASubmission, TooLarge


def graded_lessons() -> list[Lesson]:
    """The lessons this server has hidden suites for."""
    return [lesson for lesson in all_lessons() if any(lesson.suite.glob("test_*.py"))]


async def body_within_limit(request: Request, limit: int) -> bytes:
    """The request's body, refused (``TooLarge``) once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(limit)  # refused before a byte of it is read
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def is_form(headers: Headers) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() == "multipart/form-data"


async def notebook_of(headers: Headers, body: bytes) -> bytes:
    """The notebook an upload carries: the body itself, or the one file of a multipart form."""
    if not is_form(headers):
        return body

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    # The whole body is already within the upload limit, so a part may be as large as the body.
    parser = MultiPartParser(headers, stream(), max_files=10, max_fields=10, max_part_size=max(len(body), 1))
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise FormWithoutNotebook(f"it is not a well-formed multipart form ({exc.message})") from None
    try:
        files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
        fields = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
        if len(files) == 1:
            return await files[0].read()
        if len(files) > 1:
            names = ", ".join(repr(each.filename) for each in files)
            raise FormWithoutNotebook(f"it holds {len(files)} files ({names}), and one submission is one notebook")
        if len(fields) == 1:  # `curl -F file=<lesson.ipynb`: the notebook as a text field
            return fields[0][1].encode("utf-8")
        raise FormWithoutNotebook(
            "it holds no file" + (f", only the fields {', '.join(n for n, _ in fields)}" if fields else "")
        )
    finally:
        await form.close()


def lesson_of(body: bytes) -> str:
    """The lesson of an uploaded notebook, or ``NotASubmission`` saying why there is none."""
    lessons = graded_lessons()
    with tempfile.TemporaryDirectory(prefix="upload-") as folder:
        path = Path(folder) / "submission.ipynb"
        path.write_bytes(body)
        try:
            submitted = notebook.read(path)
            found = detect_lesson(submitted, path, lessons)
        except RecursionError:  # JSON nested deeper than Python's parser recurses: no notebook is
            raise NestedTooDeeply() from None
        except GraderError as exc:
            message = str(exc).replace(str(path), "The upload")
            if "Pass --lesson" in message:  # the grader's advice is for its command line
                message = (
                    "The upload is a notebook, but none of its exercise cells match a lesson of this "
                    f"course ({', '.join(lesson.slug for lesson in lessons)}). Submit the lesson's "
                    "notebook as you received it, with its exercise cells in place."
                )
            raise NotASubmission(message) from None
    return found.slug
