"""Bearer tokens: made here, shown once, stored only as a hash.

A token is 32 random bytes (``secrets``), so a fast hash is enough: there is nothing to guess
that a slow hash would protect (slow hashes are for passwords people choose). A stolen
database gives hashes that open nothing.
"""

from __future__ import annotations

import csv
import hashlib
import secrets
from pathlib import Path

from .errors import BadRoster


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def read_roster(path: Path) -> list[tuple[str, bool]]:
    """(name, instructor) per row of a CSV with a ``name`` column and an optional
    ``instructor`` column (yes/true/1)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = [(reader.line_num, row) for row in reader]  # line numbers as an editor shows them
    except OSError as exc:
        raise BadRoster(str(path), exc.strerror or str(exc)) from None
    if not rows or "name" not in rows[0][1]:
        raise BadRoster(str(path), "it has no `name` column (the first line names the columns)")
    roster = []
    for number, row in rows:
        name = (row.get("name") or "").strip()
        if not name:
            raise BadRoster(str(path), f"line {number} has no name")
        roster.append((name, (row.get("instructor") or "").strip().lower() in ("yes", "true", "1", "y")))
    return roster
