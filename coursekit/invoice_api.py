"""The small invoices API lesson 07 tests: SQLAlchemy's async engine, auth, an outbound call.

``make_invoice_app(database_url)`` builds it. What it promises (the lesson's exercises test
exactly this):

- every route needs ``Authorization: Bearer <token>`` with a token of ``TOKENS``; else 401 (a
  token without the ``Bearer `` before it too);
- ``POST /invoices`` with ``{"customer": str, "lines": [{"description": str, "quantity": int,
  "unit_cents": int}, ...]}`` creates an open invoice owned by the caller: 201 and the invoice
  ``{"id", "owner", "customer", "total_cents", "status": "open"}``, where ``total_cents`` is the
  sum of quantity x unit_cents over the lines. At least one line, quantity >= 1 and
  unit_cents >= 0, else 422;
- ``GET /invoices/{id}``: the caller's own invoice, 200; anyone else's, or none, 404;
- ``GET /invoices?status=open|paid``: the caller's invoices (only those with that status
  when ``status`` is given), oldest first;
- ``POST /invoices/{id}/pay``: marks the caller's open invoice paid (200, the invoice) and
  tells the payments service through ``get_notifier``; an invoice already paid answers 409,
  one that is not the caller's 404.

The database comes from the lifespan (an engine made at start-up, disposed at shutdown) and
reaches routes through the ``get_session`` dependency, one session per request, committed by
the routes that write: so a test can swap the session for one inside a transaction it rolls
back. ``get_notifier`` talks to a real service on the network, which is why tests override it
(``with_recorder(app)`` does, with a ``RecordingNotifier``: there is no payments service here,
and paying an invoice with the real notifier answers 500).

``Rules`` holds the business rules as small methods; the app asks them. (The grader builds
variants of this app with one rule broken, to see whether a learner's tests notice.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

import httpx
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from pydantic import BaseModel
from sqlalchemy import Column, CursorResult, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

TOKENS = {"alice-token": "alice", "bob-token": "bob"}
PAYMENTS_URL = "https://payments.invalid/notify"  # .invalid never resolves: nothing leaves in a test

metadata = MetaData()
invoices = Table(
    "api_invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner", String(40), nullable=False),
    Column("customer", String(200), nullable=False),
    Column("total_cents", Integer, nullable=False),
    Column("status", String(10), nullable=False),
)
Invoice = dict[str, Any]  # a row of the table by column name: what the routes answer


class Line(BaseModel):
    description: str
    quantity: int
    unit_cents: int


class NewInvoice(BaseModel):
    customer: str
    lines: list[Line]


class Rules:
    """The rules the routes ask; each is one line, so a broken one is one small change."""

    def user_for(self, authorization: str | None) -> str | None:
        """The user an ``Authorization`` header names: ``Bearer <token>`` with a known token."""
        scheme, _, token = (authorization or "").partition(" ")
        return TOKENS.get(token) if scheme == "Bearer" else None

    def line_total(self, line: Line) -> int:
        return line.quantity * line.unit_cents

    def acceptable(self, invoice: NewInvoice) -> bool:
        return bool(invoice.lines) and all(line.quantity >= 1 and line.unit_cents >= 0 for line in invoice.lines)

    def visible_to(self, owner: str, user: str) -> bool:
        return owner == user

    def matches(self, status: str, wanted: str | None) -> bool:
        return wanted is None or status == wanted

    def payable(self, status: str) -> bool:
        return status == "open"


class Notifier:
    """Tells the payments service that an invoice was paid (a real HTTP call, to a host that
    does not exist here: paying answers 500 until a test overrides ``get_notifier``)."""

    async def paid(self, invoice: Invoice) -> None:
        async with httpx.AsyncClient(timeout=2.0) as http:
            await http.post(PAYMENTS_URL, json=invoice)


def get_notifier() -> Notifier:
    return Notifier()


class RecordingNotifier:
    """A stand-in for the payments service: it keeps what it was told instead of calling out."""

    def __init__(self) -> None:
        self.sent: list[Invoice] = []

    async def paid(self, invoice: Invoice) -> None:
        self.sent.append(invoice)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


def get_rules(request: Request) -> Rules:
    rules: Rules = request.app.state.rules
    return rules


def current_user(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The caller, from their bearer token (what a test overrides to act as someone)."""
    user = get_rules(request).user_for(authorization)
    if user is None:
        raise HTTPException(401, "a valid bearer token is needed")
    return user


