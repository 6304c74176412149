import asyncio
import gc

import pytest
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from coursekit.streams import collector_held, http_call, sse_blocks, websocket_clients

pytestmark = pytest.mark.anyio


def ticking_app(cleanups: list):
    app = FastAPI()

    @app.get("/ticks")
    async def ticks():
        async def lines():
            try:
                for n in range(50):
                    yield f"{n}\n"
                    await asyncio.sleep(0.01)
            finally:
                cleanups.append("done")

        return StreamingResponse(lines(), media_type="text/plain")

    @app.post("/count")
    async def count(request: Request):
        size = 0
        async for piece in request.stream():
            size += len(piece)
        return {"size": size}

    return app


async def test_http_call_reads_a_whole_stream():
    cleanups = []
    seen = await http_call(ticking_app(cleanups), "GET", "/ticks")
    assert seen.status == 200 and seen.complete and seen.text == "".join(f"{n}\n" for n in range(50))
    assert seen.chunks == 50 and len(seen.chunk_times) == 50 and seen.left_at is None
    assert seen.header("Content-Type").startswith("text/plain") and cleanups == ["done"]


async def test_a_client_that_leaves_cancels_a_starlette_stream():
    cleanups = []
    seen = await http_call(ticking_app(cleanups), "GET", "/ticks", leave_after_chunks=3)
    assert seen.chunks == 3 and not seen.complete and cleanups == ["done"]
    assert seen.returned_after_leaving is not None and seen.returned_after_leaving < 0.5


async def test_a_client_that_stops_reading_holds_the_send_until_it_leaves():
    """As on uvicorn: the waiting send returns once the client has gone, and the cancel then
    reaches the generator at its own await, so its finally runs at once."""
    cleanups = []
    seen = await http_call(ticking_app(cleanups), "GET", "/ticks", stall_after_chunks=2, leave_after=0.2)
    assert seen.chunks == 2 and not seen.complete and seen.left_at >= 0.2 and cleanups == ["done"]
    assert seen.returned_after_leaving is not None and seen.returned_after_leaving < 0.1


async def test_a_slow_line_is_cut_short_when_the_client_leaves():
    cleanups = []
    seen = await http_call(ticking_app(cleanups), "GET", "/ticks", chunk_delay=0.5, leave_after=0.1)
    assert seen.chunks == 0 and cleanups == ["done"]  # the chunk on its way when it left is lost, as on a real server
    assert seen.returned_after_leaving is not None and seen.returned_after_leaving < 0.1


async def test_leave_after_seconds_and_keep_body_false():
    seen = await http_call(ticking_app([]), "GET", "/ticks", leave_after=0.1, keep_body=False)
    assert 1 <= seen.chunks < 50 and len(seen.body) == 0 and seen.left_at >= 0.1


async def test_request_pieces_hang_up_and_before_piece():
    looked = []
    seen = await http_call(ticking_app([]), "POST", "/count", body=[b"ab", b"cde", b"f"], before_piece=looked.append)
    assert seen.status == 200 and seen.text == '{"size":6}' and seen.pieces_read == 3 and looked == [0, 1, 2]
    gone = await http_call(ticking_app([]), "POST", "/count", body=[b"ab", b"cde", b"f"], hang_up_after_pieces=1)
    assert gone.pieces_read == 1 and gone.status is None and gone.error.startswith("ClientDisconnect")


async def test_an_app_that_never_ends_is_cut_at_the_timeout():
    async def stuck(scope, receive, send):
        await asyncio.sleep(10)

    seen = await http_call(stuck, "GET", "/", timeout=0.1)
    assert seen.returned_at is None and seen.status is None


def room_app():
    app, members = FastAPI(), []

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, token: str = ""):
        if token != "ok":
            await websocket.close(code=1008)
            return
        await websocket.accept()
        members.append(websocket)
        try:
            while True:
                text = await websocket.receive_text()
                for member in list(members):
                    await member.send_text(text)
        except WebSocketDisconnect:
            members.remove(websocket)

    return app


async def test_websocket_clients_accept_refuse_say_and_leave():
    async with websocket_clients(room_app()) as connect:
        refused = await connect("/ws")
        assert refused.closed.is_set() and refused.close_code == 1008 and not refused.accepted.is_set()
        one, two = await connect("/ws?token=ok"), await connect("/ws?token=ok")
        one.say("hi")
        await asyncio.sleep(0.05)
        assert one.texts == ["hi"] == two.texts
        two.leave()
        assert await two.settled(1.0)
        one.say("again")
        await asyncio.sleep(0.05)
        assert one.texts == ["hi", "again"] and two.texts == ["hi"]


async def test_a_client_that_stops_reading_makes_sends_wait():
    async with websocket_clients(room_app()) as connect:
        one, slow = await connect("/ws?token=ok"), await connect("/ws?token=ok")
        slow.stop_reading()
        one.say("first")
        await asyncio.sleep(0.05)
        one.say("second")  # the naive room's loop is stuck in slow's send: nobody gets this
        await asyncio.sleep(0.05)
        assert one.texts == ["first"] and slow.texts == []
        slow.resume_reading()
        await asyncio.sleep(0.05)
        assert one.texts == ["first", "second"] and slow.texts == ["first", "second"]


def test_sse_blocks_reads_as_a_browser_does():
    text = "retry: 10\n\n: ping\n\ndata: a\ndata: b\nid: 3\n\nevent: x\r\ndata:no space\r\n\r\ndata: cut"
    assert sse_blocks(text) == [
        {"retry": "10"},
        {"comments": ["ping"]},
        {"data": "a\nb", "id": "3"},
        {"event": "x", "data": "no space"},
    ]
    assert sse_blocks("data: one\nlines\n\n") == [{"data": "one"}]  # a line without "data:" is another field


def test_collector_held_puts_the_collector_back_as_it_was():
    try:
        for before in (True, False):
            (gc.enable if before else gc.disable)()
            with collector_held():
                assert not gc.isenabled()
            assert gc.isenabled() is before
    finally:
        gc.enable()
