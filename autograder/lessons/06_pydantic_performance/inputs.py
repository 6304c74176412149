"""Hypothesis strategies only lesson 06's hidden tests use: valid JSON documents with a few
keys changed or removed, the shape of most mistakes in a model's rules. The strategies
lessons share are in ``autograder.strategies``."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# An edit is ["put", path, value], ["drop", path]; a path is a list of keys and indexes.


def edits(places: list[list], values: st.SearchStrategy, most: int = 3) -> st.SearchStrategy[list]:
    """Up to ``most`` edits, each at one of ``places``: the value put there drawn from ``values``."""
    place = st.sampled_from(places)
    one = st.tuples(st.just("put"), place, values).map(list) | st.tuples(st.just("drop"), place).map(list)
    return st.lists(one, max_size=most)


def edited(document: Any, changes: list) -> Any:
    """A copy of ``document`` with ``changes`` made; an edit whose place is gone is skipped."""
    import copy

    changed = copy.deepcopy(document)
    for change in changes:
        *way, last = change[1]
        target = changed
        try:
            for key in way:
                target = target[key]
            if change[0] == "put":
                target[last] = change[2]
            else:
                del target[last]
        except (KeyError, IndexError, TypeError):
            continue
    return changed


def shown_edits(changes: list, what: str = "a valid document") -> str:
    """The edits in words, long texts shortened: ``what`` with `customer.name` set to '' ..."""

    def value(shown: Any) -> str:
        if isinstance(shown, str) and len(shown) > 20 and len(set(shown)) == 1:
            return f"{shown[0]!r} * {len(shown)}"
        return repr(shown)

    def place(path: list) -> str:
        return ".".join(str(key) for key in path)

    said = [
        f"`{place(change[1])}` set to {value(change[2])}" if change[0] == "put" else f"`{place(change[1])}` removed"
        for change in changes
    ]
    return what + (" with " + "; ".join(said) if said else ", unchanged")
