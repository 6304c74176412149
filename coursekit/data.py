"""The course's shared data (tenants, users, invoices), for notebooks and tests.

    from coursekit import data

    data.path("invoices")             # Path of the committed CSV
    data.rows("users")                # list of dicts with Python types
    data.invoice_documents(100)       # invoices as nested JSON documents (lines, customer)
    engine = data.create_engine()     # async in-memory SQLite with foreign keys on
    await data.load_into(engine)      # tables created and filled: {"tenants": 4, ...}
    lent = data.watch(engine)         # lent.borrowed: connections out now, whenever the GC runs

The CSVs come from datasets/generate.py (see datasets/README.md for columns and edge
cases). The table definitions live here, in SQLAlchemy Core, so every lesson queries the
same schema: ``metadata``, ``tenants_table``, ``users_table``, ``invoices_table``.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import itertools
from collections.abc import Callable, Iterator
from datetime import date
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

# coursekit/ sits next to datasets/ in the repository; resolve from this file, not from the
# current directory, because notebooks run with their own folder as the working directory.
DATASETS_DIR = Path(__file__).resolve().parent.parent / "datasets"
GENERATED_DIR = DATASETS_DIR / "generated"
LARGE_ROWS = 200_000  # rows of invoices_large.csv when it has to be generated

NAMES = ("tenants", "users", "invoices", "invoices_large")
Row = dict[str, Any]  # a CSV row by column name, each value of its column's type (_CONVERTERS)

# How to turn each CSV column back into its Python type; columns not listed stay str.
_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "id": int,
    "tenant_id": int,
    "user_id": int,
    "amount_cents": int,
    "active": lambda s: s == "1",
    "issued_on": date.fromisoformat,
    "due_on": date.fromisoformat,
}


@cache
def generator() -> ModuleType:
    """datasets/generate.py as a module. datasets/ is not a package (the generator must
    run as a plain script, stdlib only), so it is imported by file path."""
    script = DATASETS_DIR / "generate.py"
    spec = importlib.util.spec_from_file_location("_course_datasets_generate", script)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {script} as a module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def path(name: str) -> Path:
    """Path of a dataset's CSV. "invoices_large" is written on first use (a few seconds for
    200_000 rows); delete datasets/generated/ to have it rebuilt."""
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    if name != "invoices_large":
        return DATASETS_DIR / f"{name}.csv"
    target = GENERATED_DIR / "invoices_large.csv"
    if not target.exists():
        generator().write_large(target, LARGE_ROWS)
    return target


def iter_rows(name: str) -> Iterator[Row]:
    """Rows of a dataset one at a time, typed: for the large file, where a list would not
    keep memory flat."""
    with open(path(name), encoding="utf-8", newline="") as f:
        for record in csv.DictReader(f):
            yield {k: _CONVERTERS.get(k, str)(v) for k, v in record.items()}


def rows(name: str) -> list[Row]:
    """All rows of a dataset, typed (ints, bools for ``active``, dates for ``*_on``)."""
    return list(iter_rows(name))


# --- invoices as nested documents ---------------------------------------------------------
# The CSV is flat; an API sends richer documents. These are built from it deterministically:
# the customer becomes an object, the amount is split into 1 to 3 lines whose quantities times
# unit prices (decimal strings) add up to it exactly, and paid invoices get a payment date.

LINE_DESCRIPTIONS = ("Consulting", "Licence", "Support", "Hosting", "Training")


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def invoice_document(row: Row, id: int | None = None) -> dict[str, Any]:
    """One invoice row as a JSON-ready document: nested customer, a list of lines with
    decimal prices, ISO dates, and optional fields that are null where they do not apply."""
    ident = row["id"] if id is None else id
    cents, count = row["amount_cents"], 1 + ident % 3
    lines, rest = [], cents
    for j in range(count - 1):
        quantity = 1 + (ident + j) % 3
        price = (cents // count) // quantity
        lines.append(
            {"description": LINE_DESCRIPTIONS[(ident + j) % 5], "quantity": quantity, "unit_price": _money(price)}
        )
        rest -= price * quantity
    lines.append({"description": LINE_DESCRIPTIONS[(ident + count) % 5], "quantity": 1, "unit_price": _money(rest)})
    paid = row["status"] == "paid"
    return {
        "id": ident,
        "number": row["number"],
        "customer": {"name": row["customer"], "email": None},
        "currency": row["currency"],
        "status": row["status"],
        "issued_on": row["issued_on"].isoformat(),
        "due_on": row["due_on"].isoformat(),
        "lines": lines,
        "paid_on": row["due_on"].isoformat() if paid else None,
        "note": "paid late" if paid and ident % 7 == 0 else None,
    }


def invoice_documents(count: int) -> list[dict[str, Any]]:
    """``count`` invoice documents: the 400 invoices in order, then again with new ids
    (401, 402, ...) for as long as needed, so any payload size can be made."""
    source = rows("invoices")
    return [invoice_document(source[i % len(source)], id=i + 1) for i in range(count)]


# --- schema -----------------------------------------------------------------------------
# Money is integer cents (exact; no float rounding). Dates use SQLAlchemy's Date, which
# SQLite stores as ISO text and hands back as datetime.date. The constraints make the
# database, not only the application, refuse the bad rows lessons try to insert.

metadata = MetaData()

tenants_table = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("plan", String(20), nullable=False),
)

users_table = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("api_token", String(32), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, default=True),
    CheckConstraint("role IN ('admin', 'member')", name="ck_users_role"),
)

invoices_table = Table(
    "invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("number", String(40), nullable=False),
    Column("customer", String(200), nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(10), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    # Numbers restart per tenant, so only the pair is unique; it also indexes tenant_id.
    UniqueConstraint("tenant_id", "number", name="uq_invoices_tenant_number"),
    CheckConstraint("amount_cents >= 0", name="ck_invoices_amount"),
    CheckConstraint("status IN ('draft', 'sent', 'paid', 'void')", name="ck_invoices_status"),
    CheckConstraint("due_on >= issued_on", name="ck_invoices_due"),
)

_TABLES = {"tenants": tenants_table, "users": users_table, "invoices": invoices_table, "invoices_large": invoices_table}


# --- engine and loading -----------------------------------------------------------------


def _foreign_keys_on(dbapi_connection: DBAPIConnection, _connection_record: ConnectionPoolEntry) -> None:
    # SQLite ignores FOREIGN KEY clauses unless this pragma is set, per connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str = "sqlite+aiosqlite:///:memory:", **kwargs: Any) -> AsyncEngine:
    """An AsyncEngine for SQLite that enforces foreign keys on every connection.

    An in-memory SQLite database lives inside one connection and vanishes with it: with a
    pool of several connections, each session would see its own empty database. So for
    ":memory:" URLs the engine gets a StaticPool, which hands the same single connection to
    every session (SQLAlchemy picks it by default today; saying it keeps it so). The price:
    sessions share that connection, so they are not isolated from each other; use a file
    URL (``sqlite+aiosqlite:///path/to.db``) when a lesson needs real concurrency.
    """
    parsed = make_url(url)
    in_memory = parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
    if in_memory and "poolclass" not in kwargs:
        kwargs["poolclass"] = StaticPool
    engine = create_async_engine(url, **kwargs)
    # Events are registered on the sync engine underneath; "connect" fires once per new
    # DBAPI connection, before the pool hands it out.
    event.listen(engine.sync_engine, "connect", _foreign_keys_on)
    return engine


class BorrowedConnections:
    """Counts the connections an engine's pool hands out and gets back, from its making on:
    ``borrowed`` is how many are out now. ``watch(engine)`` makes one.

    Every connection handed out is also held here, and that is what makes the count true: an
    unclosed session sits in reference cycles, and when the garbage collector reclaims it,
    SQLAlchemy gives its connection back behind the app's back (with a warning). Without the
    hold, a leaked connection would be counted or not depending on when the collector ran;
    with it, a connection the app never gave back stays counted, whenever the collector runs."""

    def __init__(self, engine: Any) -> None:
        self.out = self.back = 0
        self._held: list[Any] = []
        self._lent: dict[int, Any] = {}  # id(pool record) -> the connection lent, not given back yet
        pool = getattr(engine, "sync_engine", engine).pool
        event.listen(pool, "checkout", self._checked_out)
        event.listen(pool, "checkin", self._checked_in)

    def _checked_out(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        self.out += 1
        self._held.append(proxy)
        self._lent[id(record)] = proxy

    def _checked_in(self, dbapi_connection: Any, record: Any) -> None:
        self.back += 1
        self._lent.pop(id(record), None)

    @property
    def borrowed(self) -> int:
        return self.out - self.back

    async def close_borrowed(self) -> int:
        """Close the connections lent and never given back, and answer how many there were.

        Housekeeping after a count, never part of it: an aiosqlite connection runs in a thread of
        its own, and one an app leaked would keep its thread (and the held connection) until the
        process ends. Invalidating closes the DBAPI connection, which ends the thread."""
        from sqlalchemy.util import greenlet_spawn

        leaked = list(self._lent.values())
        self._lent.clear()
        for connection in leaked:
            with contextlib.suppress(Exception):
                await greenlet_spawn(connection.invalidate)
        return len(leaked)


def watch(engine: Any) -> BorrowedConnections:
    """Count the connections ``engine`` (async or not) lends from now on: see ``BorrowedConnections``."""
    return BorrowedConnections(engine)


async def load_into(
    engine: AsyncEngine, *, include: tuple[str, ...] = ("tenants", "users", "invoices"), batch: int = 10_000
) -> dict[str, int]:
    """Create all tables (if missing) and insert the named datasets; return row counts.

    Datasets go in dependency order (tenants, users, invoices) whatever the order given,
    in one transaction. "invoices_large" fills the same invoices table as "invoices" (so
    the two exclude each other) and is inserted in batches, never held whole in memory.
    """
    unknown = set(include) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown dataset(s) {sorted(unknown)}; choose from {', '.join(NAMES)}")
    if "invoices" in include and "invoices_large" in include:
        raise ValueError("'invoices' and 'invoices_large' fill the same table; pick one")
    counts: dict[str, int] = {}
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        for name in (n for n in NAMES if n in include):
            stream, counts[name] = iter_rows(name), 0
            while chunk := list(itertools.islice(stream, batch)):
                await conn.execute(_TABLES[name].insert(), chunk)
                counts[name] += len(chunk)
    return counts
