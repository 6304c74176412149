"""From a trusted process to a sandbox that is confined and ready, in the same process.

Two ways lead here, with the same steps from this point on: ``python -I -m
autograder.sandbox`` (a new interpreter: ``__main__``), and a fork of the sandbox template, an
interpreter that imported the lessons' libraries once (``template``).

``run(spec)`` confines the process (``confine.enter``) before it reads anything from the
grader; checks that, confined, it still sees every folder it must read (its interpreter's and
the project's: a course under a folder the jail replaces would not be); then says it is ready
(``runner.main``'s first event) and serves the grader. A sandbox that cannot do any of this
never says it is ready, and the grader reports that as its own error, never as the learner's.

``probe`` (the grader's proof, once per run, that this machine gives the jail it asks for)
reports instead what the process became (``confine.report``), imports ``runner`` as a real
sandbox does, says so and ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from . import confine
from .protocol import BLIND, REFUSED


def run(spec: confine.Spec | None, probe: list[str] | None = None) -> int:
    """Confine this process as ``spec`` says (None: not at all), then serve the grader on
    fds 0 and 1 (or, with ``probe``, report on those hidden paths); the exit status."""
    # What must still be there once confined: what is there now, of the interpreter's and the project's.
    wanted = [*sys.path, *(spec["readable"] if spec else ())]
    must_read = [path for path in wanted if os.path.isabs(path) and os.path.exists(path)]
    if spec:
        try:
            confine.enter(spec)
        except OSError as exc:
            print(f"{type(exc).__module__}.{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            return REFUSED
    if probe is not None:
        print(json.dumps(confine.report(probe, must_read)), flush=True)
    unseen = [path for path in must_read if not os.path.exists(path)]
    if unseen:
        print(f"confined, it cannot find {', '.join(unseen)}, which it must read", file=sys.stderr, flush=True)
        return BLIND

    from .runner import main  # inside the jail, before the learner's code: see above

    if probe is not None:
        print(json.dumps({"ready": True}), flush=True)
        return 0
    asyncio.run(main())
    return 0
