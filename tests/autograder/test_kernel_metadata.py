"""The kernel metadata the release writes is what JupyterLab writes on opening a notebook."""

from __future__ import annotations

import json
import sys

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel

from autograder.kernel_metadata import KERNEL_METADATA
from autograder.lessons import ROOT, all_lessons


def test_the_course_kernel_reports_what_the_release_writes():
    """Lab copies the spec's name, display name and language, and the kernel's language_info."""
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert KERNEL_METADATA["kernelspec"] == {"display_name": spec.display_name, "language": spec.language,
                                             "name": "python3"}
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        client.kernel_info()
        reply = client.get_shell_msg(timeout=30)
        language_info = reply["content"]["language_info"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    released = KERNEL_METADATA["language_info"]
    if language_info["version"] != released["version"]:
        assert language_info["version"].split(".")[:2] == released["version"].split(".")[:2]
        pytest.skip(f"this Python is {language_info['version']}; the release writes {released['version']}, "
                    "the course machines' (update autograder/kernel_metadata.py when they change)")
    assert language_info == released, "update KERNEL_METADATA, then run `autograder release`"
    assert sys.version.split()[0] == released["version"]


def test_every_learner_notebook_and_the_start_page_carry_it():
    paths = [lesson.release for lesson in all_lessons()] + [ROOT / "notebooks" / "START.ipynb"]
    for path in paths:
        metadata = json.loads(path.read_text(encoding="utf-8"))["metadata"]
        assert {key: metadata.get(key) for key in KERNEL_METADATA} == KERNEL_METADATA, path
