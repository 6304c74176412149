"""Hypothesis strategies only lesson 05's hidden tests use: scripts of queue operations, as
the probe ``lesson05.script`` plays them on one connection. The strategies lessons share are
in ``autograder.strategies``."""

from __future__ import annotations

from hypothesis import strategies as st

TIMES = st.sampled_from([0.0, 1.0, 4.9, 5.0, 5.1, 10.0, 20.0])
JOB_IDS = st.integers(1, 3)
WORKERS = st.sampled_from(["w1", "w2"])


def queue_steps(ops: dict[str, st.SearchStrategy], most: int = 8) -> st.SearchStrategy[list]:
    """Up to ``most`` steps of ``lesson05.script``, each drawn from one of ``ops`` (op name ->
    strategy of its other fields), after one to three jobs are enqueued."""
    enqueue = st.fixed_dictionaries(
        {
            "op": st.just("enqueue"),
            "payload": st.just({"n": 1}),
            "now": TIMES,
            "key": st.none() | st.sampled_from(["k1", "k2"]),
        }
    )
    step = st.one_of([fields.map(lambda drawn, op=op: {"op": op, **drawn}) for op, fields in ops.items()])
    return st.builds(
        lambda first, rest: first + rest, st.lists(enqueue, min_size=1, max_size=3), st.lists(step, max_size=most)
    )


def shown_steps(steps: list) -> str:
    """A queue script as the calls it makes, one per line, numbered like the answers ("item N")."""

    def call(step: dict) -> str:
        op = step["op"]
        if op == "enqueue":
            return f"enqueue(db, 'job', {step['payload']!r}, now={step['now']}, idempotency_key={step['key']!r})"
        if op == "put":
            return f"the job {step['id']} set to " + ", ".join(f"{key}={value!r}" for key, value in step["set"].items())
        if op == "claim":
            return f"claim(db, {step['worker']!r}, {step['now']}, {step['lease']})"
        if op == "ack":
            return f"ack(db, {step['id']}, {step['worker']!r}, {step['result']!r})"
        if op == "fail":
            return (
                f"fail(db, {step['id']}, {step['worker']!r}, {step['error']!r}, {step['now']}, {step['u']}, "
                f"max_attempts={step['max_attempts']}, base={step['base']}, cap={step['cap']})"
            )
        if op == "handle":
            return f"handle_once(db, {step['job']!r})"
        if op == "row":
            return f"the row of job {step['id']}"
        return f"the number of rows in {step['table']}"

    return "on a new queue, one connection:\n" + "\n".join(
        f"      item {index}: {call(step)}" for index, step in enumerate(steps)
    )
