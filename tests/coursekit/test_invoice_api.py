"""The invoices API lesson 07 tests: each promise of its documentation, checked once."""

import httpx
import pytest
from asgi_lifespan import LifespanManager

from coursekit.invoice_api import RecordingNotifier, get_notifier, make_invoice_app, with_recorder

pytestmark = pytest.mark.anyio
ALICE = {"Authorization": "Bearer alice-token"}
BOB = {"Authorization": "Bearer bob-token"}
LINE = {"description": "x", "quantity": 3, "unit_cents": 250}


class Recorder:
    def __init__(self):
        self.sent = []

    async def paid(self, invoice):
        self.sent.append(invoice)


@pytest.fixture
async def api():
    app = make_invoice_app()
    recorder = Recorder()
    app.dependency_overrides[get_notifier] = lambda: recorder
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as client:
            yield client, recorder


async def test_the_promises(api):
    client, recorder = api
    assert (await client.get("/invoices")).status_code == 401
    for header in ("alice-token", "Token alice-token", "Bearer nope", "Bearer "):  # "Bearer <token>" or 401
        assert (await client.get("/invoices", headers={"Authorization": header})).status_code == 401, header
    created = await client.post("/invoices", headers=ALICE, json={"customer": "c", "lines": [LINE, LINE]})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "owner": "alice", "customer": "c", "total_cents": 1500, "status": "open"}
    for lines in ([], [{**LINE, "quantity": 0}], [{**LINE, "unit_cents": -1}]):
        assert (
            await client.post("/invoices", headers=ALICE, json={"customer": "c", "lines": lines})
        ).status_code == 422
    assert (await client.get("/invoices/1", headers=BOB)).status_code == 404
    second = (await client.post("/invoices", headers=ALICE, json={"customer": "d", "lines": [LINE]})).json()
    assert (await client.post("/invoices/1/pay", headers=ALICE)).json()["status"] == "paid"
    assert (await client.post("/invoices/1/pay", headers=ALICE)).status_code == 409
    assert (await client.post("/invoices/1/pay", headers=BOB)).status_code == 404
    assert [sent["id"] for sent in recorder.sent] == [1]
    listed = (await client.get("/invoices", params={"status": "open"}, headers=ALICE)).json()
    assert listed == [second]
    assert len((await client.get("/invoices", headers=ALICE)).json()) == 2
    assert (await client.get("/invoices", headers=BOB)).json() == []


async def test_with_recorder_is_what_paying_needs_in_a_test():
    """The real notifier calls a host that does not exist here: paying answers 500 without the
    override, 200 with it (what lesson 07's learner tests are run against)."""
    answers = {}
    for name, app in (("real", make_invoice_app()), ("recorded", with_recorder(make_invoice_app()))):
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                await client.post("/invoices", headers=ALICE, json={"customer": "c", "lines": [LINE]})
                answers[name] = (await client.post("/invoices/1/pay", headers=ALICE)).status_code
    assert answers == {"real": 500, "recorded": 200}
    assert with_recorder(make_invoice_app()).dependency_overrides[get_notifier] is RecordingNotifier
