"""Hidden tests for `DrainingServer`: readiness off at the first signal, a drain, then shutdown.

A probe serves the setup cell's service_app with the learner's server class in forked
processes (one per scenario, run at once), signals them, and polls /ready and /work every
50 ms from outside, as a load balancer would; it notes the response headers before any signal
and whether the app's lifespan shutdown ran. Times are compared with wide margins, against
when the server's process really ended. Whether readiness turns off at once is not a matter
of timing: another probe calls handle_exit itself, as uvicorn does, and looks right after. The
probe runs in the sandbox's background (a server that never stops is watched for 6 s after its
first signal, longer than one call may take).
"""

import pytest

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, probe_in_background, require

pytestmark = pytest.mark.anyio
NAME = "DrainingServer"
SCENARIOS = [
    {"drain": 2.0, "signals": [0.0], "work": 0.6},  # the usual case
    {"drain": 3.0, "signals": [0.0, 0.4], "work": 1.0},  # a second signal ends the drain
    {"drain": 0.0, "signals": [0.0], "work": 0.3},  # no drain: as uvicorn
    {"drain": 2.0, "signals": [0.0], "signal": "SIGINT"},
]  # Ctrl+C drains too
# The polls looked at during a 2 s drain: from the signal (readiness: 0.15 s after it) to 1.5 s,
# long enough to hold several answers when a busy machine answers slowly, and ending well before
# the drain does.
DURING = 1.5
_reports: list = []  # one batch per run of the suite (a run grades one submission), read by every test


async def reports(submission):
    await require(submission, NAME, kind="class")
    if not _reports:
        _reports.extend(
            await probe_in_background(
                submission,
                NAME,
                "lesson09.drain_begin",
                defined(NAME),
                defined("Readiness"),
                defined("service_app"),
                SCENARIOS,
                outcome="lesson09.outcome",
                seconds=90,
            )
        )
    found = _reports
    expect(
        all(report.get("started") for report in found),
        "DrainingServer(config, readiness, drain_seconds).run() did not serve /ready with 200: it should serve "
        "as uvicorn.Server does until a signal comes.",
    )
    return found


def statuses(samples, start, end):
    """The answers to the polls sent between ``start`` and ``end`` s after the first signal:
    a status, "refused", or None (no answer within the poll's time: no evidence either way)."""
    return [status for at, status in samples if start <= at < end]


def answered(samples, start, end):
    """The polls in that window that got an answer (a status, or "refused"): at least one,
    and every one of them as the promise says."""
    return [status for status in statuses(samples, start, end) if status is not None]


# A server that ignores signals serves before and during any drain: these two checks count only
# beside the others.
@graded(NAME, points=1, promises=["serves-as-uvicorn"], negative=True)
async def test_draining_server_serves(submission):
    found = await reports(submission)
    expect(all(report["before"] == 200 for report in found), "before any signal, /ready should answer 200.")
    expect(
        all({"date", "server"} <= set(report["headers"]) for report in found),
        "responses lack the `date` and `server` headers uvicorn.Server adds (they were "
        f"{sorted(set(found[0]['headers']))}): uvicorn's own on_tick keeps them, and its other duties; call it "
        "from yours (super().on_tick(counter)) rather than replacing it.",
    )


@graded(NAME, points=1, promises=["unready-at-once"], unhappy=True)
async def test_draining_server_unready_at_once(submission):
    handled = await probe(
        submission, NAME, "lesson09.drain_handled", defined(NAME), defined("Readiness"), defined("service_app")
    )
    expect(
        "error" not in handled,
        f"handle_exit(signal.SIGTERM, frame), called as uvicorn calls it, raised {handled.get('error')}.",
    )
    expect(
        handled["ready_after"] is False,
        "after handle_exit(signal.SIGTERM, frame) returned, readiness.ready was still True: turn readiness off in "
        "handle_exit itself, at once, not at a later tick (a load balancer asking /ready in between would still "
        "send traffic).",
    )
    usual, _, _, ctrl_c = await reports(submission)
    for report, name in [(usual, "SIGTERM"), (ctrl_c, "SIGINT")]:
        early = answered(report["ready"], 0.15, DURING)
        expect(
            early and all(status == 503 for status in early),
            f"after {name}, /ready should answer 503 at once while the server still serves; it answered "
            f"{statuses(report['ready'], 0.15, DURING)} (None: no answer within 1 s).",
        )


@graded(NAME, points=1.5, promises=["serves-during-drain"], unhappy=True, negative=True)
async def test_draining_server_keeps_serving_during_the_drain(submission):
    usual, _, _, ctrl_c = await reports(submission)
    for report in (usual, ctrl_c):
        served = answered(report["work"], 0.0, DURING)
        expect(
            served and all(status == 200 for status in served),
            f"during the drain new requests should be answered; in the first {DURING} s of a 2 s drain they got "
            f"{statuses(report['work'], 0.0, DURING)} (None: no answer within 1 s). Do not stop listening, and do "
            "not block the loop (no time.sleep).",
        )
    expect(usual.get("in_flight") == 200, "a request in flight when the signal came should end with 200.")


@graded(NAME, points=1.5, promises=["stops-after-drain"], unhappy=True)
async def test_draining_server_stops_after_the_drain(submission):
    usual, _, none, _ = await reports(submission)
    gone = "not at all" if usual["gone"] is None else f"{usual['gone']:.1f} s after the signal"
    expect(
        usual["gone"] is not None and usual["gone"] > 1.6,
        f"with a 2 s drain the server should stop only after the drain (it stopped {gone}).",
    )
    expect(
        usual["gone"] is not None and usual["gone"] < 4.5,
        "with a 2 s drain the server should have stopped soon after it; it kept running.",
    )
    # The request in flight ends 0.2 s after the signal: stopping then is "at once", a drain of
    # its own (of any length from 1 s) is not. On a busy machine a shutdown takes longer, in
    # both scenarios alike: stopping 1.2 s or more before the 2 s drain's server did is "at once"
    # too (a drain of 1 s of its own would stop about 1 s before it).
    at_once = none["gone"] is not None and (
        none["gone"] < 1.0 or (usual["gone"] is not None and none["gone"] < usual["gone"] - 1.2)
    )
    expect(
        at_once and none.get("in_flight") == 200,
        "with drain_seconds=0 it should stop as uvicorn does: at once, letting the request in flight finish.",
    )
    expect(
        all(report.get("lifespan_shutdown") for report in (usual, none)),
        "when the drain is over the app's lifespan shutdown did not run: shut down as uvicorn does (should_exit), "
        "not by forcing the exit (force_exit skips it, and cuts the requests in flight).",
    )


@graded(NAME, points=1, promises=["second-signal"], unhappy=True)
async def test_draining_server_second_signal_stops_now(submission):
    _, twice, _, _ = await reports(submission)
    gone = "not at all" if twice["gone"] is None else f"{twice['gone']:.1f} s after the first"
    expect(
        twice["gone"] is not None and twice["gone"] < 2.5,
        "a second signal during a 3 s drain (0.4 s after the first) should start the shutdown at once; the "
        f"server stopped {gone}.",
    )
    expect(
        twice.get("in_flight") == 200 and twice.get("lifespan_shutdown"),
        "after a second signal the shutdown should still be uvicorn's graceful one: a request in flight then "
        f"{'ended with ' + str(twice.get('in_flight')) if twice.get('in_flight') else 'got no answer'}, and the "
        f"lifespan shutdown {'ran' if twice.get('lifespan_shutdown') else 'did not run'}. Do not force the exit "
        "(force_exit): let uvicorn's own handle_exit start the shutdown.",
    )
