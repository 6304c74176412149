"""``python -m autograder.sandbox [--jail SPEC] [--probe PATH...]``: the process a submission's
code runs in, started as a new interpreter (``launch`` says what it does; a sandbox forked from
the template does the same: ``template``)."""

import json
import sys

from .launch import run

spec = json.loads(sys.argv[sys.argv.index("--jail") + 1]) if "--jail" in sys.argv else None
probe = sys.argv[sys.argv.index("--probe") + 1 :] if "--probe" in sys.argv else None
sys.exit(run(spec, probe))
