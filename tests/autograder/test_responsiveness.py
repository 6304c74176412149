"""suitekit.responsiveness: tells a loop held by a slow request from a free one."""

import asyncio
import time

import httpx
import pytest

from autograder.suitekit import Responsiveness, responsiveness

pytestmark = pytest.mark.anyio


def make_app(blocking: bool):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/slow":
            await asyncio.sleep(0.2)  # a free start: the first cheap requests go through
            if blocking:
                time.sleep(0.6)  # then it holds the loop, as a blocking endpoint does  # noqa: ASYNC251
            else:
                await asyncio.sleep(0.6)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def measure(blocking: bool) -> Responsiveness:
    transport = httpx.ASGITransport(app=make_app(blocking))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await responsiveness(http, "/slow", "/ping", attempts=2)


async def test_a_free_loop_is_responsive():
    result = await measure(blocking=False)
    assert result.responsive and result.slow_status == 200
    assert len(result.during) >= 2 and result.busy >= 0.5


async def test_a_held_loop_is_not_and_the_description_says_why():
    result = await measure(blocking=True)
    assert not result.responsive
    assert max(result.during) > result.threshold
    assert "while a slow one" in result.describe()


def test_the_threshold_sits_between_idle_and_the_slow_request():
    assert Responsiveness(idle=0.002, busy=1.2, during=[0.01], slow_status=200).threshold == 0.1
    assert Responsiveness(idle=0.03, busy=1.2, during=[0.01], slow_status=200).threshold == pytest.approx(0.3)
    assert Responsiveness(idle=0.2, busy=1.0, during=[0.01], slow_status=200).threshold == pytest.approx(0.4)
    assert not Responsiveness(idle=0.002, busy=1.2, during=[0.01], slow_status=200).responsive  # one is not enough