User = Annotated[str, Depends(current_user)]
Session = Annotated[AsyncSession, Depends(get_session)]
CurrentRules = Annotated[Rules, Depends(get_rules)]
router = APIRouter()


async def find(session: AsyncSession, rules: Rules, invoice_id: int, user: str) -> Invoice:
    row = (await session.execute(select(invoices).where(invoices.c.id == invoice_id))).mappings().first()
    if row is None or not rules.visible_to(row["owner"], user):
        raise HTTPException(404, "no such invoice")
    return dict(row)


@router.post("/invoices", status_code=201)
async def create_invoice(body: NewInvoice, user: User, session: Session, rules: CurrentRules) -> Invoice:
    if not rules.acceptable(body):
        raise HTTPException(422, "an invoice needs lines, each with quantity >= 1 and unit_cents >= 0")
    values = {
        "owner": user,
        "customer": body.customer,
        "status": "open",
        "total_cents": sum(rules.line_total(line) for line in body.lines),
    }
    # An INSERT's result is a CursorResult (its primary key); Session.execute is typed for SELECTs.
    result = cast(CursorResult[Any], await session.execute(insert(invoices).values(**values)))
    await session.commit()
    key = result.inserted_primary_key
    assert key is not None, "one row was inserted, so it has a key"  # None is for executemany()
    return {"id": key[0], **values}


@router.get("/invoices/{invoice_id}")
async def read_invoice(invoice_id: int, user: User, session: Session, rules: CurrentRules) -> Invoice:
    return await find(session, rules, invoice_id, user)


@router.get("/invoices")
async def list_invoices(user: User, session: Session, rules: CurrentRules, status: str | None = None) -> list[Invoice]:
    rows = (await session.execute(select(invoices).order_by(invoices.c.id))).mappings().all()
    return [dict(row) for row in rows if rules.visible_to(row["owner"], user) and rules.matches(row["status"], status)]


@router.post("/invoices/{invoice_id}/pay")
async def pay_invoice(
    invoice_id: int,
    user: User,
    session: Session,
    rules: CurrentRules,
    notifier: Annotated[Notifier, Depends(get_notifier)],
) -> Invoice:
    invoice = await find(session, rules, invoice_id, user)
    if not rules.payable(invoice["status"]):
        raise HTTPException(409, "this invoice is already paid")
    await session.execute(update(invoices).where(invoices.c.id == invoice_id).values(status="paid"))
    await session.commit()
    invoice["status"] = "paid"
    await notifier.paid(invoice)
    return invoice


def make_engine(database_url: str) -> AsyncEngine:
    """An async engine; an in-memory SQLite one keeps a single connection, or every
    connection would see a database of its own."""
    if database_url.startswith("sqlite") and (":memory:" in database_url or database_url.endswith("://")):
        return create_async_engine(database_url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    return create_async_engine(database_url)


def make_invoice_app(database_url: str = "sqlite+aiosqlite://", rules: Rules | None = None) -> FastAPI:
    """The app; its lifespan makes the engine and the tables (see the module's docstring)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(database_url)
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan, openapi_url=None)
    app.state.rules = rules or Rules()
    app.include_router(router)
    return app


def with_recorder(app: FastAPI) -> FastAPI:
    """``app`` with ``get_notifier`` overridden by a ``RecordingNotifier`` (a new one per
    request), as section 4 of lesson 07 teaches: the app the learner's tests of its last
    exercise are run against, so that paying an invoice answers as documented."""
    app.dependency_overrides[get_notifier] = RecordingNotifier
    return app
