"""Hidden tests for `gunicorn_conf`: a configuration gunicorn really runs, graded by running it.

A probe writes the learner's text to a file in the sandbox's scratch folder, has gunicorn read it
(its own Config, as --print-config prints it), then starts gunicorn with it on a small app that
answers its process id, SIGKILLs a worker that served, and watches for a new one. Generated
worker counts and ports are read the same way, beside the reference's. The probe that starts
gunicorn runs in the sandbox's background: on a busy machine it takes longer than one call may.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe_batch, probe_in_background, require, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "gunicorn_conf"
CASES = [{"workers": 2, "start": True, "kill": True}, {"workers": 3, "start": False}]
_runs: list = []  # one batch per run of the suite (a run grades one submission), read by every test


async def runs(submission):
    await require(submission, NAME, kind="function")
    if not _runs:
        _runs.extend(
            await probe_in_background(
                submission,
                NAME,
                "lesson09.gunicorn_begin",
                defined(NAME),
                CASES,
                outcome="lesson09.outcome",
                seconds=120,
            )
        )
    for report in _runs:
        expect(
            report.get("type") == "str",
            f"gunicorn_conf should return the configuration's text, not a {report.get('type')}.",
        )
        expect(report.get("config_ok"), f"gunicorn cannot read this configuration: {report.get('config_error')}")
    return _runs


async def run(submission):
    return (await runs(submission))[0]


@graded(NAME, points=0.5, promises=["bind-loopback"])
async def test_gunicorn_conf_binds_loopback_only(submission):
    report = await run(submission)
    expect(
        report["settings"].get("bind") == f"['127.0.0.1:{report['port']}']",
        f"bind should be exactly 127.0.0.1:<port> (got {report['settings'].get('bind')}).",
    )


@graded(NAME, points=0.5, promises=["workers"])
async def test_gunicorn_conf_workers(submission):
    report = await run(submission)
    expect(
        report["settings"].get("workers") == "2", "gunicorn_conf(2, port) should set workers = 2 (use the argument)."
    )
    three = (await runs(submission))[1]
    expect(three["settings"].get("workers") == "3", "gunicorn_conf(3, port) should set workers = 3.")


@graded(NAME, points=0.5, promises=["worker-class"])
async def test_gunicorn_conf_worker_class(submission):
    report = await run(submission)
    expect(
        report["settings"].get("worker_class") == "uvicorn_worker.UvicornWorker",
        f"worker_class should be uvicorn_worker.UvicornWorker (got {report['settings'].get('worker_class')}); "
        "uvicorn.workers is deprecated.",
    )


@graded(NAME, points=0.5, promises=["keepalive"])
async def test_gunicorn_conf_keepalive_beyond_the_alb(submission):
    report = await run(submission)
    keepalive = report["settings"].get("keepalive", "0")
    expect(
        keepalive.isdigit() and int(keepalive) > 60,
        f"keepalive is {keepalive} s: it must be longer than the ALB's 60 s idle timeout.",
    )


@graded(NAME, points=0.5, promises=["graceful-timeout"])
async def test_gunicorn_conf_graceful_timeout(submission):
    report = await run(submission)
    expect(
        report["settings"].get("graceful_timeout") == "25",
        f"graceful_timeout should be 25 s (got {report['settings'].get('graceful_timeout')}).",
    )


@graded(NAME, points=1.5, promises=["starts-and-recovers"], unhappy=True)
async def test_gunicorn_conf_runs_and_replaces_a_killed_worker(submission):
    report = await run(submission)
    expect(report.get("answered"), "gunicorn started with this configuration did not answer on the port.")
    expect(report.get("workers_seen", 0) >= 2, "with 2 workers, two different worker processes should answer.")
    expect(
        report.get("replaced") and report.get("answers_after") and report.get("supervisor_alive"),
        "after a worker was killed, a new worker should answer and the server keep serving.",
    )


CONFIGURATIONS = st.fixed_dictionaries({"workers": st.integers(1, 32), "port": st.integers(1024, 65535)})


def promised(answer: dict) -> dict:
    """What the statement fixes of gunicorn's reading of one configuration: the bind, the
    workers, the worker class and the graceful timeout as gunicorn prints them, and whether
    keepalive is past the ALB's 60 s (any such value keeps the promise)."""
    if "settings" not in answer:
        return {key: value.split(":")[0] for key, value in answer.items()}  # the type, or the error's type
    settings = answer["settings"]
    keepalive = settings.get("keepalive", "")
    return {
        "bind": settings.get("bind"),
        "workers": settings.get("workers"),
        "worker_class": settings.get("worker_class"),
        "graceful_timeout": settings.get("graceful_timeout"),
        "keepalive beyond 60 s": keepalive.isdigit() and int(keepalive) > 60,
    }


@graded(NAME, points=1, promises=["bind-loopback", "workers", "worker-class", "keepalive", "graceful-timeout"])
async def test_gunicorn_conf_on_generated_workers_and_ports(submission, reference):
    """On generated worker counts and ports, gunicorn reads the settings the statement promises."""
    await require(submission, NAME, kind="function")
    await same_as_reference(
        submission,
        reference,
        NAME,
        CONFIGURATIONS,
        batch=probe_batch("lesson09.gunicorn_settings", defined(NAME), each=promised),
        promise={
            "bind": "bind-loopback",
            "workers": "workers",
            "worker_class": "worker-class",
            "keepalive beyond 60 s": "keepalive",
            "graceful_timeout": "graceful-timeout",
        },
    )
