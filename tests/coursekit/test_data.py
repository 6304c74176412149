"""The shared datasets: no drift from the generator, the documented edge cases, integrity,
a deterministic and streaming large generator, and loading into async SQLite."""

from __future__ import annotations

import itertools
import json
import re
import tracemalloc
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from coursekit import data

gen = data.generator()


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def small():
    return {name: data.rows(name) for name in ("tenants", "users", "invoices")}


# --- drift ------------------------------------------------------------------------------


def test_committed_csvs_match_a_fresh_generation(tmp_path):
    fresh = gen.write_small(tmp_path)
    for name, fresh_path in fresh.items():
        committed = data.path(name).read_bytes()
        assert fresh_path.read_bytes() == committed, (
            f"datasets/{name}.csv differs from the generator's output: "
            "run `python datasets/generate.py` and commit the CSVs"
        )


def test_csv_bytes_are_utf8_with_unix_newlines():
    for name in ("tenants", "users", "invoices"):
        raw = data.path(name).read_bytes()
        raw.decode("utf-8")
        assert b"\r" not in raw and raw.endswith(b"\n")


# --- types and shape --------------------------------------------------------------------


def test_rows_are_typed(small):
    user, invoice = small["users"][0], small["invoices"][0]
    assert isinstance(user["id"], int) and isinstance(user["active"], bool)
    assert isinstance(invoice["amount_cents"], int)
    assert isinstance(invoice["issued_on"], date) and isinstance(invoice["due_on"], date)
    assert list(invoice) == list(gen.INVOICE_COLUMNS)


def test_sizes_and_value_sets(small):
    assert len(small["tenants"]) == 4
    assert len(small["users"]) == 40
    assert len(small["invoices"]) == 400
    assert {u["role"] for u in small["users"]} == {"admin", "member"}
    assert {i["status"] for i in small["invoices"]} == set(gen.STATUSES)
    assert {i["currency"] for i in small["invoices"]} <= set(gen.CURRENCIES)


# --- documented edge cases (datasets/README.md) -----------------------------------------


def test_edge_cases_exist(small):
    users, invoices = small["users"], small["invoices"]
    creators = Counter(i["user_id"] for i in invoices)
    inactive = [u for u in users if not u["active"]]
    assert [u["id"] for u in inactive] == [13, 26]
    assert all(creators[u["id"]] > 0 for u in inactive), "inactive users keep their invoices"
    assert 4 not in {i["tenant_id"] for i in invoices}, "tenant 4 (umbrella) has no invoices"
    assert any(u["tenant_id"] == 4 for u in users), "...but it has users"
    assert gen.user_without_invoices()["id"] == 14 and creators[14] == 0
    assert {"Café Müller", "Zoë", "東京 Trading"} <= {i["customer"] for i in invoices}
    assert any("," in i["customer"] for i in invoices)
    assert any('"' in i["customer"] for i in invoices)
    assert any(not u["name"].isascii() for u in users)
    assert [i["id"] for i in invoices if i["amount_cents"] == 0] == [32, 128, 147, 192, 200, 218, 378]
    suffixes = Counter(i["number"].split("-", 1)[1] for i in invoices)
    assert suffixes["2024-0001"] == 3, "the same number suffix exists in every tenant"
    assert any(i["due_on"] == i["issued_on"] for i in invoices)


# --- referential integrity --------------------------------------------------------------


def test_referential_integrity(small):
    tenant_ids = {t["id"] for t in small["tenants"]}
    user_tenant = {u["id"]: u["tenant_id"] for u in small["users"]}
    assert all(u["tenant_id"] in tenant_ids for u in small["users"])
    for i in small["invoices"]:
        assert user_tenant[i["user_id"]] == i["tenant_id"], f"invoice {i['id']}: creator of another tenant"
        assert i["due_on"] >= i["issued_on"] and i["amount_cents"] >= 0
    numbers = [(i["tenant_id"], i["number"]) for i in small["invoices"]]
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"[A-Z]+-\d{4}-\d{4,}", n) for _, n in numbers)
    tokens = [u["api_token"] for u in small["users"]]
    assert len(set(tokens)) == len(tokens)
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in tokens)
    emails = [u["email"] for u in small["users"]]
    assert len(set(emails)) == len(emails) and all(e.isascii() for e in emails)


# --- the large set ----------------------------------------------------------------------


def test_large_generator_is_deterministic(tmp_path):
    a = gen.write_large(tmp_path / "a.csv", 2_000)
    b = gen.write_large(tmp_path / "b.csv", 2_000)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes().count(b"\n") == 2_001
    assert not list(tmp_path.glob("*.partial"))


