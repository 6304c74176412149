"""The kernel metadata the release writes is what JupyterLab writes on opening a notebook, on
every Python 3.11.x: the course's kernel (``coursekit.kernel``) reports major.minor only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from traitlets.config.loader import PyFileConfigLoader

from autograder import release
from autograder.errors import ReleaseOutOfDate
from autograder.kernel_metadata import KERNEL_METADATA
from autograder.lessons import ROOT, all_lessons
from coursekit import kernel
from coursekit.kernel import CourseKernel

# Starts IPython's kernel as an interpreter of another patch version would: ipykernel takes the
# version it reports from ``sys.version``, read when it is imported.
OTHER_PATCH = "3.11.99"
LAUNCHER = (
    f"import sys; sys.version = {OTHER_PATCH!r} + sys.version[sys.version.index(' '):]; "
    "from ipykernel.kernelapp import launch_new_instance; launch_new_instance()"
)


def kernel_info(kernel_name: str, specs: KernelSpecManager | None = None) -> dict:
    manager = KernelManager(kernel_name=kernel_name, kernel_spec_manager=specs or KernelSpecManager())
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        client.kernel_info()
        return client.get_shell_msg(timeout=30)["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_the_course_kernel_reports_what_the_release_writes():
    """Lab copies the spec's name, display name and language, and the kernel's language_info."""
    spec = KernelSpecManager().get_kernel_spec("python3")
    assert KERNEL_METADATA["kernelspec"] == {
        "display_name": spec.display_name,
        "language": spec.language,
        "name": "python3",
    }
    assert kernel_info("python3")["language_info"] == KERNEL_METADATA["language_info"], (
        "the kernel's language_info drifted: is the course's kernel selected in this environment "
        f"({kernel.config_path()}; `python -m coursekit.kernel` writes it)? Otherwise update "
        "KERNEL_METADATA, then run `autograder release`"
    )
    assert KERNEL_METADATA["language_info"]["version"] == "{}.{}".format(*sys.version_info[:2])


def test_the_course_kernel_reports_the_running_pythons_major_and_minor(monkeypatch):
    bare = CourseKernel.__new__(CourseKernel)  # its language_info needs no sockets and no shell
    assert bare.language_info == KERNEL_METADATA["language_info"]
    monkeypatch.setattr(sys, "version_info", (3, 12, 5, "final", 0))
    assert bare.language_info == {**KERNEL_METADATA["language_info"], "version": "3.12"}


def test_another_patch_of_311_reports_what_the_release_writes(tmp_path: Path):
    """A real kernel process on a Python whose patch version differs: IPython's own kernel
    reports it (so Lab would mark the lesson modified), the course's kernel does not."""
    argv = [sys.executable, "-c", LAUNCHER, "-f", "{connection_file}"]
    plain = ["--IPKernelApp.kernel_class=ipykernel.ipkernel.IPythonKernel"]  # the command line beats the config
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    for name, extra in (("other-patch", []), ("other-patch-plain", plain)):
        folder = tmp_path / "kernels" / name
        folder.mkdir(parents=True)
        (folder / "kernel.json").write_text(
            json.dumps({"argv": argv + extra, "display_name": name, "language": "python"})
        )
    assert kernel_info("other-patch-plain", specs)["language_info"]["version"] == OTHER_PATCH
    assert kernel_info("other-patch", specs)["language_info"] == KERNEL_METADATA["language_info"]


def test_the_config_selects_the_course_kernel_and_is_written_once(tmp_path: Path):
    path = kernel.install(tmp_path)
    assert path == tmp_path / "etc" / "ipython" / "ipython_kernel_config.py"
    config = PyFileConfigLoader(path.name, path=str(path.parent)).load_config()  # as IPython reads it
    assert config.IPKernelApp.kernel_class == "coursekit.kernel.CourseKernel"
    written = path.stat().st_mtime_ns
    kernel.install(tmp_path)
    assert path.stat().st_mtime_ns == written


def notebooks() -> list[Path]:
    return sorted([*(ROOT / "notebooks").rglob("*.ipynb"), *(ROOT / "solutions").rglob("*.ipynb")])


def test_every_notebook_and_solution_holds_exactly_that_metadata():
    paths = notebooks()
    assert len(paths) >= 2 * len(all_lessons()) + 1  # every lesson's two notebooks, and the start page
    for path in paths:
        metadata = json.loads(path.read_text(encoding="utf-8"))["metadata"]
        assert {key: metadata.get(key) for key in KERNEL_METADATA} == KERNEL_METADATA, (
            f"{path}: run `autograder release`, which writes it into learner notebooks and solutions"
        )


def test_the_release_check_fails_when_a_solutions_metadata_drifts(monkeypatch, tmp_path: Path):
    lesson = all_lessons()[0]
    drifted = tmp_path / "solution.ipynb"
    notebook = json.loads(lesson.solution.read_text(encoding="utf-8"))
    notebook["metadata"]["language_info"]["version"] = "3.11.7"
    drifted.write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")
    monkeypatch.setattr(type(lesson), "solution", property(lambda self: drifted))
    with pytest.raises(ReleaseOutOfDate, match=r"solution\.ipynb"):
        release.check([lesson])
