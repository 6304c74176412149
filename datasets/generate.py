#!/usr/bin/env python3
"""Deterministic generator for the course's shared data: tenants, users, invoices.

    python datasets/generate.py                  rewrite the small, committed CSVs
    python datasets/generate.py --large          also write generated/invoices_large.csv
    python datasets/generate.py --large --rows 50000

The small set (tenants.csv, users.csv, invoices.csv) is committed; a test regenerates it and
compares bytes, so any change here must be followed by a rerun and a commit of the CSVs. The
large set is never committed: it is rebuilt on demand (by ``--large`` or by
``coursekit.data.path("invoices_large")``) into datasets/generated/.

Byte-identical output on every run and platform is the point, hence:

- every random choice comes from a ``random.Random`` with a fixed integer seed, and only
  from ``randrange``/``choice``/``getrandbits``, whose algorithms are stable across
  platforms (no floats, no ``hash()``, no set iteration, no clock, no locale);
- every value is turned into text explicitly (ints with ``str``, dates with
  ``isoformat``, booleans as ``1``/``0``); money is integer cents, so no float ever
  reaches a file;
- files are UTF-8 with ``\\n`` line endings whatever the platform.

Standard library only: this runs before, and independently of, the course's environment.
"""

from __future__ import annotations

import argparse
import csv
import os
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path
from random import Random

HERE = Path(__file__).resolve().parent
GENERATED_DIR = HERE / "generated"

USERS_SEED = 20260101
INVOICES_SEED = 20260102
SMALL_INVOICES = 400
LARGE_ROWS = 200_000

# Column order of each file; the loader and the tests rely on it.
TENANT_COLUMNS = ("id", "slug", "name", "plan")
USER_COLUMNS = ("id", "tenant_id", "email", "name", "role", "api_token", "active")
INVOICE_COLUMNS = (
    "id",
    "tenant_id",
    "user_id",
    "number",
    "customer",
    "amount_cents",
    "currency",
    "status",
    "issued_on",
    "due_on",
)

ROLES = ("admin", "member")
CURRENCIES = ("EUR", "GBP", "USD")
STATUSES = ("draft", "sent", "paid", "void")

# id, slug, name, plan, home currency, number of users.
# Umbrella is the tenant that has users but no invoices (it "just signed up").
_TENANTS = (
    (1, "acme", "Acme Corp", "enterprise", "USD", 14),
    (2, "globex", "Globex Corporation", "pro", "EUR", 12),
    (3, "initech", "Initech", "pro", "GBP", 9),
    (4, "umbrella", "Umbrella Ltd", "free", "EUR", 5),
)
TENANT_WITHOUT_INVOICES = 4

# Non-ASCII and apostrophes on purpose: they must survive CSV, SQLite and JSON untouched.
_FIRST_NAMES = (
    "Ada",
    "Alan",
    "Ana",
    "Björn",
    "Chidi",
    "Dana",
    "Émile",
    "Farah",
    "Grace",
    "Hiro",
    "Ines",
    "José",
    "Kai",
    "Lena",
    "Marta",
    "Nadia",
    "Noor",
    "Omar",
    "Priya",
    "Quinn",
    "Renée",
    "Sam",
    "Tomás",
    "Uma",
    "Victor",
    "Wen",
    "Yusuf",
    "Zoë",
)
_LAST_NAMES = (
    "Adeyemi",
    "Brandt",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Müller",
    "Nakamura",
    "Núñez",
    "O'Brien",
    "Patel",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Varga",
    "Walsh",
)