def test_large_generator_streams(tmp_path):
    # A generator of a billion rows yields its first ones at once...
    first = list(itertools.islice(gen.invoices(10**9), 3))
    assert [i["id"] for i in first] == [1, 2, 3]

    # ...and writing ten times more rows does not take ten times more memory.
    def peak(rows: int) -> int:
        tracemalloc.start()
        try:
            gen.write_large(tmp_path / f"{rows}.csv", rows)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small_peak, large_peak = peak(1_000), peak(10_000)
    assert large_peak < 2 * small_peak + 200_000, (small_peak, large_peak)


def test_large_rows_follow_the_rules(tmp_path):
    records = list(gen.invoices(5_000))
    user_tenant = {u["id"]: u["tenant_id"] for u in gen.users()}
    assert all(user_tenant[r["user_id"]] == r["tenant_id"] for r in records)
    assert len({(r["tenant_id"], r["number"]) for r in records}) == len(records)
    assert [r["issued_on"] for r in records] == sorted(r["issued_on"] for r in records)


def test_loader_generates_the_large_file_on_first_use(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "GENERATED_DIR", tmp_path / "generated")
    monkeypatch.setattr(data, "LARGE_ROWS", 500)
    p = data.path("invoices_large")
    assert p.parent == tmp_path / "generated" and p.exists()
    assert sum(1 for _ in data.iter_rows("invoices_large")) == 500


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError):
        data.path("customers")


# --- loading into SQLite ----------------------------------------------------------------


@pytest.mark.anyio
async def test_load_into_in_memory_sqlite(small):
    engine = data.create_engine()
    try:
        counts = await data.load_into(engine)
        assert counts == {"tenants": 4, "users": 40, "invoices": 400}
        # A new connection checkout still sees the data: the StaticPool keeps one database.
        async with engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(data.invoices_table))
            row = (await conn.execute(select(data.invoices_table).where(data.invoices_table.c.id == 1))).one()
        assert total == 400
        assert row._asdict() == small["invoices"][0]
    finally:
        await engine.dispose()


@pytest.mark.anyio
async def test_foreign_keys_and_uniques_are_enforced(tmp_path):
    engine = data.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'course.db'}")
    try:
        await data.load_into(engine, include=("users", "tenants"))  # order does not matter
        async with engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert await conn.scalar(select(func.count()).select_from(data.invoices_table)) == 0
        bad_user = {
            "id": 999,
            "tenant_id": 99,
            "email": "x@nowhere.example",
            "name": "X",
            "role": "member",
            "api_token": "0" * 32,
            "active": True,
        }
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            async with engine.begin() as conn:
                await conn.execute(insert(data.users_table), bad_user)
        duplicate_token = {**bad_user, "tenant_id": 1, "api_token": data.rows("users")[0]["api_token"]}
        with pytest.raises(IntegrityError, match="UNIQUE"):
            async with engine.begin() as conn:
                await conn.execute(insert(data.users_table), duplicate_token)
    finally:
        await engine.dispose()


@pytest.mark.anyio
async def test_load_into_refuses_bad_includes():
    engine = data.create_engine()
    try:
        with pytest.raises(ValueError):
            await data.load_into(engine, include=("invoices", "invoices_large"))
        with pytest.raises(ValueError):
            await data.load_into(engine, include=("customers",))
    finally:
        await engine.dispose()


# --- invoice documents --------------------------------------------------------------------


def test_invoice_documents_are_nested_json_whose_lines_add_up(small):
    documents = data.invoice_documents(450)
    assert [d["id"] for d in documents] == list(range(1, 451))
    json.dumps(documents)  # JSON-ready as they are
    for document in documents:
        row = small["invoices"][(document["id"] - 1) % 400]
        cents = sum(line["quantity"] * int(line["unit_price"].replace(".", "")) for line in document["lines"])
        assert cents == row["amount_cents"] and 1 <= len(document["lines"]) <= 3
        assert document["number"] == row["number"] and document["customer"]["name"] == row["customer"]
        assert (document["paid_on"] is not None) == (row["status"] == "paid")
        assert all(re.fullmatch(r"\d+\.\d\d", line["unit_price"]) for line in document["lines"])
    assert data.invoice_documents(3) == documents[:3]


@pytest.mark.anyio
async def test_watch_counts_what_is_lent_and_closes_what_never_came_back(tmp_path):
    engine = data.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'watched.db'}")
    lent = data.watch(engine)
    try:
        async with engine.connect() as returned:
            await returned.execute(text("SELECT 1"))
        leaked = await engine.connect()  # never closed: as a session nobody closes
        await leaked.execute(text("SELECT 1"))
        fairy = await leaked.get_raw_connection()  # the pool's own handle on it
        assert (lent.out, lent.back, lent.borrowed) == (2, 1, 1)
        assert await lent.close_borrowed() == 1
        assert not fairy.is_valid, "the connection never given back is closed (invalidated)"
        assert await lent.close_borrowed() == 0
    finally:
        await engine.dispose()
