"""Hidden tests for `Mount`: a sub-application under a prefix, with root_path and path."""

import json

import pytest
from hypothesis import strategies as st

from autograder.expect import expect, graded
from autograder.strategies import outcome
from autograder.submission import defined
from autograder.suitekit import Conversation, as_json, completed, make, probe, require, same_as_reference
from coursekit import drive, http_scope, lifespan_scope, websocket_scope

pytestmark = pytest.mark.anyio
NAME = "Mount"


async def reporter(submission, tag: str) -> str:
    return await make(submission, NAME, "$fixture:lesson02.scope_reporter", tag)


async def mount(submission, prefix: str, *, fallback: bool = True, inner: str | None = None):
    await require(submission, NAME, kind="class")
    app = inner or await reporter(submission, "sub")
    args = [prefix, defined(app)] + ([defined(await reporter(submission, "main"))] if fallback else [])
    return await make(submission, NAME, NAME, *args)


async def seen(submission, alias: str, path: str, root_path: str = "") -> dict:
    scope = http_scope("GET", path)
    scope["root_path"] = root_path
    trace = await drive(submission.asgi(alias, label=NAME), scope)
    completed(trace)
    expect(trace.status is not None, "Every HTTP request should get a response.")
    return {"status": trace.status, **as_json(trace)}


@graded(NAME, points=2, promises=["mounted", "child-scope"])
async def test_mount_moves_the_prefix_into_root_path(submission):
    """Under the prefix, the app gets root_path + prefix in root_path, and the whole path in path."""
    alias = await mount(submission, "/admin")
    got = await seen(submission, alias, "/admin/users/7")
    expect(
        got.get("tag") == "sub",
        "A path under the prefix (prefix, then /...) should go to the mounted app.",
        promises=["mounted"],
    )
    expect(
        got.get("root_path") == "/admin",
        "Add the prefix to root_path in the scope the mounted app receives.",
        promises=["child-scope"],
    )
    expect(
        got.get("path") == "/admin/users/7",
        "Keep scope['path'] whole: the mounted app finds its own part with route_path(scope), as the "
        "installed Starlette does (and uvicorn's --root-path).",
        promises=["child-scope"],
    )


