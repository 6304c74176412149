import asyncio
import json

import pytest
from fastapi import FastAPI

from coursekit import Trace, Tracer, drive, http_scope, lifespan_scope, websocket_scope

pytestmark = pytest.mark.anyio


# --- small apps -----------------------------------------------------------------------------


async def json_app(scope, receive, send):
    assert scope["type"] == "http"
    await receive()
    body = json.dumps({"path": scope["path"], "query": scope["query_string"].decode()}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def echo_body_app(scope, receive, send):
    """Reads the request body chunk by chunk, then checks what receive() says afterwards."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    after = await receive()  # the client has nothing more: a server reports a disconnect
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-after", after["type"].encode())]})
    await send({"type": "http.response.body", "body": b"".join(chunks)})


async def raising_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 500, "headers": []})
    raise ValueError("boom")


async def hanging_app(scope, receive, send):
    await asyncio.sleep(60)


async def stub_app(scope, receive, send):
    raise NotImplementedError()


async def echo_websocket_app(scope, receive, send):
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message["text"].upper()})


async def lifespan_app(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["ready"] = True
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# --- scopes ---------------------------------------------------------------------------------


def test_http_scope_is_a_complete_asgi_scope():
    scope = http_scope("post", "/items", query="limit=2", headers={"Content-Type": "application/json"})
    assert scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/items",
        "raw_path": b"/items",
        "query_string": b"limit=2",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def test_raw_path_holds_the_percent_escapes_a_client_sends():
    """As on a real server: ``path`` is decoded, ``raw_path`` is what came on the wire."""
    scope = http_scope("GET", "/caf\u00e9/100%/a b")
    assert scope["path"] == "/caf\u00e9/100%/a b"
    assert scope["raw_path"] == b"/caf%C3%A9/100%25/a%20b"
    assert websocket_scope("/r\u00e9sum\u00e9")["raw_path"] == b"/r%C3%A9sum%C3%A9"


def test_http_scope_headers_from_pairs_keep_order_and_repeats():
    scope = http_scope(headers=[("Accept", "a"), ("X-Tag", "1"), ("x-tag", "2")])
    assert scope["headers"] == [(b"accept", b"a"), (b"x-tag", b"1"), (b"x-tag", b"2")]
    assert scope["method"] == "GET" and scope["path"] == "/"


def test_http_scopes_do_not_share_state():
    first, second = http_scope(), http_scope()
    first["asgi"]["version"] = "changed"
    assert second["asgi"]["version"] == "3.0"


def test_websocket_and_lifespan_scopes():
    ws = websocket_scope("/chat", query="room=1", subprotocols=["chat"])
    assert ws["type"] == "websocket"
    assert ws["scheme"] == "ws"
    assert ws["path"] == "/chat" and ws["raw_path"] == b"/chat"
    assert ws["query_string"] == b"room=1"
    assert ws["subprotocols"] == ["chat"]
    assert ws["asgi"]["version"] == "3.0"
    assert lifespan_scope() == {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}


# --- drive ----------------------------------------------------------------------------------


async def test_drive_json_app():
    trace = await drive(json_app, http_scope("GET", "/items", query="limit=2"))
    assert trace.exception is None and not trace.timed_out
    assert trace.status == 200
    assert trace.headers["content-type"] == "application/json"
    assert trace.json() == {"path": "/items", "query": "limit=2"}
    assert trace.text == trace.body.decode()
    assert [m["type"] for m in trace.received] == ["http.request"]
    assert [m["type"] for m in trace.sent] == ["http.response.start", "http.response.body"]
    assert [direction for _, direction, _ in trace.events] == ["receive", "send", "send"]
    times = [t for t, _, _ in trace.events]
    assert times == sorted(times) and times[0] >= 0


async def test_drive_hands_out_body_chunks_then_disconnect():
    chunks = [
        {"type": "http.request", "body": b"hello ", "more_body": True},
        {"type": "http.request", "body": b"world", "more_body": False},
    ]
    trace = await drive(echo_body_app, http_scope("POST", "/echo"), chunks)
    assert trace.body == b"hello world"
    assert trace.headers["x-after"] == "http.disconnect"
    assert [m["type"] for m in trace.received] == ["http.request", "http.request", "http.disconnect"]


async def test_drive_keeps_the_apps_exception_and_what_was_sent_before():
    trace = await drive(raising_app, http_scope())
    assert isinstance(trace.exception, ValueError)
    assert trace.status == 500
    assert not trace.timed_out
    assert "ValueError: boom" in repr(trace)


async def test_drive_reraises_not_implemented_error():
    with pytest.raises(NotImplementedError):
        await drive(stub_app, http_scope())


async def test_drive_reraises_not_implemented_error_inside_an_exception_group():
    async def grouped(scope, receive, send):
        raise ExceptionGroup("from a task group", [NotImplementedError()])

    with pytest.raises(ExceptionGroup):
        await drive(grouped, http_scope())


async def test_drive_cancels_a_hanging_app():
    trace = await drive(hanging_app, http_scope(), timeout=0.1)
    assert trace.timed_out
    assert trace.exception is None
    assert "timed out" in repr(trace)


async def test_a_timeout_error_from_the_app_is_an_exception_not_a_timeout():
    async def app(scope, receive, send):
        raise TimeoutError("the database was slow")

    trace = await drive(app, http_scope())
    assert not trace.timed_out
    assert isinstance(trace.exception, TimeoutError)


async def test_drive_websocket_echo():
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}]
    trace = await drive(echo_websocket_app, websocket_scope(), incoming)
    assert trace.exception is None and not trace.timed_out
    assert trace.sent == [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "HI"}]
    assert trace.received[-1] == {"type": "websocket.disconnect", "code": 1000}
    assert trace.status is None and trace.body == b""


async def test_drive_lifespan_startup_and_shutdown():
    scope = lifespan_scope()
    trace = await drive(lifespan_app, scope)
    assert [m["type"] for m in trace.sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert scope["state"] == {"ready": True}
    assert not trace.timed_out


async def test_drive_lifespan_waits_for_shutdown_until_the_timeout():
    trace = await drive(lifespan_app, lifespan_scope(), [{"type": "lifespan.startup"}], timeout=0.1)
    assert trace.timed_out
    assert [m["type"] for m in trace.sent] == ["lifespan.startup.complete"]


async def test_drive_a_fastapi_app():
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: str = ""):
        return {"item_id": item_id, "q": q}

    trace = await drive(app, http_scope("GET", "/items/3", query="q=x"))
    assert trace.status == 200
    assert trace.json() == {"item_id": 3, "q": "x"}

    trace = await drive(app, http_scope("GET", "/nowhere"))
    assert trace.status == 404


# --- Trace ----------------------------------------------------------------------------------


def make_trace(*messages):
    trace = Trace(http_scope())
    for direction, message in messages:
        trace._record(direction, message)
    return trace


def test_trace_headers_last_wins_and_header_list_keeps_all():
    trace = make_trace(
        (
            "send",
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2")],
            },
        ),
        ("send", {"type": "http.response.body", "body": b"ab", "more_body": True}),
        ("send", {"type": "http.response.body", "body": b"c"}),
    )
    assert trace.status == 201
    assert trace.header_list == [("set-cookie", "a=1"), ("set-cookie", "b=2")]
    assert trace.headers == {"set-cookie": "b=2"}
    assert trace.body == b"abc"


def test_empty_trace():
    trace = Trace()
    assert trace.status is None and trace.headers == {} and trace.body == b""
    assert "0 messages" in repr(trace)


def test_trace_records_a_copy_of_each_message():
    message = {"type": "http.response.body", "body": b"first"}
    trace = make_trace(("send", message))
    message["body"] = b"changed"
    assert trace.body == b"first"


def test_trace_repr_is_a_readable_table():
    trace = make_trace(
        ("receive", {"type": "http.request", "body": b"", "more_body": False}),
        ("send", {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}),
        ("send", {"type": "http.response.body", "body": b"x" * 500}),
    )
    text = repr(trace)
    lines = text.splitlines()
    assert "status 200" in lines[0]
    assert len(lines) == 1 + 1 + 3  # title, column names, one line per message
    assert "→ app" in lines[2] and "http.request" in lines[2] and "more_body=False" in lines[2]
    assert "← app" in lines[3] and "status=200" in lines[3] and "(b'content-type', b'text/plain')" in lines[3]
    assert "b'xxxx" in lines[4] and "…" in lines[4]
    assert len(lines[4]) < 150  # a 500-byte body is cut, not printed whole


def test_trace_html_is_a_plain_escaped_table():
    trace = make_trace(("send", {"type": "http.response.body", "body": b"<script>alert(1)</script>"}))
    trace.exception = RuntimeError("<oops>")
    page = trace._repr_html_()
    assert "<table>" in page and "</table>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;oops&gt;" in page
    assert "http://" not in page and "https://" not in page  # no external assets


# --- Tracer ---------------------------------------------------------------------------------


async def test_tracer_records_and_passes_messages_through():
    tracer = Tracer(json_app)
    trace = await drive(tracer, http_scope("GET", "/a"))
    assert trace.json() == {"path": "/a", "query": ""}  # unchanged for the caller
    assert len(tracer.traces) == 1
    recorded = tracer.traces[0]
    assert recorded.scope["path"] == "/a"
    assert recorded.sent == trace.sent and recorded.received == trace.received


async def test_tracer_records_the_exception_and_lets_it_through():
    tracer = Tracer(raising_app)
    trace = await drive(tracer, http_scope())
    assert isinstance(trace.exception, ValueError)
    assert tracer.traces[0].exception is trace.exception


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ({"type": "http.response.body", "body": "text"}, "http.response.body's body must be bytes, got str: encode it"),
        (
            {"type": "http.response.start", "status": 200, "headers": [("content-type", "text/plain")]},
            "http.response.start's headers must be (name, value) pairs of bytes",
        ),
        (
            {"type": "http.response.start", "status": "200", "headers": []},
            "http.response.start's status must be an int",
        ),
    ],
)
async def test_drive_names_a_message_a_server_could_not_send(message, named):
    async def app(scope, receive, send):
        await send(message)

    trace = await drive(app, http_scope())
    assert isinstance(trace.exception, TypeError) and named in str(trace.exception)
    assert trace.sent == [message] and named in repr(trace)  # the table's last line says it
    with pytest.raises(TypeError, match=named.split(" got")[0].replace("(", r"\(").replace(")", r"\)")):
        trace.body if message["type"] == "http.response.body" else trace.header_list


async def test_drive_reraises_not_implemented_error_raised_from_another_exception():
    async def app(scope, receive, send):
        try:
            raise NotImplementedError()
        except NotImplementedError as exc:
            raise RuntimeError("a framework wrapped it") from exc

    with pytest.raises(RuntimeError):
        await drive(app, http_scope())


# --- lifespan_must_start ------------------------------------------------------------------


async def test_lifespan_must_start_fails_at_once_for_an_app_that_returns_without_starting_up():
    from asgi_lifespan import LifespanManager

    from coursekit.asgi import lifespan_must_start

    async def returns_at_once(scope, receive, send):
        await receive()  # takes lifespan.startup, then returns without an answer

    started = asyncio.get_running_loop().time()
    with pytest.raises(ValueError, match="no startup"):
        async with LifespanManager(lifespan_must_start(returns_at_once, lambda: ValueError("no startup")), 30, 30):
            pass
    assert asyncio.get_running_loop().time() - started < 5  # not the manager's 30 s time-out


async def test_lifespan_must_start_passes_an_app_that_starts_and_its_requests_through():
    from asgi_lifespan import LifespanManager

    from coursekit.asgi import lifespan_must_start

    app = FastAPI()
    app.get("/")(lambda: {"ok": True})
    async with LifespanManager(lifespan_must_start(app, lambda: AssertionError("started")), 5, 5) as manager:
        trace = await drive(manager.app, http_scope("GET", "/"))
    assert trace.status == 200 and trace.json() == {"ok": True}
