"""``python -m autograder.sandbox [--jail SPEC] [--probe PATH...]``: the process a submission's code runs in.

With ``--jail``, the process confines itself (``confine.enter``) before it reads anything from
the grader. Then, inside the jail, it imports what every sandbox needs (``runner``), and only
then says it is ready (``runner.main``'s first event): a sandbox that cannot import its own
code, or cannot see the folders it must read (a course under a folder the jail replaces),
never becomes ready, and the grader reports that as its own error, never as the learner's.

``--probe`` reports instead what the process became (its pid, user id, network, which hidden
``PATH``s it still sees, which folders it must read it cannot: ``confine.report``), then
imports ``runner`` as a real sandbox does and says so, and exits: the grader's proof, once per
run, that this machine gives the jail it asks for and that a sandbox still works inside it.
"""

import asyncio
import json
import os
import sys

from . import confine

# The exit status that says "this machine refused a step of the jail" (an OSError while
# confining): the grader then tries a weaker mode. Any other failure is the grader's own bug.
REFUSED = 3

spec = json.loads(sys.argv[sys.argv.index("--jail") + 1]) if "--jail" in sys.argv else {}
# What must still be there once confined: what is there now, of the interpreter's and the project's.
must_read = [path for path in [*sys.path, *spec.get("readable", ())] if os.path.isabs(path) and os.path.exists(path)]
if spec:
    try:
        confine.enter(spec)
    except OSError as exc:
        print(f"{type(exc).__module__}.{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        sys.exit(REFUSED)
if "--probe" in sys.argv:
    print(json.dumps(confine.report(sys.argv[sys.argv.index("--probe") + 1 :], must_read)), flush=True)

from .runner import main  # noqa: E402  (inside the jail, before the learner's code: see above)

if "--probe" in sys.argv:
    print(json.dumps({"ready": True}), flush=True)
    sys.exit(0)

asyncio.run(main())
