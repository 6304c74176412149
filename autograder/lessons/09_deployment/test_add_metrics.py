"""Hidden tests for `add_metrics`: request counters and latency histograms by route template.

A probe makes a fresh app and registry per session of requests, sends them, then scrapes
/metrics with Prometheus' own parser and reports the counters and histogram counts; and, on a
second app, what a server would see of an endpoint that raises.
"""

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.submission import defined
from autograder.suitekit import probe, require, same_as_reference

pytestmark = pytest.mark.anyio
NAME = "add_metrics"
SESSION = [
    ["GET", "/invoices/1"],
    ["GET", "/invoices/2"],
    ["POST", "/invoices"],
    ["GET", "/nowhere"],
    ["GET", "/fail"],
    ["GET", "/metrics"],
    ["GET", "/slow"],
]
SLOW_SECONDS = 0.03  # GET /slow's endpoint sleeps that long (the probe's app)


async def reports(submission, sessions):
    """The probe's reports; add_metrics raising (called again in one process, with metrics on
    the default registry, it does) fails the test with what to fix."""
    await require(submission, NAME, kind="function")
    found = await probe(submission, NAME, "lesson09.metrics_reports", defined(NAME), sessions)
    for report in found:
        error = report.get("error", "")
        expect(
            "Duplicated timeseries" not in error,  # prometheus_client's DuplicateTimeseries, a ValueError
            f"add_metrics raised {error} when called for a second app in the same process: register the "
            "metrics on `registry`, not on the default one.",
        )
        expect(not error, f"add_metrics raised {error}.")
    return found


def value(report, name, **labels):
    for sample_name, sample_labels, number in report["samples"]:
        if sample_name == name and sample_labels == labels:
            return number
    return None


@graded(NAME, points=1, promises=["request-counter", "route-template"])
async def test_add_metrics_counts_requests_by_route_template(submission):
    [report] = await reports(submission, [SESSION])
    expect(report["parsed"], "GET /metrics should answer Prometheus' text format (generate_latest(registry)).")
    expect(
        value(report, "http_requests_total", method="GET", route="/invoices/{invoice_id}", status="200") == 2,
        "two GET /invoices/<id> should count 2 in http_requests_total with labels method='GET', "
        "route='/invoices/{invoice_id}' (the template), status='200'.",
    )
    expect(
        value(report, "http_requests_total", method="POST", route="/invoices", status="200") == 1,
        "POST /invoices should count under method='POST'.",
    )
    expect(
        value(report, "http_requests_total", method="GET", route="unmatched", status="404") == 1,
        "a request no route matches should count under route='unmatched' with status '404'.",
        promises=["route-template"],
    )
    [routed] = await reports(submission, [ROUTED_OR_NOT])
    expect(
        value(routed, "http_requests_total", method="GET", route="/invoices/{invoice_id}", status="404") == 1,
        "a request that matched /invoices/{invoice_id} and was answered 404 by its endpoint (no such invoice) "
        "should count under that route's template: whether a route matched is not decided by the status.",
        promises=["route-template"],
    )
    expect(
        value(routed, "http_requests_total", method="GET", route="unmatched", status="307") == 1,
        "GET /invoices/ (redirected to /invoices by FastAPI's router: no route matched it) should count under "
        f"route='unmatched' with status '307'; the routes counted were "
        f"{sorted({labels.get('route') for name, labels, _ in routed['samples'] if name == 'http_requests_total'})}.",
        promises=["route-template"],
    )
    expect(
        not any(
            labels.get("route", "").startswith("/invoices/") and "{" not in labels.get("route", "")
            for _, labels, _ in report["samples"]
        ),
        "a raw path is used as a label: use the route's path template.",
        promises=["route-template"],
    )


# A route that matched and answered 404; a path that matched none, answered by a redirect.
ROUTED_OR_NOT = [["GET", "/invoices/9001"], ["GET", "/invoices/"]]


# A long request, then a quick one: each duration is its own request's, from its start (a clock
# read once, when the app was made, gives the quick one the long one's time and more).
LONG_THEN_QUICK = [["GET", "/slow?seconds=0.3"], ["GET", "/invoices/1"]]


@graded(NAME, points=1, promises=["duration-histogram"])
async def test_add_metrics_observes_durations(submission):
    [report, long_then_quick] = await reports(submission, [SESSION, LONG_THEN_QUICK])
    expect(
        value(report, "http_request_duration_seconds_count", method="GET", route="/invoices/{invoice_id}") == 2,
        "each request's duration should be observed in the histogram http_request_duration_seconds (labels "
        "method and route).",
    )
    slow = value(report, "http_request_duration_seconds_sum", method="GET", route="/slow")
    expect(
        slow is not None and SLOW_SECONDS <= slow < 2,
        f"durations should be observed in seconds: a request of at least {SLOW_SECONDS} s was observed as {slow}.",
    )
    quick = value(long_then_quick, "http_request_duration_seconds_sum", method="GET", route="/invoices/{invoice_id}")
    expect(
        quick is not None and quick < 0.15,
        f"a quick request that came after a 0.3 s one was observed as {quick} s: time each request from its own "
        "start (read the clock when the request comes in, not once for the app).",
    )