@graded(NAME, points=1, promises=["mounted", "fallback"])
async def test_mount_sends_everything_else_to_the_fallback(submission):
    """Paths outside the prefix (including a longer first segment) go to the fallback, unchanged."""
    alias = await mount(submission, "/admin")
    answers = {path: await seen(submission, alias, path) for path in ["/users", "/administrator", "/admin", "/"]}
    expect(
        all(got.get("tag") == "main" for got in answers.values()),
        "Only paths equal to the prefix followed by '/' and more belong to the mounted app; a path that merely "
        "starts with the same letters, or is the bare prefix, goes to the fallback.",
        promises=["mounted"],
    )
    expect(
        all(got.get("root_path") == "" and got.get("path") == path for path, got in answers.items()),
        "The fallback gets the scope as it came, root_path and path unchanged.",
        promises=["fallback"],
    )
    lifespan = await drive(submission.asgi(alias, label=NAME), lifespan_scope())
    completed(lifespan)
    expect(
        [m.get("type") for m in lifespan.sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"],
        "Scopes other than http and websocket (lifespan) go to the fallback.",
        promises=["fallback"],
    )


@graded(NAME, points=1, promises=["no-fallback"], unhappy=True)
async def test_mount_without_fallback_answers_404(submission):
    """Without a fallback, a path outside the prefix answers 404 {"detail": "Not Found"}; a lifespan call is ignored."""
    alias = await mount(submission, "/admin", fallback=False)
    got = await seen(submission, alias, "/elsewhere")
    expect(
        got.get("status") == 404 and got.get("detail") == "Not Found",
        'With no fallback, answer a path outside the prefix with 404 JSON {"detail": "Not Found"}.',
    )
    lifespan = await drive(
        submission.asgi(alias, label=NAME),
        lifespan_scope(),
        [{"type": "lifespan.startup"}],
        timeout=submission.limits.call_seconds / 2,
    )
    expect(
        not lifespan.timed_out and lifespan.exception is None and lifespan.sent == [],
        "With no fallback, a scope that is neither http nor websocket (lifespan) is ignored: return at once, "
        "sending nothing.",
    )


@graded(NAME, points=1, promises=["child-scope"])
async def test_mount_nests_and_respects_an_outer_root_path(submission):
    """Mounts nest, and a root_path set by the server (or an outer mount) is kept in front."""
    inner = await mount(submission, "/admin", fallback=False)
    outer = await make(submission, NAME, NAME, "/api", defined(inner))
    got = await seen(submission, outer, "/api/admin/x")
    expect(
        got.get("tag") == "sub" and got.get("root_path") == "/api/admin" and got.get("path") == "/api/admin/x",
        "Mounted inside another mount, the app should get both prefixes in root_path and the whole path.",
    )
    got = await seen(submission, inner, "/v1/admin/x", root_path="/v1")
    expect(
        got.get("tag") == "sub" and got.get("root_path") == "/v1/admin",
        "Match the prefix against route_path(scope) and append it to the root_path you were given.",
    )


@graded(NAME, points=1, promises=["child-scope"])
async def test_mount_copies_the_scope(submission):
    """The mounted app gets a new scope dict; the caller's scope is not changed."""
    await require(submission, NAME, kind="class")
    found = await probe(submission, NAME, "lesson02.mount_keeps_scope", defined(NAME), "/admin", "/admin/x")
    try:
        answer = json.loads(found["answer"])
    except ValueError:
        answer = {}
    expect(
        isinstance(answer, dict) and answer.get("root_path") == "/admin",
        "A path under the prefix should reach the mounted app, with the prefix added to root_path.",
    )
    expect(
        found["scope_unchanged"],
        "Build a new scope for the mounted app ({**scope, ...}); don't change the "
        "dict you were called with: the caller (a server, another middleware) "
        "may still use it.",
    )


@graded(NAME, points=1, promises=["mounted", "child-scope", "no-fallback"], unhappy=True)
async def test_mount_routes_websockets_too(submission):
    """A WebSocket under the prefix reaches the mounted app with the new root_path."""
    alias = await mount(submission, "/admin")
    talk = Conversation(submission.asgi(alias, label=NAME), websocket_scope("/admin/live"))
    try:
        talk.push({"type": "websocket.connect"})
        accept = await talk.pull("websocket.accept")
        text = await talk.pull("the mounted app's message")
    finally:
        await talk.close()
    expect(
        accept is not None and accept.get("type") == "websocket.accept" and text is not None,
        "Route websocket scopes by path too.",
        promises=["mounted"],
    )
    got = json.loads(text.get("text", "{}"))
    expect(
        got.get("tag") == "sub" and got.get("root_path") == "/admin",
        "A websocket under the prefix should reach the mounted app with the prefix added to root_path.",
        promises=["child-scope"],
    )
    alone = await mount(submission, "/admin", fallback=False)
    talk = Conversation(submission.asgi(alone, label=NAME), websocket_scope("/elsewhere"))
    try:
        talk.push({"type": "websocket.connect"})
        refusal = await talk.pull("websocket.close")
    finally:
        await talk.close()
    expect(
        refusal is not None and refusal.get("type") == "websocket.close",
        "With no fallback, close a websocket outside the prefix with websocket.close.",
        promises=["no-fallback"],
    )


# -- generated prefixes, paths and scopes ----------------------------------------------------------


@st.composite
def cases(draw):
    prefix = draw(st.sampled_from(["/admin", "/a", "/api/v1"]))
    rest = draw(st.sampled_from(["", "/", "/x", "/x/y", "istrator", "x/y", "/caf\u00e9"]))
    path = draw(st.sampled_from([prefix + rest, rest or "/", "/other" + rest]))
    root = draw(st.sampled_from([None, "", "/outer"]))  # None: the scope has no root_path key
    fallback = draw(st.booleans())
    kind = draw(st.sampled_from(["http", "http", "websocket", "lifespan"]))
    full = (root or "") + path
    # Which case of the statement this is, to name its promises (route_path's rule, restated):
    routed = full[len(root) :] if root and full.startswith(root + "/") else full
    under = kind in ("http", "websocket") and routed.startswith(prefix + "/")
    where = "under the prefix" if under else "elsewhere, to the fallback" if fallback else "elsewhere, with no fallback"
    return {"prefix": prefix, "fallback": fallback, "type": kind, "path": full, "root_path": root, "where": where}


async def seen_by_mount(side, case: dict, seconds: float):
    app = await reporter(side, "sub")
    args = [case["prefix"], defined(app)] + ([defined(await reporter(side, "main"))] if case["fallback"] else [])
    mounted = side.asgi(await make(side, NAME, NAME, *args), label=NAME)
    if case["type"] == "lifespan":
        scope, incoming = lifespan_scope(), [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    else:
        scope = http_scope("GET", case["path"]) if case["type"] == "http" else websocket_scope(case["path"])
        scope["root_path"] = case["root_path"]
        if case["root_path"] is None:
            del scope["root_path"]
        incoming = (
            [{"type": "http.request", "body": b""}] if case["type"] == "http" else [{"type": "websocket.connect"}]
        )
    trace = await drive(mounted, scope, incoming, timeout=seconds)
    if case["type"] == "lifespan" and trace.timed_out:
        return {"lifespan": [message.get("type") for message in trace.sent]}
    got = outcome(trace)
    messages = [
        {**message, "text": json.loads(message["text"])} if message.get("text") else message for message in trace.sent
    ]
    return {
        "status": got["status"],
        "raised": got["raised"],
        "answer": as_json(trace) if case["type"] == "http" else messages,
    }


PROMISED_BY = {
    "under the prefix": ["mounted", "child-scope"],
    "elsewhere, to the fallback": ["mounted", "fallback"],
    "elsewhere, with no fallback": ["mounted", "no-fallback"],
}


@graded(NAME, points=2, promises=["mounted", "child-scope", "fallback", "no-fallback"], unhappy=True)
async def test_mount_routes_generated_scopes_as_the_task_says(submission, reference):
    """On generated prefixes, paths, root_paths and scope types, each call reaches the right app with the right
    scope."""
    await require(submission, NAME, kind="class")

    async def run(side, case):
        return {case["where"]: await seen_by_mount(side, case, submission.limits.call_seconds)}

    await same_as_reference(submission, reference, NAME, cases(), run, promise=PROMISED_BY)
