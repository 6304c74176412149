"""What the lesson tests share across modules: each lesson's class, graded once (``classes.py``)."""

from __future__ import annotations

import pytest

from tests.lessons.classes import Classes


@pytest.fixture(scope="session")
def graded_classes(tmp_path_factory):
    """lesson -> {submission name: SubmissionResult} for every variant the collected test
    modules add to the lesson's class (``@in_every_class``), graded in one run on first use."""
    return Classes(tmp_path_factory.mktemp)
