import pytest
from fastapi import FastAPI

from coursekit.own_tests import cell_tests, run_tests

pytestmark = pytest.mark.anyio


def compiled(source: str, filename: str, namespace: dict) -> None:
    exec(compile(source, filename, "exec"), namespace)


def test_only_the_tests_beside_the_anchor_count_and_the_others_are_named():
    namespace: dict = {}
    compiled(
        "def helper(): pass\ndef test_kept(client): pass\nasync def test_also(client): pass\n", "<cell 1>", namespace
    )
    compiled("def test_elsewhere(client): pass\n", "<cell 2>", namespace)
    namespace["test_not_a_function"] = 3
    mine, others = cell_tests(namespace, "helper")
    assert sorted(mine) == ["test_also", "test_kept"]
    assert others == ["test_elsewhere"]


def test_without_its_anchor_the_cell_with_the_most_tests_stands_in():
    namespace: dict = {}
    compiled("def test_a(client): pass\ndef test_b(client): pass\n", "<cell 1>", namespace)
    compiled("def test_c(client): pass\n", "<cell 2>", namespace)
    mine, others = cell_tests(namespace, "helper")
    assert sorted(mine) == ["test_a", "test_b"] and others == ["test_c"]


def counting_app():
    app = FastAPI()
    app.state.started = False

    @app.get("/started")
    async def started():
        return {"started": app.state.started}

    @app.get("/boom")
    async def boom():
        raise RuntimeError("boom")

    @app.router.on_startup.append
    async def startup():
        app.state.started = True

    return app


async def test_each_test_gets_a_fresh_app_with_its_lifespan_and_a_plain_verdict():
    made = []

    def make_app():
        made.append(counting_app())
        return made[-1]

    async def test_started(client):
        assert (await client.get("/started")).json() == {"started": True}

    def test_sync_and_failing(client):
        raise AssertionError("no")

    async def test_app_error_is_a_500(client):
        assert (await client.get("/boom")).status_code == 500

    verdicts = await run_tests(
        {
            "test_started": test_started,
            "test_sync_and_failing": test_sync_and_failing,
            "test_app_error_is_a_500": test_app_error_is_a_500,
        },
        make_app,
    )
    assert verdicts == {
        "test_started": "passed",
        "test_sync_and_failing": "failed: AssertionError no",
        "test_app_error_is_a_500": "passed",
    }
    assert len(made) == 3


async def test_an_unsolved_test_stops_the_run():
    async def test_unsolved(client):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        await run_tests({"test_unsolved": test_unsolved}, counting_app)