@graded(NAME, points=1, promises=["errors-counted"], unhappy=True)
async def test_add_metrics_counts_errors_as_500(submission):
    [report] = await reports(submission, [SESSION])
    expect(report["statuses"][4] == 500, "an endpoint that raises should still end in a 500 for the client.")
    expect(
        value(report, "http_requests_total", method="GET", route="/fail", status="500") == 1,
        "a request whose endpoint raised should be counted with status '500' (count it in a finally).",
    )
    expect(
        value(report, "http_request_duration_seconds_count", method="GET", route="/fail") == 1,
        "a request whose endpoint raised should have its duration observed too.",
    )
    expect(
        report["fail_raised"] == "RuntimeError",
        "the exception of an endpoint that raised should propagate out of the app, as before add_metrics, to the "
        "server (which answers 500 and logs it); here the app "
        f"{'answered it itself' if report['fail_raised'] is None else 'raised ' + str(report['fail_raised'])}. "
        "Count it in a finally and let it go on; do not catch it and answer 500 yourself.",
    )
    [streamed] = await reports(submission, [[["GET", "/stream-fail"]]])
    counted = {
        labels.get("status"): number
        for name, labels, number in streamed["samples"]
        if name == "http_requests_total" and labels.get("route") == "/stream-fail"
    }
    expect(
        counted in ({"200": 1}, {"500": 1}),
        "a streamed response that failed after sending 200 should be counted once, under status '200' or '500'; "
        f"it was counted {counted or 'not at all'}.",
    )


@graded(NAME, points=1, promises=["metrics-endpoint", "health"])
async def test_add_metrics_endpoints(submission):
    [report] = await reports(submission, [SESSION])
    expect(
        report["metrics_status"] == 200
        and media_type(report["metrics_type"]) == media_type(report["content_type_latest"]),
        f"GET /metrics should answer 200 with a content-type of exactly CONTENT_TYPE_LATEST "
        f"({report['content_type_latest']}: Prometheus reads the format's version from it); it answered "
        f"{report['metrics_status']} with {report['metrics_type']!r}.",
        promises=["metrics-endpoint"],
    )
    expect(
        report["health"] == [200, {"status": "ok"}],
        'GET /health should answer 200 {"status": "ok"}.',
        promises=["health"],
    )
    expect(
        not any(labels.get("route") == "/metrics" for _, labels, _ in report["samples"]),
        "requests to /metrics should not be counted.",
        promises=["metrics-endpoint"],
    )
    expect(
        value(report, "http_requests_total", method="GET", route="/health", status="200") == 1,
        "GET /health should be counted like any other request (route '/health').",
        promises=["health"],
    )


def media_type(header: str) -> tuple:
    """A content-type as its type and its parameters, whatever their order and spacing."""
    kind, *parameters = (part.strip().lower() for part in header.split(";"))
    return kind, sorted(parameters)


@graded(NAME, points=0.5, promises=["own-registry"], unhappy=True)
async def test_add_metrics_uses_the_given_registry(submission):
    [report] = await reports(submission, [[["GET", "/invoices/1"]]])
    expect(
        report["clash"] is None,
        f"a second app with its own registry raised {report['clash']}: register the "
        "metrics on `registry`, not on the default one.",
    )
    expect(
        value(report, "http_requests_total", method="GET", route="/invoices/{invoice_id}", status="200") == 1,
        "the metrics should be on the registry given, and /metrics should render that registry.",
    )


REQUESTS = st.lists(
    st.sampled_from(
        [
            ["GET", "/invoices/1"],
            ["GET", "/invoices/77"],
            ["POST", "/invoices"],
            ["GET", "/invoices"],
            ["GET", "/fail"],
            ["GET", "/nope/x"],
            ["GET", "/metrics"],
            ["GET", "/health"],
            ["DELETE", "/invoices/1"],
            ["GET", "/invoices/9001"],
            ["GET", "/invoices/"],
        ]
    ),
    min_size=1,
    max_size=6,
)


@graded(
    NAME,
    points=1,
    promises=["request-counter", "route-template", "errors-counted", "metrics-endpoint", "duration-histogram"],
)
async def test_add_metrics_on_generated_requests(submission, reference):
    await require(submission, NAME, kind="function")

    async def batch(side, sessions):
        found = await side.probe("lesson09.metrics_reports", defined(NAME), sessions)
        return [
            {"raised": r["error"].split(":", 1)[0]}
            if "error" in r
            else {
                "statuses": r["statuses"],
                "counts": sorted(
                    [name, sorted(labels.items()), number]
                    for name, labels, number in r["samples"]
                    if name in ("http_requests_total", "http_request_duration_seconds_count")
                ),
            }
            for r in found
        ]

    await same_as_reference(
        submission,
        reference,
        NAME,
        REQUESTS,
        batch=batch,
        examples=8,
        promise={
            "statuses": "errors-counted",
            "counts": ["request-counter", "route-template", "errors-counted", "metrics-endpoint", "duration-histogram"],
        },
    )
