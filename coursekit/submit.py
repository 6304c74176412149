"""Hand a notebook in to the course's grading service and wait for its feedback.

    submit_notebook("01_asgi_by_hand.ipynb")     # the last cell of every learner notebook
    autograder submit NOTEBOOK --server URL --token T   # the same from a terminal

Where the server is and who you are come from, first found first:
``AUTOGRADER_SERVER`` and ``AUTOGRADER_TOKEN`` in the environment, or a file
``~/.config/autograder/service.toml`` holding ``server = "..."`` and ``token = "..."``. With
neither, ``submit_notebook`` says how to set them and does nothing else, so "Run All" on a
notebook never fails because no server was configured.

Every upload carries an ``Idempotency-Key``, the same for every retry of one submission: a
connection that breaks after the server stored the notebook and before its answer arrived
is retried without making a second submission.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from coursekit.display import show_bundle

__all__ = ["Service", "SubmissionFailed", "configured", "submit", "submit_notebook"]

CONFIG = Path.home() / ".config" / "autograder" / "service.toml"


def how_to_configure() -> str:
    return (
        "No grading server is configured, so this notebook was not submitted (nothing is wrong with it). "
        "If your course has a grading server, set AUTOGRADER_SERVER (its URL) and AUTOGRADER_TOKEN (the "
        f"token your instructor gave you) before starting JupyterLab, or write them into {CONFIG} as\n"
        '    server = "http://..."\n    token = "..."\n'
        "then run this cell again. Without a server, your instructor collects notebooks another way."
    )


# done: graded; failed: the grader could not grade this notebook; error: not graded because the
# grader failed on its own side (not your code): your instructor sees why and grades it again.
FINISHED = ("done", "failed", "error")
# A submission as the service reports it (its JSON): "id", "lesson", "status", the score and
# "feedback" once graded.
State = dict[str, Any]


class SubmissionFailed(Exception):
    """The service refused the notebook or could not be reached; the message says what to do."""


@dataclass(frozen=True)
class Service:
    server: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def configured(server: str | None = None, token: str | None = None, config: Path | None = None) -> Service | None:
    """The service named by the arguments, the environment or the config file; None if none is."""
    config = config or CONFIG
    found = {}
    if config.exists():
        found = tomllib.loads(config.read_text(encoding="utf-8"))
    server = server or os.environ.get("AUTOGRADER_SERVER") or found.get("server")
    token = token or os.environ.get("AUTOGRADER_TOKEN") or found.get("token")
    return Service(server.rstrip("/"), token) if server and token else None


def upload(service: Service, notebook: Path, *, attempts: int = 5, timeout: float = 30.0) -> State:
    """POST the notebook; retry a broken connection with the same idempotency key."""
    body = notebook.read_bytes()
    headers = {**service.headers, "Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/x-ipynb+json"}
    for attempt in range(attempts):
        try:
            response = httpx.post(f"{service.server}/api/submissions", content=body, headers=headers, timeout=timeout)
        except httpx.TransportError as exc:
            if attempt == attempts - 1:
                raise SubmissionFailed(
                    f"cannot reach the grading server at {service.server} ({exc}); "
                    "check the URL, or ask your instructor whether it is running"
                ) from None
            time.sleep(min(2**attempt * 0.5, 5))
            continue
        if response.status_code == 202:
            accepted: State = response.json()
            return accepted
        raise SubmissionFailed(f"the server refused the notebook ({response.status_code}): {_detail(response)}")
    raise AssertionError("unreachable")


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.text[:500]


def follow(service: Service, accepted: State, *, timeout: float = 600.0) -> Iterator[State]:
    """The submission's states as the server streams them, ending with the graded one; falls
    back to asking for the status once a second if the stream breaks."""
    deadline = time.monotonic() + timeout
    url = f"{service.server}/api/submissions/{accepted['id']}"
    try:
        with httpx.stream("GET", url + "/events", headers=service.headers, timeout=timeout) as response:
            if response.status_code != 200:
                raise SubmissionFailed(
                    f"the server refused the status ({response.status_code}): {response.read()[:300]!r}"
                )
            for line in response.iter_lines():
                if line.startswith("data: "):
                    state = json.loads(line.removeprefix("data: "))
                    yield state
                    if state["status"] in FINISHED:
                        return
    except httpx.TransportError:
        pass  # fall back to polling below
    while time.monotonic() < deadline:
        response = httpx.get(url, headers=service.headers, timeout=30)
        if response.status_code != 200:
            raise SubmissionFailed(f"the server refused the status ({response.status_code}): {_detail(response)}")
        state = response.json()
        yield state
        if state["status"] in FINISHED:
            return
        time.sleep(1.0)
    raise SubmissionFailed(f"no result within {timeout:g} s; it is stored and will be graded: see {url}")


def progress_text(state: State) -> str:
    if state["status"] == "queued":
        ahead = state.get("ahead")
        return "queued" + (f" ({ahead} ahead of you)" if ahead else "")
    if state["status"] == "running":
        return "grading..."
    if state["status"] == "done":
        return f"graded: {state['score']:g} / {state['max_score']:g}"
    if state["status"] == "error":
        return "not graded: the grader failed on its side, not because of your code (see the feedback)"
    return "the grader could not grade it (see the feedback)"


def submit(
    notebook: Path, service: Service, *, on_progress: Callable[[str], None] = print, timeout: float = 600.0
) -> State:
    """Upload, follow the progress, and return the graded submission (feedback included)."""
    accepted = upload(service, Path(notebook))
    on_progress(f"submitted {Path(notebook).name} for {accepted['lesson']} (id {accepted['id']})")
    state = accepted
    last = None
    for state in follow(service, accepted, timeout=timeout):
        text = progress_text(state)
        if text != last:
            on_progress(text)
            last = text
    return state


def submit_notebook(filename: str, server: str | None = None, token: str | None = None) -> State | None:
    """What the last cell of a learner notebook calls: submit this notebook (saved first!)
    if a server is configured, and show the feedback; otherwise say how to configure one."""
    service = configured(server, token)
    if service is None:
        print(how_to_configure())
        return None
    path = Path(filename)
    if not path.exists():
        print(f"{filename} is not in this folder ({Path.cwd()}): run this cell from the notebook's own folder.")
        return None
    print("Submitting the notebook as last saved: save it first (Ctrl+S) if you changed it since.")
    try:
        state = submit(path, service)
    except SubmissionFailed as exc:
        print(f"Not submitted: {exc}")
        return None
    print()
    show_feedback(state.get("feedback") or "")
    return state


def show_feedback(text: str) -> None:
    """The feedback as the learner should read it: in a notebook, rendered as the Markdown it is
    (headings, lists, code), the plain text beside it for front ends that render none; elsewhere
    printed. Rendering is safe: the grader made every piece of learner-written text in it inert
    (``autograder.report.markdown_safe``), and JupyterLab sanitises rendered output besides."""
    show_bundle({"text/markdown": text, "text/plain": text})
