"""The course's Jupyter kernel: IPython's own, reporting Python's version as major.minor.

JupyterLab copies the kernel's ``language_info`` into a notebook when the kernel starts, and
marks the notebook modified when it differs from what the file holds. IPython's kernel reports
the interpreter's patch version (``3.11.7``), so a lesson released on one 3.11 would open
"modified" on every other (Binder's conda-forge 3.11, a learner's laptop): closing an untouched
lesson would ask to save. This kernel reports ``3.11`` on all of them, and is otherwise
IPython's kernel unchanged; the release writes the same value (``autograder.kernel_metadata``).

The environment's IPython configuration selects it for every kernel started there (Lab's,
nbgrader's, nbconvert's; the kernelspec stays ipykernel's ``python3``):

    python -m coursekit.kernel

writes ``{sys.prefix}/etc/ipython/ipython_kernel_config.py``, which ipykernel reads at start.
``python3 course.py`` does it for ``.venv``, ``postBuild`` for Binder's environment. Without it
the notebooks work the same, and Lab only marks them modified on opening.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ipykernel.ipkernel import IPythonKernel

# ipykernel's IPKernelApp reads "ipython_kernel_config.py" from its config paths, the
# environment's {sys.prefix}/etc/ipython among them (a user's profile still overrides it).
CONFIG = 'c.IPKernelApp.kernel_class = "coursekit.kernel.CourseKernel"\n'
HEADER = "# Written by `python -m coursekit.kernel`: the course's kernel (see coursekit/kernel.py).\n"


class CourseKernel(IPythonKernel):
    """IPython's kernel whose ``language_info`` names the Python version without its patch."""

    # IPythonKernel's is a class attribute, made at import, which ipykernel only reads: a
    # property in its place is read the same, and mypy's [override] is only about writing it.
    @property
    def language_info(self) -> dict[str, object]:  # type: ignore[override]
        return {**IPythonKernel.language_info, "version": "{}.{}".format(*sys.version_info[:2])}


def config_path(prefix: str | Path = sys.prefix) -> Path:
    return Path(prefix) / "etc" / "ipython" / "ipython_kernel_config.py"


def install(prefix: str | Path = sys.prefix) -> Path:
    """Select the course's kernel for the environment at ``prefix``; write only on a change."""
    path = config_path(prefix)
    text = HEADER + CONFIG
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"the course's kernel is selected in {install()}")
