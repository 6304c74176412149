"""Hypothesis strategies only lesson 03's hidden tests use: dependency graphs, as the JSON
descriptions the lesson's probes (``lesson03.solve_report``, ``lesson03.run_report``) build
real functions from (see the top of sandbox_probes.py). The strategies lessons share are in
``autograder.strategies``."""

from __future__ import annotations

from hypothesis import strategies as st

NODE_NAMES = ["settings", "db", "cache", "user", "perms", "audit"]


@st.composite
def dependency_graphs(draw, kinds=("sync", "async"), use_cache: bool = False, overrides: bool = False,
                      failures: bool = False) -> dict:
    """A graph description for ``lesson03``'s probes: up to six nodes, each depending on some
    earlier ones (a dependency may be asked for twice, by default or by ``Annotated``), an
    endpoint depending on some of them, one or two requests; a parameter that declares no
    dependency comes first in some signatures. ``use_cache`` adds
    ``use_cache: false`` to some dependencies; ``overrides`` replaces some nodes by earlier
    ones (never a cycle); ``failures`` lets set-ups, teardowns and the endpoint raise."""
    count = draw(st.integers(1, len(NODE_NAMES)))
    errors = st.sampled_from(["ValueError", "KeyError", "RuntimeError"])

    def deps(available: list[str], most: int) -> list[dict]:
        if not available:
            return []
        chosen = draw(st.lists(st.sampled_from(available), max_size=most))
        made = []
        for name in chosen:
            dep = {"on": name, "annotated": draw(st.booleans())}
            if use_cache and draw(st.booleans()):
                dep["use_cache"] = False
            made.append(dep)
        return made

    nodes = []
    for index in range(count):
        node = {"name": NODE_NAMES[index], "kind": draw(st.sampled_from(list(kinds))),
                "deps": deps(NODE_NAMES[:index], 3), "plain": draw(st.integers(0, 1))}
        if failures and draw(st.integers(0, 5)) == 0:
            node["raises"] = draw(errors)
        if failures and node["kind"].endswith("_gen") and draw(st.integers(0, 4)) == 0:
            node["teardown_raises"] = draw(errors)
        nodes.append(node)
    graph = {"nodes": nodes, "endpoint": {"deps": deps(NODE_NAMES[:count], 4), "plain": draw(st.integers(0, 1))},
             "requests": draw(st.integers(1, 2))}
    if failures and draw(st.integers(0, 3)) == 0:
        graph["endpoint"]["raises"] = draw(errors)
    if overrides and count > 1 and draw(st.booleans()):
        replaced = draw(st.lists(st.integers(1, count - 1), max_size=2, unique=True))
        graph["overrides"] = {NODE_NAMES[index]: NODE_NAMES[draw(st.integers(0, index - 1))] for index in replaced}
    return graph
