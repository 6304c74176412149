import asyncio
import time

import pytest

from coursekit import compare, measure
from coursekit.timing import Comparison, Timing, compare_apps, cpu_time, format_seconds


def slow():
    time.sleep(0.002)


def fast():
    pass


def test_format_seconds_picks_a_readable_unit():
    assert format_seconds(2.5) == "2.5 s"
    assert format_seconds(0.0123) == "12.3 ms"
    assert format_seconds(3.05e-6) == "3.05 µs"
    assert format_seconds(4.12e-7) == "412 ns"
    assert format_seconds(0.0009997) == "1 ms"  # never "1e+03 µs"
    assert format_seconds(1234.0) == "1234 s"


def test_measure_with_a_given_number_calls_warmup_then_repeats():
    calls = []
    timing = measure(lambda: calls.append(1), repeat=3, number=4, warmup=2)
    assert len(calls) == 2 + 3 * 4
    assert timing.number == 4
    assert len(timing.per_call) == 3
    assert timing.best <= timing.median


def test_measure_picks_number_so_a_repeat_lasts_about_20_ms():
    timing = measure(fast, repeat=2)
    assert timing.number > 1
    assert timing.number * timing.median >= 0.005  # not tight: the repeats must not be tiny
    assert "per call" in repr(timing) and "repeats of" in repr(timing)


def test_measure_an_async_function_without_a_loop():
    async def tick():
        await asyncio.sleep(0)

    timing = measure(tick, repeat=2, number=10)
    assert isinstance(timing, Timing)
    assert len(timing.per_call) == 2 and all(seconds > 0 for seconds in timing.per_call)


@pytest.mark.anyio
async def test_measure_an_async_function_inside_a_running_loop():
    # As in a Jupyter cell: the function still runs, in a loop of its own.
    loops = set()

    async def tick():
        loops.add(asyncio.get_running_loop())

    measure(tick, repeat=2, number=3)
    assert loops and asyncio.get_running_loop() not in loops


def test_compare_finds_the_faster_function():
    comparison = compare({"slow": slow, "fast": fast}, repeat=3, number=5)
    assert comparison.fastest == "fast"
    assert comparison.ratio("fast") == 1.0
    assert comparison.ratio("slow") > 1
    assert [row.name for row in comparison.rows()] == ["fast", "slow"]
    assert set(comparison.timings) == {"slow", "fast"}


def test_compare_runs_the_candidates_interleaved():
    order = []
    compare({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeat=3, number=1, warmup=0)
    assert order == ["a", "b"] * 3


def test_compare_mixes_sync_and_async_candidates():
    async def tick():
        await asyncio.sleep(0)

    comparison = compare({"sync": fast, "async": tick}, repeat=2, number=20)
    assert set(comparison.timings) == {"sync", "async"}


def test_comparison_displays_ratios():
    comparison = Comparison({"fast": Timing([1e-6] * 3, 10), "slow": Timing([3e-6] * 3, 10)})
    text = repr(comparison)
    lines = text.splitlines()
    assert lines[0].split() == ["name", "median", "ratio"]
    assert lines[1].split() == ["fast", "1", "µs", "1.00x"]
    assert lines[2].split() == ["slow", "3", "µs", "3.00x"]
    page = comparison._repr_html_()
    assert "<table>" in page and "3.00x" in page


def test_comparison_plot_draws_one_bar_per_candidate():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comparison = Comparison({"fast": Timing([1e-6], 1), "slow": Timing([3e-6], 1)})
    ax = comparison.plot()
    widths = sorted(patch.get_width() for patch in ax.patches)
    assert widths == pytest.approx([1.0, 3.0])
    assert [label.get_text() for label in ax.get_yticklabels()] == ["fast", "slow"]
    plt.close(ax.figure)


@pytest.mark.anyio
async def test_compare_sync_candidates_inside_a_running_loop():
    # A notebook cell runs inside the kernel's event loop; timing plain functions must work there.
    comparison = compare({"fast": lambda: None, "slow": lambda: sum(range(2000))}, repeat=3)
    assert comparison.fastest == "fast"


def test_a_cpu_clock_does_not_count_sleeping():
    timing = measure(slow, repeat=3, number=5, clock=cpu_time)
    assert timing.median < 0.001  # time.sleep(0.002) uses no CPU
    assert measure(slow, repeat=3, number=5).median >= 0.0015  # wall time does count it


def test_min_batch_sets_how_long_an_autoranged_repeat_lasts():
    short = measure(fast, repeat=2, min_batch=0.001)
    long = measure(fast, repeat=2, min_batch=0.02)
    assert short.number < long.number


def test_speedup_is_the_median_of_round_by_round_ratios():
    comparison = Comparison({"slow": Timing([4.0, 6.0, 100.0], 1), "fast": Timing([1.0, 2.0, 10.0], 1)})
    assert comparison.round_ratios("slow", "fast") == [4.0, 3.0, 10.0]
    assert comparison.speedup("slow", "fast") == 4.0
    assert comparison.speedup("fast", "slow") == 0.25


def test_cpu_time_counts_the_work_of_other_threads_precisely():
    import threading

    def spin(seconds):
        deadline = time.thread_time() + seconds
        while time.thread_time() < deadline:
            pass

    before = cpu_time()
    worker = threading.Thread(target=spin, args=(0.05,))
    worker.start()
    spin(0.02)
    worker.join()
    assert cpu_time() - before >= 0.065  # both threads' work, the ended worker's included
    readings = {cpu_time() for _ in range(2000)}
    assert len(readings) > 100  # it advances between calls, not only at the scheduler's tick


def lifespan_app(per_request_seconds):
    """An ASGI app that opens a resource bound to its event loop at startup (as an async
    database engine does) and answers each request after ``per_request_seconds`` of CPU."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    app.loop = asyncio.get_running_loop()
                    await send({"type": "lifespan.startup.complete"})
                else:
                    app.closed = True
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert asyncio.get_running_loop() is app.loop, "served from another loop than the lifespan's"
        deadline = time.thread_time() + per_request_seconds
        while time.thread_time() < deadline:
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app.closed = False
    return app


@pytest.mark.anyio
async def test_compare_apps_serves_each_app_in_the_loop_its_lifespan_ran_in():
    slow_app, fast_app = lifespan_app(0.002), lifespan_app(0.0)
    comparison = compare_apps({"slow": slow_app, "fast": fast_app}, "GET", "/", repeat=3, clock=cpu_time)
    assert comparison.fastest == "fast"
    assert comparison.speedup("slow", "fast") > 1.5
    assert slow_app.closed and fast_app.closed, "each app's lifespan shuts down at the end"


def test_compare_apps_refuses_to_time_a_failing_request():
    async def teapot(scope, receive, send):
        if scope["type"] == "lifespan":
            return  # no lifespan support: LifespanManager carries on without one
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with pytest.raises(AssertionError, match="answered 418"):
        compare_apps({"teapot": teapot}, "GET", "/", repeat=1, number=1)