# Invoice customers. Besides accents: a comma and double quotes (CSV quoting), a CJK name
# and an ampersand (HTML escaping), so exports that hand-roll CSV or HTML get caught.
CUSTOMERS = (
    "Café Müller",
    "Zoë",
    "Smørrebrød & Co",
    "Łódź Logistics",
    "São Paulo Imports",
    "東京 Trading",
    "Crème Brûlée Ltd",
    "Jensen, Jensen & Jensen",
    'The "Good" Grocer',
    "Northwind Traders",
    "Contoso",
    "Fabrikam",
    "Tailspin Toys",
    "Wide World Importers",
    "Blue Yonder Airlines",
    "Coho Winery",
    "Adventure Works",
    "Litware",
    "Proseware",
    "Lucerne Publishing",
    "Margie's Travel",
    "Fourth Coffee",
    "Trey Research",
    "Woodgrove Bank",
    "Alpine Ski House",
    "Humongous Insurance",
    "Wingtip Toys",
    "Southridge Video",
    "Graphic Design Institute",
    "City Power & Light",
)

# Invoices are issued between these dates, in id order (issued_on never decreases with id).
FIRST_ISSUE = date(2024, 1, 1)
LAST_ISSUE = date(2026, 6, 30)
# Payment terms in days; 0 means "due on receipt", so due_on == issued_on does occur.
_TERMS = (0, 14, 14, 30, 30, 30, 45, 60)


def tenants() -> list[dict]:
    """The tenants, as dicts with the values the CSV holds (typed: ints stay ints)."""
    return [dict(zip(TENANT_COLUMNS, t[:4], strict=True)) for t in _TENANTS]


