"""Hidden tests for `Router`: path templates with typed parameters, 404, 405 with allow."""

import json

import pytest
from hypothesis import strategies as st

from autograder.expect import Mistake, expect, graded
from autograder.strategies import exchange, outcome
from autograder.submission import SubmissionRaised, defined
from autograder.suitekit import as_json, client, completed, make, probe, require, same_as_reference
from coursekit import drive, http_scope

pytestmark = pytest.mark.anyio
NAME = "Router"


TABLE = [
    ["/", "index", ["GET"]],
    ["/items/{item_id:int}", "item", ["GET"]],
    ["/users/me", "me", ["GET"]],
    ["/users/{name}", "user", ["GET"]],
    ["/files/{folder:str}/{name}", "file", ["GET"]],
    ["/things", "things-get", ["GET"]],
    ["/things", "things-post", ["POST"]],
    ["/things", "things-put", ["PUT", "PATCH"]],
    ["/v1.0/files/{name}.txt", "dotted", ["GET"]],
    ["/boom", "raise-boom", ["GET"]],
]
# A template added before a literal path it also matches: added in this order, the template wins.
TEMPLATE_FIRST = [["/users/{name}", "user", ["GET"]], ["/users/me", "me", ["GET"]], ["/", "index", ["GET"]]]


async def router(submission, table=TABLE):
    """A learner's ``Router`` holding ``table``'s routes, as an ASGI app (``build_router``)."""
    await require(submission, NAME, kind="class")
    try:
        alias = await make(submission, NAME, "$fixture:lesson02.build_router", defined(NAME), table)
    except SubmissionRaised as exc:
        if exc.error.get("type") == "NotImplementedError":
            raise
        raise Mistake(
            f"Your `{NAME}().add_route` raised {exc.error.get('type')} for a template whose parameters are "
            "all {name}, {name:str} or {name:int}: accept all three forms.",
            promises=["str-param", "int-param"],
        ) from None
    return submission.asgi(alias, label=NAME)


def allow_set(response) -> set:
    return {part.strip() for part in response.headers.get("allow", "").split(",") if part.strip()}


def is_json(response) -> bool:
    return response.headers.get("content-type", "").startswith("application/json") and response.headers.get(
        "content-length"
    ) == str(len(response.content))


@graded(NAME, points=2, promises=["literal-text", "str-param", "int-param", "endpoint-call"])
async def test_router_calls_the_matching_endpoint_with_typed_params(submission):
    """Literal paths and {name}, {name:str}, {name:int} parameters reach the right endpoint."""
    app = await router(submission)
    async with client(app) as http:
        answers = {
            path: await http.get(path)
            for path in ["/", "/items/42", "/items/007", "/users/ada", "/files/docs/a.txt", "/v1.0/files/notes.txt"]
        }
    expect(
        all(response.status_code == 200 for response in answers.values()),
        "A GET on a path that matches a GET route should call its endpoint and send the response it returns.",
        promises=["endpoint-call"],
    )
    got = {path: as_json(response) for path, response in answers.items()}
    expect(
        got["/"] == {"endpoint": "index", "method": "GET", "params": {}},
        "GET / should reach the / route.",
        promises=["endpoint-call"],
    )
    expect(
        got["/users/ada"].get("params") == {"name": ["str", "ada"]},
        "A {name} parameter should match one path segment and arrive as a str in request.path_params.",
        promises=["str-param"],
    )
    expect(
        got["/files/docs/a.txt"].get("params") == {"folder": ["str", "docs"], "name": ["str", "a.txt"]},
        "Every parameter of a template should be in request.path_params ({folder:str} is the same as {folder}).",
        promises=["str-param"],
    )
    expect(
        got["/items/42"].get("params") == {"item_id": ["int", 42]}
        and got["/items/007"].get("params") == {"item_id": ["int", 7]},
        "An {item_id:int} parameter should be converted: request.path_params['item_id'] must be an int.",
        promises=["int-param"],
    )
    expect(
        got["/v1.0/files/notes.txt"].get("params") == {"name": ["str", "notes"]},
        "Literal text around a parameter is part of the template: /v1.0/files/{name}.txt gives name 'notes' "
        "for /v1.0/files/notes.txt.",
        promises=["literal-text"],
    )


