"""Hypothesis strategies only lesson 03's hidden tests use: dependency graphs, as the JSON
descriptions the lesson's probes (``lesson03.solve_report``, ``lesson03.run_report``) build
real functions from (see the top of sandbox_probes.py). The strategies lessons share are in
``autograder.strategies``."""

from __future__ import annotations

from hypothesis import strategies as st

NODE_NAMES = ["settings", "db", "cache", "user", "perms", "audit"]
# Values a dependency may return that are false, yet are values: a cache holding one has it.
FALSY = [None, 0, "", [], False]


@st.composite
def dependency_graphs(
    draw,
    kinds=("sync", "async"),
    use_cache: bool = False,
    overrides: bool = False,
    failures: bool = False,
    falsy: bool = False,
) -> dict:
    """A graph description for ``lesson03``'s probes: up to six nodes, each depending on some
    earlier ones (a dependency may be asked for twice, by default or by ``Annotated``, its
    ``Dep`` alone or after other metadata), an endpoint depending on some of them, one or two
    requests; a parameter that declares no dependency comes first in some signatures.
    ``use_cache`` adds ``use_cache: false`` to some dependencies; ``overrides`` replaces some
    nodes by earlier ones (never a cycle); ``failures`` lets set-ups, teardowns and the
    endpoint raise; ``falsy`` makes some nodes that are no generators return a false value."""
    count = draw(st.integers(1, len(NODE_NAMES)))
    errors = st.sampled_from(["ValueError", "KeyError", "RuntimeError"])

    def deps(available: list[str], most: int) -> list[dict]:
        if not available:
            return []
        chosen = draw(st.lists(st.sampled_from(available), max_size=most))
        made = []
        for name in chosen:
            dep = {"on": name, "annotated": draw(st.sampled_from([False, True, "noted"]))}
            if use_cache and draw(st.booleans()):
                dep["use_cache"] = False
            made.append(dep)
        return made

    nodes = []
    for index in range(count):
        node = {
            "name": NODE_NAMES[index],
            "kind": draw(st.sampled_from(list(kinds))),
            "deps": deps(NODE_NAMES[:index], 3),
            "plain": draw(st.integers(0, 1)),
        }
        if failures and draw(st.integers(0, 5)) == 0:
            node["raises"] = draw(errors)
        if failures and node["kind"].endswith("_gen") and draw(st.integers(0, 4)) == 0:
            node["teardown_raises"] = draw(errors)
        if falsy and node["kind"] in ("sync", "async", "async_callable") and draw(st.integers(0, 2)) == 0:
            node["returns"] = draw(st.sampled_from(FALSY))
        nodes.append(node)
    graph = {
        "nodes": nodes,
        "endpoint": {"deps": deps(NODE_NAMES[:count], 4), "plain": draw(st.integers(0, 1))},
        "requests": draw(st.integers(1, 2)),
    }
    if failures and draw(st.integers(0, 3)) == 0:
        graph["endpoint"]["raises"] = draw(errors)
    if overrides and count > 1 and draw(st.booleans()):
        replaced = draw(st.lists(st.integers(1, count - 1), max_size=2, unique=True))
        graph["overrides"] = {NODE_NAMES[index]: NODE_NAMES[draw(st.integers(0, index - 1))] for index in replaced}
    return graph


@st.composite
def solve_cases(draw, shared_cache: bool = True, **graph_options) -> dict:
    """A graph (``dependency_graphs(**graph_options)``) with how ``lesson03.solve_report`` runs
    it: the cache shared by its requests or not, and values the caller put in each request's
    cache before solving (some of them false), for some of its nodes."""
    graph = draw(dependency_graphs(**graph_options))
    names = [node["name"] for node in graph["nodes"]]
    preset = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
    values = st.sampled_from(FALSY) | st.sampled_from(["given", "by the caller"])
    return {
        "graph": graph,
        "shared_cache": draw(st.booleans()) if shared_cache else False,
        "cached": {name: draw(values) for name in preset},
    }