def _ascii(text: str) -> str:
    """'Zoë O'Brien' -> 'zoeobrien': accents stripped, only [a-z0-9] kept (for e-mails)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed.lower() if c.isascii() and c.isalnum())


def users() -> list[dict]:
    """Users of every tenant, ids 1..40, in tenant order.

    Per tenant, position decides the role and the edge cases (documented in README.md):
    the first user is an admin (the first two for tenants with ten or more users); in
    Acme the second-to-last user is inactive and the last one never creates an invoice;
    in Globex the last user is inactive. Names are random but unique; tokens are 128
    random bits from the seeded RNG, as 32 lowercase hex characters (fixtures, not
    secrets: real code uses ``secrets.token_hex`` and stores a hash).
    """
    rng = Random(USERS_SEED)
    result: list[dict] = []
    seen_names: set[str] = set()
    seen_tokens: set[str] = set()
    next_id = 1
    for tenant_id, slug, _name, _plan, _currency, count in _TENANTS:
        for position in range(count):
            while True:
                name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
                if name not in seen_names:
                    break
            seen_names.add(name)
            while True:
                token = f"{rng.getrandbits(128):032x}"
                if token not in seen_tokens:
                    break
            seen_tokens.add(token)
            first, last = name.split(" ", 1)
            admins = 2 if count >= 10 else 1
            inactive = (slug == "acme" and position == count - 2) or (slug == "globex" and position == count - 1)
            result.append(
                {
                    "id": next_id,
                    "tenant_id": tenant_id,
                    "email": f"{_ascii(first)}.{_ascii(last)}@{slug}.example",
                    "name": name,
                    "role": "admin" if position < admins else "member",
                    "api_token": token,
                    "active": not inactive,
                }
            )
            next_id += 1
    return result


def user_without_invoices(all_users: list[dict] | None = None) -> dict:
    """The Acme user who never creates an invoice (the last user of tenant 1)."""
    all_users = users() if all_users is None else all_users
    return [u for u in all_users if u["tenant_id"] == 1][-1]


def invoices(n: int = SMALL_INVOICES, rng: Random | None = None, all_users: list[dict] | None = None) -> Iterator[dict]:
    """Yield ``n`` invoices one at a time (a generator, so 200_000 rows cost no memory).

    Rules, the same for the small and the large set:
    - the creator is any user of tenants 1-3 except ``user_without_invoices()``
      (inactive users do have invoices: they created them while they were active);
    - issued_on spreads evenly from FIRST_ISSUE to LAST_ISSUE in id order;
      due_on = issued_on + one of _TERMS (so due_on >= issued_on, sometimes equal);
    - number is ``<SLUG>-<year of issued_on>-<sequence>``, the sequence counting per
      tenant and year from 1 and zero-padded to at least 4 digits (it simply grows wider
      past 9999 in the large set), hence unique per tenant;
    - 1 invoice in 50 has amount 0; the others are between 10.00 and 9,999.99;
    - 9 in 10 are in the tenant's home currency, the rest in another of CURRENCIES;
    - status: about 8% draft, 27% sent, 55% paid, 10% void.
    """
    rng = Random(INVOICES_SEED) if rng is None else rng
    all_users = users() if all_users is None else all_users
    skip = user_without_invoices(all_users)["id"]
    creators = [u for u in all_users if u["tenant_id"] != TENANT_WITHOUT_INVOICES and u["id"] != skip]
    by_id = {t[0]: t for t in _TENANTS}
    span = (LAST_ISSUE - FIRST_ISSUE).days
    sequences: dict[tuple[int, int], int] = {}
    for i in range(n):
        creator = rng.choice(creators)
        tenant_id = creator["tenant_id"]
        _id, slug, _name, _plan, home, _count = by_id[tenant_id]
        issued = FIRST_ISSUE + timedelta(days=(i * span) // max(n - 1, 1))
        key = (tenant_id, issued.year)
        sequences[key] = sequences.get(key, 0) + 1
        amount = 0 if rng.randrange(50) == 0 else rng.randrange(1_000, 1_000_000)
        currency = home if rng.randrange(10) else rng.choice([c for c in CURRENCIES if c != home])
        roll = rng.randrange(100)
        status = "draft" if roll < 8 else "sent" if roll < 35 else "paid" if roll < 90 else "void"
        yield {
            "id": i + 1,
            "tenant_id": tenant_id,
            "user_id": creator["id"],
            "number": f"{slug.upper()}-{issued.year}-{sequences[key]:04d}",
            "customer": rng.choice(CUSTOMERS),
            "amount_cents": amount,
            "currency": currency,
            "status": status,
            "issued_on": issued,
            "due_on": issued + timedelta(days=rng.choice(_TERMS)),
        }


def _text(value: object) -> str:
    """One explicit text form per type, so nothing depends on repr() or the locale."""
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise TypeError(f"no CSV form for {type(value).__name__}: {value!r}")


def write_csv(path: Path, columns: Iterable[str], records: Iterable[dict]) -> int:
    """Write records (streamed, one row at a time) to path; return the row count.

    newline="\\n" turns off newline translation and lineterminator="\\n" replaces the csv
    module's default "\\r\\n", so the bytes are the same on Windows. The file is written
    beside its target (under a per-process name) and renamed at the end, so an interrupted
    run never leaves a truncated file that the loader would take for a complete one.
    """
    path = Path(path)
    columns = tuple(columns)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
    count = 0
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            writer.writerow([_text(record[c]) for c in columns])
            count += 1
    os.replace(tmp, path)
    return count


def write_small(directory: Path = HERE) -> dict[str, Path]:
    """Write tenants.csv, users.csv and invoices.csv into directory; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    all_users = users()
    paths = {name: directory / f"{name}.csv" for name in ("tenants", "users", "invoices")}
    write_csv(paths["tenants"], TENANT_COLUMNS, tenants())
    write_csv(paths["users"], USER_COLUMNS, all_users)
    write_csv(paths["invoices"], INVOICE_COLUMNS, invoices(SMALL_INVOICES, all_users=all_users))
    return paths


def write_large(path: Path = GENERATED_DIR / "invoices_large.csv", rows: int = LARGE_ROWS) -> Path:
    """Stream ``rows`` invoices to path (same rules and seed as the small set)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(path, INVOICE_COLUMNS, invoices(rows))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", action="store_true", help="also write generated/invoices_large.csv (not committed)")
    parser.add_argument("--rows", type=int, default=LARGE_ROWS, help=f"rows in the large file (default {LARGE_ROWS})")
    parser.add_argument("--out", type=Path, default=HERE, help="directory for the small CSVs (default: this directory)")
    args = parser.parse_args(argv)
    for p in write_small(args.out).values():
        print(f"wrote {p}")
    if args.large:
        print(f"wrote {write_large(GENERATED_DIR / 'invoices_large.csv', args.rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
