import asyncio
import contextlib
import socket
import threading
import time

import httpx
import pytest
from fastapi import FastAPI

from coursekit import Tracer, serve
from coursekit.serve import run_blocking, server_names

SERVERS = ["uvicorn", "hypercorn"]


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello():
        return {"hello": "world"}

    return app


async def failing_startup_app(scope, receive, send):
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "no database"})


def get(url: str) -> httpx.Response:
    # trust_env=False: a proxy from the environment must never see 127.0.0.1 traffic.
    with httpx.Client(trust_env=False, timeout=5) as client:
        return client.get(url)


def refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def server_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("coursekit-serve")]


def test_server_names():
    assert server_names() == SERVERS


@pytest.mark.parametrize("server", SERVERS)
def test_serve_answers_on_loopback_then_stops(server):
    with serve(make_app(), server=server) as running:
        assert running.server == server
        assert running.host == "127.0.0.1"
        assert running.url == f"http://127.0.0.1:{running.port}"
        response = get(running.url + "/hello")
        assert response.status_code == 200
        assert response.json() == {"hello": "world"}
        assert len(server_threads()) == 1
    assert refuses_connections(running.port)
    assert server_threads() == []


@pytest.mark.parametrize("server", SERVERS)
def test_serve_stops_when_the_block_raises(server):
    with pytest.raises(ZeroDivisionError):
        with serve(make_app(), server=server) as running:
            assert get(running.url + "/hello").status_code == 200
            1 / 0  # noqa: B018
    assert refuses_connections(running.port)
    assert server_threads() == []


@pytest.mark.parametrize("server", SERVERS)
def test_a_handler_that_never_ends_is_stopped_by_force(server, recwarn):
    async def hanging_app(scope, receive, send):
        if scope["type"] == "http":
            await asyncio.sleep(3600)

    def request(url):
        with contextlib.suppress(httpx.HTTPError):  # a 500 or a dropped connection: either is fine
            get(url)

    with serve(hanging_app, server=server, lifespan="off", timeout=1.5) as running:
        client = threading.Thread(target=request, args=(running.url,))
        client.start()
        time.sleep(0.2)  # the request is now inside the app
        started_stopping = time.monotonic()
    # Graceful stop waits up to `timeout` for the request, then force; the test allows slack.
    assert time.monotonic() - started_stopping < 3 * 1.5
    assert server_threads() == []
    assert refuses_connections(running.port)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    client.join(5)


@pytest.mark.parametrize("server", SERVERS)
def test_tracer_shows_what_the_server_sends(server):
    tracer = Tracer(make_app())
    with serve(tracer, server=server) as running:
        get(running.url + "/hello?x=1")
    kinds = [trace.scope["type"] for trace in tracer.traces]
    assert kinds == ["lifespan", "http"]
    lifespan, request = tracer.traces
    assert [m["type"] for m in lifespan.sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert request.scope["path"] == "/hello"
    assert request.scope["query_string"] == b"x=1"
    assert tuple(request.scope["server"]) == ("127.0.0.1", running.port)
    assert request.status == 200
    assert request.json() == {"hello": "world"}


@pytest.mark.parametrize("server", SERVERS)
def test_lifespan_off_hides_the_lifespan_from_the_app(server):
    tracer = Tracer(make_app())
    with serve(tracer, server=server, lifespan="off") as running:
        assert get(running.url + "/hello").status_code == 200
    assert [trace.scope["type"] for trace in tracer.traces] == ["http"]


@pytest.mark.parametrize("server", SERVERS)
def test_a_failed_startup_is_a_clear_error(server):
    with pytest.raises(RuntimeError, match=f"{server} stopped before it started"):
        with serve(failing_startup_app, server=server, lifespan="on"):
            pytest.fail("the with-block must not run")  # pragma: no cover
    assert server_threads() == []


def test_serve_rejects_unknown_servers_and_settings():
    with pytest.raises(ValueError, match="server must be one of"):
        with serve(make_app(), server="gunicorn"):
            pass  # pragma: no cover
    with pytest.raises(ValueError, match="lifespan must be one of"):
        with serve(make_app(), lifespan="maybe"):
            pass  # pragma: no cover
    with pytest.raises(TypeError):
        with serve(make_app(), server="hypercorn", no_such_setting=1):
            pass  # pragma: no cover


@pytest.mark.anyio
async def test_serve_works_while_an_event_loop_runs_here():
    # As in a Jupyter cell: this thread's loop is running, and the cell blocks on a request.
    with serve(make_app()) as running:
        assert get(running.url + "/hello").json() == {"hello": "world"}
    assert server_threads() == []


# --- run_blocking ---------------------------------------------------------------------------


def test_run_blocking_without_a_loop_runs_here():
    assert run_blocking(threading.current_thread) is threading.current_thread()


@pytest.mark.anyio
async def test_run_blocking_inside_a_loop_uses_another_thread():
    async def answer():
        await asyncio.sleep(0)
        return 42

    assert run_blocking(lambda: asyncio.run(answer())) == 42
    assert run_blocking(threading.current_thread) is not threading.current_thread()
    with pytest.raises(KeyError):
        run_blocking(lambda: {}["missing"])
