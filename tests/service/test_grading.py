"""What a worker hides from the sandboxes it grades in: proved by a real sandbox's probe."""

from __future__ import annotations

import pytest

from autograder.jail import Jail, confinement, probe
from autograder.service.grading import sandbox_hidden
from autograder.service.settings import Settings


def test_no_sandbox_sees_the_database_or_other_submissions(tmp_path):
    if not confinement().protective:
        pytest.skip(f"this machine cannot hide paths from a sandbox ({confinement().describe()})")
    settings = Settings(data=str(tmp_path / "data"))
    settings.folder.mkdir()
    database = settings.folder / "service.db"
    database.write_text("every notebook and token hash")
    scratch = tmp_path / "scratch"
    mine, theirs = scratch / "mine" / "alice.ipynb", scratch / "theirs" / "bob.ipynb"
    for notebook in (mine, theirs):
        notebook.parent.mkdir(parents=True)
        notebook.write_text("{}")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    seen = probe(Jail(hidden=sandbox_hidden(mine, scratch, settings)), sandbox, [str(database), str(theirs), str(mine)])
    assert seen["visible"] == []
