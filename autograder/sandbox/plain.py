"""Values made plain for the trip back to the grader: what JSON can carry, and no more.

Probes answer in JSON, so whatever a learner's function returns is walked here first: dicts
and other mappings (a ``sqlite3.Row`` too), lists and tuples are kept, with their items made
plain in turn; other objects become a short description, never the object itself.
"""

from __future__ import annotations

from typing import Any


def plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if callable(getattr(value, "keys", None)) and hasattr(value, "__getitem__"):  # sqlite3.Row, mappings
        try:
            return {str(key): plain(value[key]) for key in value.keys()}
        except Exception:
            pass
    return f"<{type(value).__name__}>"