@graded(NAME, points=1, promises=["int-param"])
async def test_router_int_parameters_need_digits(submission):
    """An {x:int} segment that is not all digits 0-9 does not match: 404, not 405 or 500."""
    app = await router(submission)
    async with client(app) as http:
        answers = [await http.get(path) for path in ["/items/abc", "/items/-1", "/items/4.5", "/items/", "/items/+7"]]
    expect(
        all(response.status_code == 404 for response in answers),
        "{item_id:int} should only match one or more digits; any other segment means no route matches (404).",
    )
    traces = [await drive(app, http_scope("GET", path)) for path in ["/items/\u0661\u0662", "/items/\uff14\uff12"]]
    expect(
        all(trace.status == 404 for trace in traces),
        "{item_id:int} matches the digits 0-9 only: other Unicode digits (Arabic-Indic, full-width) are not "
        "digits here. In a str pattern, what does \\d match?",
    )


@graded(NAME, points=1, promises=["whole-path", "literal-text", "not-found"])
async def test_router_matches_the_whole_path(submission):
    """A template must match the whole path: no prefixes, no extra or empty segments."""
    app = await router(submission)
    async with client(app) as http:
        answers = [
            await http.get(path)
            for path in ["/items/42/extra", "/users/", "/users/a/b", "/files/docs", "/usersX/ada", "/nowhere"]
        ]
    expect(
        all(response.status_code == 404 for response in answers),
        "Match a template against the whole path: a path with extra segments, an empty segment or a "
        "longer first segment matches no route.",
        promises=["whole-path"],
    )
    expect(
        all(as_json(response) == {"detail": "Not Found"} and is_json(response) for response in answers),
        'A 404 should be JSON {"detail": "Not Found"} (use JSONResponse).',
        promises=["not-found"],
    )
    traces = [await drive(app, http_scope("GET", path)) for path in ["/items/42\n", "/\n", "/things\n"]]
    expect(
        all(trace.status == 404 for trace in traces),
        "Match the whole path, up to its very end: a path with a newline after it matches no route. Which "
        "regex method (or anchor) stops exactly at the end of the string?",
        promises=["whole-path"],
    )
    traces = [await drive(app, http_scope("GET", path)) for path in ["/v1x0/files/a.txt", "/v1.0/files/aXtxt"]]
    expect(
        all(trace.status == 404 for trace in traces),
        "Literal text in a template matches only itself: in /v1.0/files/{name}.txt a '.' is a dot, not any "
        "character (does the literal text go into your regex as it is?).",
        promises=["literal-text"],
    )


@graded(NAME, points=2, promises=["method-not-allowed"], unhappy=True)
async def test_router_405_lists_every_allowed_method(submission):
    """A path that matches with another method is 405, and allow lists every route's methods."""
    app = await router(submission)
    async with client(app) as http:
        things = await http.delete("/things")
        item = await http.post("/items/3")
    expect(
        things.status_code == 405 and item.status_code == 405,
        "When the path matches a route but not with this method, answer 405, not 404.",
    )
    expect(
        as_json(things) == {"detail": "Method Not Allowed"} and is_json(things),
        'A 405 should be JSON {"detail": "Method Not Allowed"}.',
    )
    expect(allow_set(item) == {"GET"}, "A 405 needs an allow header with the methods the path accepts.")
    expect(
        allow_set(things) == {"GET", "POST", "PUT", "PATCH"},
        "When several routes match the path, allow should list the methods of every route that matches, "
        "not only the first one's.",
    )
    expect(
        things.headers.get("allow") == "GET, PATCH, POST, PUT",
        'The allow header lists the methods sorted, joined with ", " (for example "GET, POST"), whatever the '
        "order the routes were added in.",
    )


