"""The service's database, through SQLAlchemy's async engine: who may submit, what was
submitted, and each submission's fate.

A submission is a row from the moment it is accepted to the end: the web app commits it before
it answers ``202``, so an accepted notebook survives any process being killed after that. The
queue only carries ids; the row is the truth (the outbox pattern of lesson 05), so a lost or
duplicated message costs nothing:

- a worker **claims** a row before grading it, in one conditional UPDATE: ``queued`` rows, and
  ``running`` rows whose lease ran out (their worker died), can be claimed; a claimed row's
  worker renews its lease while it grades. Two claims of one row at once: on SQLite the
  second waits for the database's write lock, on PostgreSQL (read committed) for the row's
  lock, and then evaluates its condition on the row as the first committed it, so it claims
  nothing. No ``FOR UPDATE SKIP LOCKED``: the queue, not the database, picks which row a
  worker takes;
- a worker **finishes** a row only while its claim still stands, so one result is written per
  grading round however many copies of the message were delivered (``gradings`` counts them);
- an upload with an ``Idempotency-Key`` the learner used before is the same submission, and
  a learner over the rate limit stores nothing: both are decided in the transaction that
  inserts, under a lock on the learner's row, so racing uploads cannot both pass a check
  (and a unique constraint on the key stands behind it).
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    CursorResult,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, defer, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry, NullPool
from sqlalchemy.sql.dml import Update

# done: graded (a score); failed: the notebook stopped its worker too often; error: not graded,
# the grader failed on its own side (``types.GRADER_ERROR``): no score, kept to be graded again.
STATUSES = ("queued", "running", "done", "failed", "error")
FINISHED = ("done", "failed", "error")


# Longer keys are refused (``KeyTooLong``) before they reach the column: a UUID is 36 characters.
MAX_KEY_LENGTH = 200


class Base(DeclarativeBase):
    pass


class Learner(Base):
    __tablename__ = "learners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    instructor: Mapped[bool] = mapped_column(Boolean, default=False)


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("learner_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id"), index=True)
    lesson: Mapped[str] = mapped_column(String(100), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(MAX_KEY_LENGTH))
    notebook: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    enqueued_at: Mapped[float | None] = mapped_column(Float)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    graded_at: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # claims this round: more than one when a worker died
    gradings: Mapped[int] = mapped_column(Integer, default=0)  # results written
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    result: Mapped[str | None] = mapped_column(Text)  # the JSON document `autograder grade` writes
    feedback: Mapped[str | None] = mapped_column(Text)  # the feedback file `autograder grade` writes


class Suite(Base):
    """Which version of a lesson's hidden suite the workers grade with: a regrade bumps it, so
    each worker reads the suite again before its next submission of that lesson."""

    __tablename__ = "suites"

    lesson: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


WITHOUT_NOTEBOOK = defer(Submission.notebook, raiseload=True)  # reading it anyway raises, rather than loading it


class Claim(enum.Enum):
    CLAIMED = "claimed"
    FINISHED = "finished"  # graded already: nothing to do
    HELD = "held"  # another worker holds a live lease on it
    GONE = "gone"


@dataclass(frozen=True)
class Timing:
    """A submission's times, as the queue's statistics need them (``Store.timings_since``)."""

    created_at: float
    graded_at: float | None
    status: str
    gradings: int  # more than one: regraded, so graded_at is not when its learner got feedback


@dataclass(frozen=True)
class Accepted:
    submission: Submission
    created: bool  # False: an upload retried with the same idempotency key


@dataclass(frozen=True)
class KeyConflict:
    """Refused: the idempotency key named an earlier submission of a different notebook."""

    first: str  # that submission's id


@dataclass(frozen=True)
class Limited:
    """Refused: too many submissions in the last minute; one more fits in ``retry_after`` s."""

    retry_after: float


RATE_WINDOW = 60.0  # seconds: the limit is on submissions per minute


async def changed(session: AsyncSession, statement: Update) -> int:
    """The rows an UPDATE changed. (Its result is a CursorResult, which holds the count; Session.execute
    is typed for SELECTs.)"""
    result = cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount


def new_id() -> str:
    return uuid.uuid4().hex


def engine_for(url: str, *, pooled: bool = True) -> AsyncEngine:
    """The async engine for ``url``. SQLite gets WAL (readers never wait for the writer) and
    a busy timeout (writers queue instead of failing); a worker asks for no pool (``pooled=False``)
    because it opens its connections from a fresh event loop per job."""
    sqlite = url.startswith("sqlite")
    options = {"connect_args": {"timeout": 30}} if sqlite else {}
    engine = create_async_engine(url, **options, **({} if pooled else {"poolclass": NullPool}))
    if sqlite:

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # committed means on disk, before the 202
            cursor.close()

    return engine


class Store:
    """Every query the service makes, one method each."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.session = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def connect(cls, url: str, *, pooled: bool = True) -> Store:
        return cls(engine_for(url, pooled=pooled))

    async def create_tables(self) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    # learners

    async def add_learner(self, name: str, token_hash: str, instructor: bool) -> Learner:
        """Add a learner, or give one already there a new token (the old one stops working)."""
        async with self.session.begin() as session:
            learner = (await session.execute(select(Learner).where(Learner.name == name))).scalar_one_or_none()
            if learner is None:
                learner = Learner(name=name, token_hash=token_hash, instructor=instructor)
                session.add(learner)
            else:
                learner.token_hash, learner.instructor = token_hash, instructor
        return learner

    async def learner_by_token(self, token_hash: str) -> Learner | None:
        async with self.session() as session:
            return (await session.execute(select(Learner).where(Learner.token_hash == token_hash))).scalar_one_or_none()

    async def learner_name(self, learner_id: int) -> str:
        async with self.session() as session:
            return (await session.execute(select(Learner.name).where(Learner.id == learner_id))).scalar_one()

    async def learners(self) -> dict[int, str]:
        async with self.session() as session:
            return dict((await session.execute(select(Learner.id, Learner.name))).all())

    # submissions, as the web app sees them

    async def accept(
        self, learner: Learner, lesson: str, notebook: bytes, key: str | None, *, per_minute: int
    ) -> Accepted | KeyConflict | Limited:
        """Store a submission (committed when this returns), or find the one an earlier upload
        with this idempotency key made, or refuse: the key was used for a different notebook, or the
        learner made ``per_minute`` in the last minute.

        Atomic on SQLite and PostgreSQL alike. The transaction's first statement writes the
        learner's row (changing nothing), which takes a lock held to the commit: that row's on
        PostgreSQL, the database's write lock on SQLite. So one learner's concurrent uploads
        look up the key, count and insert one after another, and each sees what the ones before
        it committed; a count in one transaction and an insert in another would let them all pass."""
        async with self.session.begin() as session:
            await session.execute(update(Learner).where(Learner.id == learner.id).values(instructor=Learner.instructor))
            now = time.time()  # read under the lock: the uploads before this one were made earlier
            if key:
                found = (
                    await session.execute(
                        select(Submission).where(Submission.learner_id == learner.id, Submission.idempotency_key == key)
                    )
                ).scalar_one_or_none()
                if found is not None and found.notebook != notebook:  # not a retry: a second use of a key
                    return KeyConflict(found.id)
                if found is not None:  # a retry is the same submission, whatever the count
                    return Accepted(found, False)
            recent = list(
                (
                    await session.execute(
                        select(Submission.created_at)
                        .where(Submission.learner_id == learner.id, Submission.created_at > now - RATE_WINDOW)
                        .order_by(Submission.created_at)
                    )
                ).scalars()
            )
            if len(recent) >= per_minute:  # one more fits once the oldest that keeps it full leaves the window
                return Limited(recent[len(recent) - per_minute] + RATE_WINDOW - now)
            submission = Submission(
                id=new_id(),
                learner_id=learner.id,
                lesson=lesson,
                idempotency_key=key,
                notebook=notebook,
                status="queued",
                created_at=now,
                attempts=0,
                gradings=0,
            )
            session.add(submission)
        return Accepted(submission, True)

    async def mark_enqueued(self, ids: list[str]) -> None:
        async with self.session.begin() as session:
            await session.execute(update(Submission).where(Submission.id.in_(ids)).values(enqueued_at=time.time()))

    async def get(self, submission_id: str) -> Submission | None:
        async with self.session() as session:
            return await session.get(Submission, submission_id)

    async def ahead_of(self, submission: Submission) -> int:
        """How many queued submissions were made before this one."""
        async with self.session() as session:
            query = select(func.count()).where(
                Submission.status == "queued", Submission.created_at < submission.created_at
            )
            return (await session.execute(query)).scalar_one()

    async def unfinished(self, *, queued_before: float, now: float) -> list[str]:
        """What the sweeper sends again: queued rows enqueued before ``queued_before`` (or
        never), and running rows whose worker stopped renewing its lease."""
        async with self.session() as session:
            query = (
                select(Submission.id)
                .where(
                    or_(
                        (Submission.status == "queued")
                        & or_(Submission.enqueued_at.is_(None), Submission.enqueued_at < queued_before),
                        (Submission.status == "running") & (Submission.lease_until < now),
                    )
                )
                .order_by(Submission.created_at)
            )
            return list((await session.execute(query)).scalars())

    # submissions, as a worker sees them

    async def claim(self, submission_id: str, worker: str, lease_seconds: float) -> Claim:
        now = time.time()
        async with self.session.begin() as session:
            claimed = await changed(
                session,
                update(Submission)
                .where(
                    Submission.id == submission_id,
                    or_(
                        Submission.status == "queued", (Submission.status == "running") & (Submission.lease_until < now)
                    ),
                )
                .values(
                    status="running",
                    claimed_by=worker,
                    lease_until=now + lease_seconds,
                    started_at=now,
                    attempts=Submission.attempts + 1,
                ),
            )
            if claimed == 1:
                return Claim.CLAIMED
            status = (await session.execute(select(Submission.status).where(Submission.id == submission_id))).scalar()
        if status is None:
            return Claim.GONE
        return Claim.FINISHED if status in FINISHED else Claim.HELD

    async def renew(self, submission_id: str, worker: str, lease_seconds: float) -> bool:
        async with self.session.begin() as session:
            renewed = await changed(
                session,
                update(Submission)
                .where(Submission.id == submission_id, Submission.claimed_by == worker, Submission.status == "running")
                .values(lease_until=time.time() + lease_seconds),
            )
            return renewed == 1

    async def finish(
        self,
        submission_id: str,
        worker: str,
        *,
        status: str,
        score: float | None,
        max_score: float,
        result: str,
        feedback: str,
    ) -> bool:
        """Write the result, if this worker's claim still stands; return whether it did."""
        async with self.session.begin() as session:
            written = await changed(
                session,
                update(Submission)
                .where(Submission.id == submission_id, Submission.claimed_by == worker, Submission.status == "running")
                .values(
                    status=status,
                    score=score,
                    max_score=max_score,
                    result=result,
                    feedback=feedback,
                    graded_at=time.time(),
                    lease_until=None,
                    gradings=Submission.gradings + 1,
                ),
            )
            return written == 1

    # the class, as the instructor sees it

    # What the instructor's views read leaves the notebooks out (``WITHOUT_NOTEBOOK``): some
    # 100 KB each, and a class view would otherwise load every one of the class's.

    async def latest(self, lesson: str | None = None) -> list[Submission]:
        """Each learner's latest graded submission per lesson."""
        async with self.session() as session:
            newest = (
                select(Submission.learner_id, Submission.lesson, func.max(Submission.created_at).label("at"))
                .where(Submission.status == "done")
                .group_by(Submission.learner_id, Submission.lesson)
                .subquery()
            )
            query = select(Submission).join(
                newest,
                (Submission.learner_id == newest.c.learner_id)
                & (Submission.lesson == newest.c.lesson)
                & (Submission.created_at == newest.c.at),
            )
            if lesson:
                query = query.where(Submission.lesson == lesson)
            return list((await session.execute(query.options(WITHOUT_NOTEBOOK).order_by(Submission.lesson))).scalars())

    async def history(self, learner_id: int) -> list[Submission]:
        """Every submission of one learner, newest first, whatever its status."""
        async with self.session() as session:
            query = (
                select(Submission)
                .where(Submission.learner_id == learner_id)
                .options(WITHOUT_NOTEBOOK)
                .order_by(Submission.created_at.desc())
            )
            return list((await session.execute(query)).scalars())

    async def timings_since(self, at: float) -> list[Timing]:
        """When each submission uploaded at ``at`` or later was uploaded and graded, oldest
        first (the queue's recent past): these columns alone, since a deadline week of a large
        course is tens of thousands of rows."""
        async with self.session() as session:
            query = (
                select(Submission.created_at, Submission.graded_at, Submission.status, Submission.gradings)
                .where(Submission.created_at >= at)
                .order_by(Submission.created_at)
            )
            return [Timing(*row) for row in (await session.execute(query)).all()]

    async def grader_errors(self) -> list[Submission]:
        """The submissions not graded because the grader failed (status ``error``), newest first."""
        async with self.session() as session:
            query = (
                select(Submission)
                .where(Submission.status == "error")
                .options(WITHOUT_NOTEBOOK)
                .order_by(Submission.graded_at.desc())
            )
            return list((await session.execute(query)).scalars())

    async def retry_errors(self) -> list[str]:
        """Queue every submission the grader failed on again (the grader works again, say)."""
        async with self.session.begin() as session:
            ids = list((await session.execute(select(Submission.id).where(Submission.status == "error"))).scalars())
            await session.execute(
                update(Submission)
                .where(Submission.id.in_(ids))
                .values(status="queued", claimed_by=None, enqueued_at=None, attempts=0)
            )
        return ids

    async def counts(self) -> dict[str, int]:
        async with self.session() as session:
            rows = (await session.execute(select(Submission.status, func.count()).group_by(Submission.status))).all()
        return {status: dict(rows).get(status, 0) for status in STATUSES}

    async def regrade(self, lesson: str) -> list[str]:
        """Queue every finished submission of ``lesson`` again, with the suite as it is now."""
        async with self.session.begin() as session:
            # One UPDATE, not a read and a write: two regrades at once bump the version twice.
            bumped = await changed(
                session, update(Suite).where(Suite.lesson == lesson).values(version=Suite.version + 1)
            )
            if bumped == 0:
                session.add(Suite(lesson=lesson, version=1))
            ids = list(
                (
                    await session.execute(
                        select(Submission.id).where(Submission.lesson == lesson, Submission.status.in_(FINISHED))
                    )
                ).scalars()
            )
            await session.execute(
                update(Submission)
                .where(Submission.id.in_(ids))
                .values(status="queued", claimed_by=None, enqueued_at=None, attempts=0)
            )
        return ids

    async def suite_version(self, lesson: str) -> int:
        async with self.session() as session:
            suite = await session.get(Suite, lesson)
            return suite.version if suite else 0
