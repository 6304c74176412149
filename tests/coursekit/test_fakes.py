import asyncio

import pytest

from coursekit.fakes import FakeService, SlowPool

pytestmark = pytest.mark.anyio


async def test_fake_service_records_concurrency_and_fates():
    service = FakeService()
    ok, bad, slow = service.call(0, 0.01, "a"), service.call(1, 0.02, error=KeyError), service.call(2, 1.0)
    slow_task = asyncio.ensure_future(slow())
    assert await ok() == "a"
    with pytest.raises(KeyError):
        await bad()
    slow_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow_task
    assert service.indices("end") == [0] and service.indices("fail") == [1] and service.indices("cancelled") == [2]
    assert service.peak == 2 and service.running == 0


async def test_slow_pool_counts_only_finished_releases():
    pool = SlowPool(release_seconds=0.05)
    first, second = await pool.acquire(), await pool.acquire()
    await pool.release(first)
    task = asyncio.ensure_future(pool.release(second))
    await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert (first, second) == ("conn-1", "conn-2")
    assert pool.release_calls == ["conn-1", "conn-2"] and pool.released == ["conn-1"] and pool.leaked == ["conn-2"]


async def test_settled_waits_for_a_release_going_on_in_the_background():
    """A shielded release outlives the task cancelled around it; ``settled`` waits for its end
    (however late a busy machine makes it), and returns at once when none runs."""
    pool = SlowPool(release_seconds=0.2)
    connection = await pool.acquire()
    outer = asyncio.ensure_future(asyncio.shield(pool.release(connection)))
    await asyncio.sleep(0.01)
    outer.cancel()
    await asyncio.gather(outer, return_exceptions=True)
    assert pool.releasing == 1 and pool.released == []
    await pool.settled()
    assert pool.releasing == 0 and pool.released == [connection]
    started = asyncio.get_running_loop().time()
    await pool.settled()
    assert asyncio.get_running_loop().time() - started < 0.05


async def test_settled_gives_up_after_its_timeout():
    pool = SlowPool(release_seconds=10)
    task = asyncio.ensure_future(pool.release(await pool.acquire()))
    await asyncio.sleep(0.01)
    await pool.settled(timeout=0.1)
    assert pool.releasing == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert pool.releasing == 0
