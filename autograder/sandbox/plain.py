"""Values made plain for the trip back to the grader: what JSON can carry, and no more.

Probes answer in JSON, so whatever a learner's function returns is walked here first: dicts
and other mappings (a ``sqlite3.Row`` too), lists and tuples are kept, with their items made
plain in turn; bytes travel as they are (the protocol tags them); any other object becomes a
description, never the object itself: by default a short ``"<Type>"``, or, with
``opaque=described``, its type name and repr.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any


def short(value: Any) -> str:
    return f"<{type(value).__name__}>"


def described(value: Any) -> dict[str, Any]:
    return {"$type": type(value).__name__, "$repr": repr(value)[:200]}


def plain(value: Any, opaque: Callable[[Any], Any] = short) -> Any:
    if value is None or isinstance(value, (str, int, float, bool, bytes)):
        return value
    if isinstance(value, dict):
        return {str(key): plain(item, opaque) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item, opaque) for item in value]
    if callable(getattr(value, "keys", None)) and hasattr(value, "__getitem__"):  # sqlite3.Row, mappings
        with contextlib.suppress(Exception):  # keys() that lie: shown as the opaque value they are
            return {str(key): plain(value[key], opaque) for key in value.keys()}
    return opaque(value)
