"""What the service prints of a URL: never its password."""

from __future__ import annotations

import pytest

from autograder.service.settings import shown


@pytest.mark.parametrize(
    ("url", "printed"),
    [
        ("redis://:s3cret-_x@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("postgresql+asyncpg://grader:pa:ss@db.example/course", "postgresql+asyncpg://grader:***@db.example/course"),
        (
            "postgresql+asyncpg://postgres@/postgres?host=/tmp/pg",
            "postgresql+asyncpg://postgres@/postgres?host=/tmp/pg",
        ),
        ("sqlite+aiosqlite:////srv/grading-service/service.db", "sqlite+aiosqlite:////srv/grading-service/service.db"),
    ],
)
def test_a_printed_url_shows_no_password(url, printed):
    assert shown(url) == printed
