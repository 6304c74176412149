"""``python -m autograder.sandbox [--jail SPEC]``: the process a submission's code runs in.

With ``--jail``, the process confines itself (``confine.enter``) before it reads anything from
the grader; ``--probe`` then reports what it became and exits, so that the grader can check,
once per run, that this machine really gives the jail it asks for.
"""

import asyncio
import json
import sys

from . import confine

if "--jail" in sys.argv:
    confine.enter(json.loads(sys.argv[sys.argv.index("--jail") + 1]))
if "--probe" in sys.argv:
    print(json.dumps(confine.report(sys.argv[sys.argv.index("--probe") + 1:])), flush=True)
    sys.exit(0)

from .runner import main  # noqa: E402  (after the jail: nothing of the learner's is read before it)

asyncio.run(main())
