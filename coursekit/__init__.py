"""coursekit: the small helper package the lesson notebooks use.

One concept per module:

- ``coursekit.asgi``: build ASGI scopes, drive an app by hand, trace its messages.
- ``coursekit.serve``: run an app on a real server (uvicorn, hypercorn) on 127.0.0.1.
- ``coursekit.streams``: clients of streaming apps played in-process, with time in them (one
  that leaves, reads slowly, stops reading, uploads in pieces), and a parser of event streams.
- ``coursekit.checks``: visible self-checks under each exercise, a summary report, and
  ``uses_exercises`` for demo cells that call an exercise.
- ``coursekit.timing``: time code, and compare candidates as ratios; percentiles.
- ``coursekit.verdicts``: word every verdict from its numbers ("slower, 2.3x", TRUE, "not shown").
- ``coursekit.progress``: the learner's progress per lesson, and resetting one exercise.
- ``coursekit.display``: how both show a result (a status's symbol and word; rich output in a
  notebook, plain text elsewhere).
- ``coursekit.profiling``: run code under cProfile and add its time up by groups of functions.
- ``coursekit.load``: a latency probe in a separate process, hitting a URL at a steady pace.
- ``coursekit.fakes``: an outbound service and a connection pool that record what happened.
- ``coursekit.submit``: hand a notebook in to the course's grading service (``autograder serve``)
  and show its feedback; the closing cell of every learner notebook.
- ``coursekit.scratch``: a lesson's folder on disk, removed when its kernel stops; a fresh
  subfolder per run of a cell.
- ``coursekit.work``: blocking and CPU-bound work to run where it hurts (importable, so a
  process pool can pickle it).
- ``coursekit.own_tests``: tests a learner writes in an exercise cell, run against a fresh app
  each, as that exercise's self-check does.
"""

from coursekit.asgi import Trace, Tracer, drive, http_scope, lifespan_scope, websocket_scope
from coursekit.checks import report, self_check, uses_exercises
from coursekit.serve import serve
from coursekit.timing import compare, measure, percentile
from coursekit.verdicts import Claim, Speedup, Verdict, any_of, fact, parts, within

__all__ = [
    "Claim",
    "Speedup",
    "Trace",
    "Tracer",
    "Verdict",
    "any_of",
    "compare",
    "drive",
    "fact",
    "http_scope",
    "lifespan_scope",
    "measure",
    "parts",
    "percentile",
    "report",
    "self_check",
    "serve",
    "uses_exercises",
    "websocket_scope",
    "within",
]
