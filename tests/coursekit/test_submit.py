"""coursekit.submit: where the server comes from, and what a learner sees without one.
(Submitting to a real service is tested in tests/service/test_processes.py.)"""

from __future__ import annotations

import httpx
import pytest

from coursekit import submit


@pytest.fixture
def no_service(monkeypatch, tmp_path):
    monkeypatch.delenv("AUTOGRADER_SERVER", raising=False)
    monkeypatch.delenv("AUTOGRADER_TOKEN", raising=False)
    monkeypatch.setattr(submit, "CONFIG", tmp_path / "service.toml")
    return tmp_path / "service.toml"


def test_without_a_server_the_cell_says_how_to_configure_one_and_does_not_fail(no_service, capsys):
    assert submit.submit_notebook("anything.ipynb") is None
    said = capsys.readouterr().out
    assert "No grading server is configured" in said
    assert "AUTOGRADER_SERVER" in said and str(no_service) in said


def test_the_environment_comes_before_the_config_file(no_service, monkeypatch):
    no_service.write_text('server = "http://from-file:1/"\ntoken = "file-token"\n')
    assert submit.configured(config=no_service) == submit.Service("http://from-file:1", "file-token")
    monkeypatch.setenv("AUTOGRADER_SERVER", "http://from-env:2")
    monkeypatch.setenv("AUTOGRADER_TOKEN", "env-token")
    assert submit.configured(config=no_service) == submit.Service("http://from-env:2", "env-token")
    assert submit.configured("http://given:3", "given", config=no_service) == submit.Service("http://given:3", "given")


def test_a_retried_upload_keeps_its_idempotency_key(tmp_path, monkeypatch):
    notebook = tmp_path / "n.ipynb"
    notebook.write_text("{}")
    keys = []

    def flaky_post(url, *, content, headers, timeout):
        keys.append(headers["Idempotency-Key"])
        if len(keys) < 3:
            raise httpx.ConnectError("the connection broke")
        return httpx.Response(202, json={"id": "x", "lesson": "01"})

    monkeypatch.setattr(submit.httpx, "post", flaky_post)
    monkeypatch.setattr(submit.time, "sleep", lambda seconds: None)
    assert submit.upload(submit.Service("http://s", "t"), notebook)["id"] == "x"
    assert len(keys) == 3 and len(set(keys)) == 1


def test_a_refusal_is_reported_with_the_servers_reason(tmp_path, monkeypatch):
    notebook = tmp_path / "n.ipynb"
    notebook.write_text("{}")
    monkeypatch.setattr(submit.httpx, "post", lambda *a, **k: httpx.Response(429, json={"detail": "wait 30 s"}))
    with pytest.raises(submit.SubmissionFailed, match=r"429.*wait 30 s"):
        submit.upload(submit.Service("http://s", "t"), notebook)


def test_the_feedback_is_rendered_as_markdown_in_a_notebook_and_printed_elsewhere(monkeypatch, capsys):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw: shown.append(bundle))
    submit.show_feedback("# Feedback for ada")
    assert shown == [] and capsys.readouterr().out == "# Feedback for ada\n"  # no kernel here
    monkeypatch.setattr("IPython.get_ipython", lambda: object())
    submit.show_feedback("# Feedback for ada")
    assert shown == [{"text/markdown": "# Feedback for ada", "text/plain": "# Feedback for ada"}]
