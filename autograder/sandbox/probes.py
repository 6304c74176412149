"""A lesson's probes, made into a module from the source the grader hands over.

A lesson's probes (``autograder/lessons/<slug>/sandbox_probes.py``) are the code that runs next
to the learner's for that lesson's hidden tests: they build inputs from a JSON description,
run the learner's code on them and report in JSON. They live in the lesson's folder, which a
sandbox never sees, so they cannot be imported here: the grader reads them once, before the
first submission of a run (``autograder.suite.snapshot``), and every sandbox receives their
source over the pipe (the ``probes`` request of ``runner``) after it has confined itself and
before the learner's first cell. The trusted side's in-process sandboxes (the reference
solution, nbgrader's kernel) get the same source the same way, so nothing on either side
imports the file.

A probe is named ``<name>.<function>``, the name being the one the grader gave the source
("lesson05.script"): ``runner.Sandbox.fixture`` looks names up here before the modules of
this package (``drives``, ``fixtures``). Nothing here knows a lesson.
"""

from __future__ import annotations

import linecache
import sys
import types

_installed: dict[str, types.ModuleType] = {}
_broken: dict[str, BaseException] = {}


class ProbesNotLoaded(ImportError):
    """The grader's probes could not be made into a module: the grader's fault, not the learner's."""


def module_name(name: str) -> str:
    return f"{__name__}.{name}"


def install(name: str, source: str) -> types.ModuleType | None:
    """Make ``source`` the module of the probes called ``name`` (once: the same source given
    again keeps the module and its state, as an import would). An error is kept, and raised
    when a probe of ``name`` is asked for, so that a broken probes file does not end the
    process before the learner's cells have run."""
    held = _installed.get(name)
    if held is not None and vars(held).get("__probes_source__") == source:
        return held
    filename = f"<probes {name}>"
    module = types.ModuleType(module_name(name))
    module.__file__ = filename
    vars(module)["__probes_source__"] = source  # what it was made from, to know it again
    # Tracebacks from a probe show its lines (in the sandbox's log, never to the learner).
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    sys.modules[module.__name__] = module  # before it runs, as an import does (dataclasses look it up)
    try:
        # The lesson's probes, run in the sandbox as an import would run them.
        exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)  # noqa: S102
    except BaseException as exc:
        del sys.modules[module.__name__]
        _installed.pop(name, None)
        _broken[name] = exc
        return None
    _broken.pop(name, None)
    _installed[name] = module
    return module


def find(name: str) -> types.ModuleType | None:
    """The probes installed as ``name``, or None if none were."""
    if name in _broken:
        exc = _broken[name]
        raise ProbesNotLoaded(f"the grader's probes {name} did not load: {type(exc).__name__}: {exc}") from exc
    return _installed.get(name)
