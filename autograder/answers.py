"""What a differential test knows before the learner's code runs: its inputs and the reference's answers.

``suitekit.same_as_reference`` compares a learner's answer with the reference solution on
inputs drawn by Hypothesis. Neither the inputs (drawn derandomized: the same for every
learner) nor the reference's observations of them (the reference is fixed before a grading
run's first submission: ``grade.Fixed``) depend on the submission, so a run computes them once:

- in one process, they are kept in memory;
- across the workers of one ``grade_all`` run, the grader hands every worker the same private
  folder (``share``), and the first worker to compute an entry writes it there as JSON for
  the others. The folder is the grader's: hidden from sandboxes like the course's private
  parts, and read as JSON (``protocol``), never unpickled.

Observations are compared as plain data (``plain``): tuples as lists, sets as sorted lists,
so that what one worker stored equals what another computes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis.errors import NoSuchExample, Unsatisfiable
from hypothesis.strategies import SearchStrategy

from .sandbox import protocol

# Deterministic (derandomize: the same inputs in the same order on every run, for every
# learner) and small: a differential test draws `EXAMPLES` inputs, and only when the two
# sides differ on one does Hypothesis search at most `SHRINK_STEPS` more for the smallest.
EXAMPLES = 30
SHRINK_STEPS = 60
# ... and for at most this long: a slow answer (every request waiting on a lock that a leaked
# session holds) would otherwise spend the submission's whole time limit on one search, and
# the checks after it would not run. The learner then reads the smallest input found so far.
SHRINK_SECONDS = 10.0
DIFFERENTIAL = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    verbosity=Verbosity.quiet,
    suppress_health_check=list(HealthCheck),
)


def _the_same_inputs_everywhere() -> None:
    """Hypothesis mixes into what it draws constants read from the source of every "local"
    module loaded (and caches them in ``.hypothesis/`` in the working directory). Which
    modules are loaded differs between a grading worker and nbgrader's kernel, so the inputs
    would too, and with them a borderline learner's score: keep Hypothesis to its own
    constants. (A private hook; if a release drops it, inputs merely vary a little more.)"""
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants

        none = Constants()
        providers._get_local_constants = lambda: none
    except (ImportError, AttributeError):  # pragma: no cover
        pass


_the_same_inputs_everywhere()

_memory: dict[str, Any] = {}
_folder: Path | None = None
_occurrences: dict[str, int] = {}


def share(folder: str | None) -> None:
    """Keep entries in ``folder`` too (None: in this process only)."""
    global _folder
    _folder = Path(folder) if folder else None


def plain(value: Any) -> Any:
    """``value`` as comparable plain data: tuples as lists, sets as lists sorted by repr."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((plain(item) for item in value), key=repr)
    return value


def _storable(value: Any) -> bool:
    """Whether JSON (with the protocol's bytes) brings ``value`` back equal to itself."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return not isinstance(value, float) or value == value  # NaN is not equal to itself
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _storable(item) for key, item in value.items())
    return False


def key(exercise: str, inputs: SearchStrategy, examples: int) -> str:
    """The entry of one ``same_as_reference`` call: which test (pytest's id of it) and which
    of its calls, the exercise, the strategy and the number of inputs."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    named = f"{test}|{exercise}|{inputs!r}|{examples}"
    _occurrences[named] = _occurrences.get(named, 0) + 1
    return hashlib.sha256(f"{named}|{_occurrences[named]}".encode()).hexdigest()


def remembered(entry: str) -> Any | None:
    if entry in _memory:
        return _memory[entry]
    if _folder is not None:
        try:
            found = protocol.loads((_folder / f"{entry}.json").read_bytes())["value"]
        except (OSError, ValueError, KeyError):
            return None
        _memory[entry] = found
        return found
    return None


def remember(entry: str, value: Any) -> Any:
    _memory[entry] = value
    if _folder is not None and _storable(value):
        written = _folder / f"{entry}.{os.getpid()}.part"
        try:
            written.write_bytes(protocol.dumps({"value": value}))
            os.replace(written, _folder / f"{entry}.json")  # whole or not at all, for the other workers
        except OSError:
            pass  # not shared, merely computed again elsewhere
    return value


def drawn(entry: str, inputs: SearchStrategy[Any], examples: int) -> list[Any]:
    """The first ``examples`` inputs Hypothesis draws from ``inputs`` with the differential
    tests' settings (derandomized: the same everywhere), as plain data, once per run for the
    call ``entry`` (``key``)."""
    entry = f"{entry}-inputs"
    found: list[Any] | None = remembered(entry)
    if found is not None:
        return found
    values: list[Any] = []

    def keep(value: Any) -> bool:
        values.append(plain(value))
        return False

    try:
        find(inputs, keep, settings=settings(DIFFERENTIAL, max_examples=examples, phases=[Phase.generate]))
    except (NoSuchExample, Unsatisfiable):
        pass
    return remember(entry, values) if _storable(values) else values
