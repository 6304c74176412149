"""The notebook metadata JupyterLab writes when a course notebook's kernel starts, written by
the release instead (into the learner's notebook and the solution), so that opening an
untouched lesson does not mark it modified.

On opening a notebook, Lab sets ``metadata.kernelspec`` from the kernel's spec and
``metadata.language_info`` from the kernel's ``kernel_info`` reply; any difference from what
the file holds (a shorter ``language_info``, another display name, another version of Python)
makes the notebook "modified", and closing it asks to save. Lab leaves an identical value
alone. The course's kernel (``coursekit.kernel``) reports Python's version as major.minor, so
the value is the same on every Python 3.11.x (this machine's, Binder's, a learner's).
``tests/autograder/test_kernel_metadata.py`` starts the course's kernel and fails when what it
reports drifts from ``KERNEL_METADATA``.
"""

from __future__ import annotations

import copy
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbformat import NotebookNode
from nbgrader.preprocessors.base import NbGraderPreprocessor

KERNEL_METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
        "version": "3.11",
    },
}


def kernel_metadata() -> dict[str, Any]:
    return copy.deepcopy(KERNEL_METADATA)


class WriteKernelMetadata(NbGraderPreprocessor):
    """Give the learner's notebook the kernel metadata Lab would write on opening it.
    (nbgrader's base class: nbconvert runs a preprocessor of its own base only when enabled.)"""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        nb.metadata.update(kernel_metadata())
        return nb, resources
