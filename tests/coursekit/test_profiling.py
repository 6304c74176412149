"""coursekit.profiling: cProfile's output, grouped by function, for sync and async code."""

import asyncio
import json
import time

from coursekit.profiling import label, profile_calls


def parse_then_spin():
    json.loads("[" + ",".join(["1"] * 2000) + "]")
    deadline = time.perf_counter() + 0.001
    while time.perf_counter() < deadline:
        pass


def test_label_names_python_functions_by_file_and_builtins_by_description():
    assert label(("/x/json/__init__.py", 299, "loads")) == "/x/json/__init__.py:loads"
    assert label(("~", 0, "<built-in method builtins.len>")) == "<built-in method builtins.len>"


def test_profile_calls_runs_a_warm_up_then_at_least_min_calls():
    calls = []
    profile = profile_calls(lambda: calls.append(1), seconds=0, min_calls=4)
    assert profile.calls == 4 and len(calls) == 5


def test_shares_split_the_whole_by_groups_and_leave_the_rest():
    profile = profile_calls(parse_then_spin, seconds=0.05)
    shares = profile.shares(
        {"parsing": ["json/__init__.py:loads"]}, within="test_profiling.py:parse_then_spin", rest="other"
    )
    assert list(shares) == ["parsing", "other"]
    whole = profile.cumulative(["test_profiling.py:parse_then_spin"])
    assert abs(sum(shares.values()) - whole) < 1e-9
    assert shares["parsing"] > 0 and shares["other"] > 0
    top = profile.top(3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]


def test_async_functions_are_profiled_in_their_own_loop_even_inside_a_running_one():
    async def waits():
        await asyncio.sleep(0)
        parse_then_spin()

    async def inside_a_loop():
        return profile_calls(waits, seconds=0.02)

    profile = asyncio.run(inside_a_loop())
    assert profile.calls >= 3
    assert profile.cumulative(["json/__init__.py:loads"]) > 0


def test_a_cpu_timer_leaves_out_time_spent_sleeping():
    def sleeps():
        time.sleep(0.003)

    wall = profile_calls(sleeps, seconds=0, min_calls=3)
    cpu = profile_calls(sleeps, seconds=0, min_calls=3, timer=time.thread_time)
    assert wall.cumulative(["time.sleep"]) >= 0.0025
    assert cpu.cumulative(["time.sleep"]) < 0.001
