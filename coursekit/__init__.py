"""coursekit: the small helper package the lesson notebooks use.

One concept per module:

- ``coursekit.asgi``: build ASGI scopes, drive an app by hand, trace its messages.
- ``coursekit.serve``: run an app on a real server (uvicorn, hypercorn) on 127.0.0.1.
- ``coursekit.checks``: visible self-checks under each exercise, and a summary report.
- ``coursekit.timing``: time code, and compare candidates as ratios; percentiles.
- ``coursekit.load``: a latency probe in a separate process, hitting a URL at a steady pace.
- ``coursekit.fakes``: an outbound service and a connection pool that record what happened.
- ``coursekit.work``: blocking and CPU-bound work to run where it hurts (importable, so a
  process pool can pickle it).
"""

from coursekit.asgi import Trace, Tracer, drive, http_scope, lifespan_scope, websocket_scope
from coursekit.checks import if_solved, report, self_check
from coursekit.serve import serve
from coursekit.timing import compare, measure, percentile

__all__ = [
    "Trace",
    "Tracer",
    "compare",
    "drive",
    "http_scope",
    "if_solved",
    "lifespan_scope",
    "measure",
    "percentile",
    "report",
    "self_check",
    "serve",
    "websocket_scope",
]