@graded(NAME, points=1, promises=["first-wins"])
async def test_router_first_matching_route_wins(submission):
    """Routes are tried in the order they were added, a template before a literal path too."""
    app = await router(submission)
    async with client(app) as http:
        me, bob = await http.get("/users/me"), await http.get("/users/bob")
        posted = await http.post("/things")
    expect(
        as_json(me).get("endpoint") == "me" and as_json(bob).get("endpoint") == "user",
        "Try the routes in the order they were added and call the first one that matches.",
    )
    async with client(await router(submission, TEMPLATE_FIRST)) as http:
        me = await http.get("/users/me")
    expect(
        as_json(me).get("endpoint") == "user",
        "Try the routes in the order they were added, whatever they hold: when /users/{name} was added before "
        "/users/me, GET /users/me goes to /users/{name}. Don't put literal paths first.",
    )
    expect(
        as_json(posted).get("endpoint") == "things-post",
        "A route that matches the path but not the method should not stop the search: a later route "
        "with the same path may accept the method.",
    )


@graded(NAME, points=1, promises=["whole-path"])
async def test_router_matches_the_route_path_under_root_path(submission):
    """Under a root_path, the router matches route_path(scope), not the whole path."""
    app = await router(submission)
    scope = http_scope("GET", "/api/items/5")
    scope["root_path"] = "/api"
    trace = await drive(app, scope)
    completed(trace)
    expect(
        trace.status == 200 and as_json(trace).get("params") == {"item_id": ["int", 5]},
        "Match the templates against route_path(scope): scope['path'] still starts with scope['root_path'] "
        "when an app is mounted.",
    )


@graded(NAME, points=1, promises=["unknown-converter", "str-param", "int-param"], unhappy=True)
async def test_router_rejects_unknown_converters(submission):
    """add_route raises ValueError for a converter other than str and int."""
    await require(submission, NAME, kind="class")
    found = [
        await probe(submission, NAME, "lesson02.add_route_error", defined(NAME), path)
        for path in ["/x/{id:uuid}", "/x/{id:float}"]
    ]
    fine = await probe(submission, NAME, "lesson02.add_route_error", defined(NAME), "/x/{id:int}/y/{name:str}")
    if "NotImplementedError" in [*found, fine]:
        raise Mistake(f"Your `{NAME}` raised NotImplementedError. The exercise is not solved yet.")
    expect(
        found == ["ValueError", "ValueError"],
        "add_route should raise ValueError when a template uses a converter other than str and int.",
        promises=["unknown-converter"],
    )
    expect(
        fine is None,
        "add_route should accept {name}, {name:str} and {name:int} parameters.",
        promises=["str-param", "int-param"],
    )


@graded(NAME, points=1, promises=["endpoint-call"])
async def test_router_leaves_the_callers_scope_alone(submission):
    """The endpoint gets path_params in a new scope; the caller's scope dict is not changed."""
    await require(submission, NAME, kind="class")
    found = await probe(
        submission, NAME, "lesson02.router_keeps_scope", defined(NAME), "/items/{item_id:int}", "/items/9"
    )
    expect(found["status"] == 200, "A GET on a matching route should answer with its endpoint's response.")
    expect(
        found["scope_unchanged"],
        "Give the Request a new scope dict with path_params ({**scope, ...}); "
        "don't add keys to the scope your router was called with.",
    )


@graded(NAME, points=1, promises=["errors-propagate"], unhappy=True)
async def test_router_lets_endpoint_errors_propagate(submission):
    """An exception an endpoint raises leaves the router as it is, and nothing is sent for it."""
    app = await router(submission)
    trace = await drive(app, http_scope("GET", "/boom"))
    expect(
        not trace.timed_out, "When an endpoint raises, the router should not wait for anything: let the exception out."
    )
    raised = getattr(trace.exception, "error", {}) or {}
    expect(
        raised.get("type") == "RuntimeError" and trace.sent == [],
        "An exception raised by an endpoint should propagate out of the router unchanged, with nothing sent "
        "for it: turning it into an answer is the next exercise's job (catch_errors), not the router's.",
    )


# -- generated tables and requests -----------------------------------------------------------------
WORDS = ["items", "users", "me", "a"]
SEGMENT_VALUES = st.sampled_from(["7", "007", "42", "x", "ada", "4.5", "-1", "caf\u00e9", "", "a b"])


@st.composite
def tables_and_requests(draw):
    """Routes with literal and {name}, {name:str}, {name:int} segments, then requests: some fill
    a route's template (with digits, words, empty values), some are near misses."""
    table = []
    for number in range(draw(st.integers(1, 4))):
        parts = draw(
            st.lists(st.sampled_from(WORDS) | st.sampled_from(["{p}", "{p:str}", "{p:int}"]), min_size=0, max_size=3)
        )
        template = "/" + "/".join(part.replace("{p", f"{{p{index}") for index, part in enumerate(parts))
        methods = draw(st.lists(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), min_size=1, max_size=2, unique=True))
        tag = draw(st.sampled_from([f"route{number}", f"route{number}", f"raise{number}"]))
        table.append([template, tag, methods])
    requests = []
    for _ in range(draw(st.integers(1, 4))):
        template = draw(st.sampled_from([row[0] for row in table]))
        filled = "/".join(draw(SEGMENT_VALUES) if part.startswith("{") else part for part in template.split("/"))
        path = draw(st.sampled_from([filled, filled + "/", filled + "/x", "/" + draw(st.sampled_from(WORDS))]))
        root = draw(st.sampled_from(["", "", "/api"]))
        requests.append(
            {
                "method": draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])),
                "path": root + path,
                "root_path": root,
                "headers": [],
                "body": [b""],
                "disconnect": False,
            }
        )
    return {"table": table, "requests": requests}


def promised(seen: dict) -> dict:
    headers = dict(seen["headers"])
    try:
        payload = json.loads(seen["body"].decode("utf-8"))
    except ValueError:
        payload = seen["body"]
    return {"status": seen["status"], "json": payload, "allow": headers.get("allow"), "raised": seen["raised"]}


def answered_by(answers: list) -> dict:
    """Each request's answer (by its number), under the kind of answer it is: an endpoint's, a 405,
    a 404, an exception, anything else. Two sides that answer a request differently hold it under
    two kinds, so a difference names the promises of both."""
    kinds: dict = {}
    for number, answer in enumerate(answers):
        kind = (
            "an exception"
            if answer["raised"]
            else "405"
            if answer["status"] == 405
            else "404"
            if answer["status"] == 404
            else "an endpoint's answer"
            if answer["status"] == 200
            else "other"
        )
        kinds.setdefault(kind, []).append([number, answer])
    return kinds


MATCHING = ["literal-text", "str-param", "int-param", "whole-path"]
PROMISED_BY = {
    "add_route raised": "unknown-converter",
    "an endpoint's answer": [*MATCHING, "first-wins", "endpoint-call"],
    "405": [*MATCHING, "method-not-allowed"],
    "404": [*MATCHING, "not-found"],
    "an exception": "errors-propagate",
    "other": ["endpoint-call", "method-not-allowed", "not-found"],
}


@graded(
    NAME,
    points=3,
    promises=[
        *MATCHING,
        "first-wins",
        "endpoint-call",
        "method-not-allowed",
        "not-found",
        "errors-propagate",
        "unknown-converter",
    ],
    unhappy=True,
)
async def test_router_routes_generated_tables_as_the_task_says(submission, reference):
    """On generated route tables and requests, each answer (endpoint, 404, 405, exception) is as the task says."""
    await require(submission, NAME, kind="class")

    async def run(side, case):
        try:
            alias = await make(side, NAME, "$fixture:lesson02.build_router", defined(NAME), case["table"])
        except SubmissionRaised as exc:  # add_route refused a template: the same must refuse it
            if exc.error.get("type") == "NotImplementedError":
                raise
            return {"add_route raised": exc.error.get("type")}
        app = side.asgi(alias, label=NAME)
        return answered_by(
            [
                promised(outcome(await exchange(app, request, submission.limits.call_seconds)))
                for request in case["requests"]
            ]
        )

    await same_as_reference(submission, reference, NAME, tables_and_requests(), run, promise=PROMISED_BY)
