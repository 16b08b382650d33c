"""Every disposition through the API to COMPLETED: money, credit, goods, stock (CONTRACT §3.4)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from app.db import utcnow
from app.models.catalog import Product
from app.models.orders import Order
from app.models.payments import GatewayCharge
from app.models.returns import Notice
from jobs.returns import complete_returns, deliver_notices, send_refunds
from tests.api.helpers import assert_error, order_count, stock_of
from tests.api.returns_helpers import (
    RETURNS,
    bought,
    fire,
    job_context,
    make_crew,
    open_return,
    payments_of,
    walk,
)

MONEY = ("REFUND", "STORE_CREDIT")


@pytest.fixture
def crew(session, customer):
    return make_crew(session, customer)


def gateway_refunds(session):
    session.expire_all()
    return session.scalars(select(GatewayCharge).where(GatewayCharge.kind == "refund")).all()


def finish(client, session, app, crew, return_id, disposition):
    """Take a return in PROCESSING to COMPLETED the way its disposition does."""
    if disposition in MONEY:
        ctx = job_context(app)
        send_refunds(session, utcnow(), ctx)
        assert complete_returns(session, utcnow(), ctx) == 1
        return client.get(f"{RETURNS}/{return_id}", headers=crew["customer"]).get_json()
    field = "tracking_number" if disposition == "REPLACEMENT" else "return_tracking"
    response = fire(client, crew["warehouse"], return_id, "complete", **{field: "OUT-77"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_it_refunds_the_card_once_and_then_completes(client, session, app, customer, crew):
    order, product = bought(session, app, customer, quantity=2, price_cents=2500, stock=10)
    opened = open_return(client, crew["customer"], order)
    body = walk(client, crew, opened["id"], until="process", disposition="REFUND")
    assert (body["state"], body["refund"]) == (
        "PROCESSING",
        {"status": "pending", "amount_cents": 2500, "reference": None},
    )
    ctx = job_context(app)
    calls = ctx.payments.gateway.calls
    now = utcnow()
    assert send_refunds(session, now, ctx) == 1
    assert send_refunds(session, now, ctx) == 0
    assert ctx.payments.gateway.calls == calls + 1
    settled = client.get(f"{RETURNS}/{opened['id']}", headers=crew["customer"]).get_json()
    assert settled["state"] == "PROCESSING"
    assert settled["refund"]["status"] == "succeeded"
    assert settled["refund"]["reference"].startswith("re_")
    assert complete_returns(session, now, ctx) == 1
    assert complete_returns(session, now, ctx) == 0
    done = client.get(f"{RETURNS}/{opened['id']}", headers=crew["customer"]).get_json()
    assert (done["state"], done["refund"], done["restocked"]) == (
        "COMPLETED",
        settled["refund"],
        True,
    )
    assert (done["events"][-1]["trigger"], done["events"][-1]["actor"]) == ("complete", "system")
    [refund] = gateway_refunds(session)
    assert (refund.amount_cents, refund.reference) == (2500, settled["refund"]["reference"])
    assert stock_of(session, product.id) == 9
    assert ctx.payments.gateway.calls == calls + 1


def test_it_refunds_a_partial_amount(client, session, app, customer, crew):
    order, _ = bought(session, app, customer, quantity=2, price_cents=2500)
    opened = open_return(client, crew["customer"], order, quantity=2)
    walk(client, crew, opened["id"], until="process", amount_cents=3000)
    done = finish(client, session, app, crew, opened["id"], "REFUND")
    assert (done["refund"]["amount_cents"], done["refund"]["status"]) == (3000, "succeeded")
    assert [r.amount_cents for r in gateway_refunds(session)] == [3000]


def test_it_pays_store_credit_into_the_ledger(client, session, app, customer, crew):
    order, product = bought(session, app, customer, quantity=2, price_cents=2500)
    opened = open_return(client, crew["customer"], order)
    body = walk(
        client, crew, opened["id"], until="process", disposition="STORE_CREDIT", condition="new"
    )
    assert body["refund"] == {
        "status": "succeeded",
        "amount_cents": 2500,
        "reference": "store-credit",
    }
    credit = client.get("/api/v1/store-credit", headers=crew["customer"]).get_json()
    assert credit["balance_cents"] == 2500
    [entry] = credit["entries"]
    assert (entry["amount_cents"], entry["reason"], entry["return_id"], entry["order_id"]) == (
        2500,
        "return_store_credit",
        opened["id"],
        order.id,
    )
    done = finish(client, session, app, crew, opened["id"], "STORE_CREDIT")
    assert done["state"] == "COMPLETED"
    assert gateway_refunds(session) == []
    assert stock_of(session, product.id) == 9
    again = client.get("/api/v1/store-credit", headers=crew["customer"]).get_json()
    assert again["balance_cents"] == 2500


def test_it_ships_a_zero_priced_replacement_and_takes_the_stock(
    client, session, app, customer, crew
):
    order, product = bought(session, app, customer, quantity=3, price_cents=2500, stock=10)
    opened = open_return(client, crew["customer"], order, quantity=2)
    body = walk(
        client, crew, opened["id"], until="process", disposition="REPLACEMENT", condition="used"
    )
    assert (body["team"], body["refund"], body["amount_cents"]) == ("warehouse", None, None)
    orders_before = order_count(session)
    done = fire(client, crew["warehouse"], opened["id"], "complete", tracking_number="OUT-1")
    assert done.status_code == 200
    done = done.get_json()
    assert (done["state"], done["outbound_tracking"], done["restocked"]) == (
        "COMPLETED",
        "OUT-1",
        False,
    )
    assert order_count(session) == orders_before + 1
    replacement = client.get(
        f"/api/v1/orders/{done['replacement_order_id']}", headers=crew["customer"]
    ).get_json()
    assert (replacement["status"], replacement["total_cents"]) == ("paid", 0)
    assert [
        (x["product_id"], x["quantity"], x["unit_price_cents"]) for x in replacement["lines"]
    ] == [(product.id, 2, 0)]
    assert session.get(Order, done["replacement_order_id"]).kind == "replacement"
    assert stock_of(session, product.id) == 10 - 3 - 2
    assert gateway_refunds(session) == []


def test_it_refuses_a_replacement_without_stock_and_keeps_it_processing(
    client, session, app, customer, crew
):
    order, product = bought(session, app, customer, quantity=2, stock=2)
    opened = open_return(client, crew["customer"], order)
    walk(
        client, crew, opened["id"], until="process", disposition="REPLACEMENT", condition="like_new"
    )
    version = client.get(f"{RETURNS}/{opened['id']}", headers=crew["warehouse"]).get_json()[
        "version"
    ]
    orders_before = order_count(session)
    response = fire(client, crew["warehouse"], opened["id"], "complete", tracking_number="OUT-2")
    error = assert_error(response, 409, "insufficient_stock")
    assert error["details"]["product_ids"] == [product.id]
    body = client.get(f"{RETURNS}/{opened['id']}", headers=crew["warehouse"]).get_json()
    assert (body["state"], body["version"], body["replacement_order_id"]) == (
        "PROCESSING",
        version,
        None,
    )
    assert (order_count(session), stock_of(session, product.id)) == (orders_before, 0)
    assert [t["trigger"] for t in body["available_triggers"]] == ["complete"]
    session.execute(update(Product).where(Product.id == product.id).values(stock=1))
    retried = fire(client, crew["warehouse"], opened["id"], "complete", tracking_number="OUT-2")
    assert retried.get_json()["state"] == "COMPLETED"
    assert stock_of(session, product.id) == 1  # one taken for the replacement, one restocked


@pytest.mark.parametrize("disposition", ["REPAIR", "REJECT"])
def test_it_sends_repaired_or_rejected_items_back(
    client, session, app, customer, crew, disposition
):
    order, product = bought(session, app, customer, quantity=1, stock=5)
    opened = open_return(client, crew["customer"], order)
    body = walk(
        client, crew, opened["id"], until="process", disposition=disposition, condition="new"
    )
    assert (body["team"], body["state"]) == ("warehouse", "PROCESSING")
    done = fire(client, crew["warehouse"], opened["id"], "complete", return_tracking="BACK-9")
    done = done.get_json()
    assert (done["state"], done["outbound_tracking"], done["refund"]) == (
        "COMPLETED",
        "BACK-9",
        None,
    )
    assert (done["replacement_order_id"], done["restocked"]) == (None, False)
    assert stock_of(session, product.id) == 4
    credit = client.get("/api/v1/store-credit", headers=crew["customer"]).get_json()
    assert credit["balance_cents"] == 0
    assert gateway_refunds(session) == []


@pytest.mark.parametrize(
    ("disposition", "condition", "restocked"),
    [
        ("REFUND", "new", True),
        ("REFUND", "like_new", True),
        ("REFUND", "used", False),
        ("REFUND", "damaged", False),
        ("STORE_CREDIT", "like_new", True),
        ("STORE_CREDIT", "defective", False),
        ("REPLACEMENT", "new", True),
        ("REPLACEMENT", "damaged", False),
        ("REPAIR", "like_new", False),
        ("REJECT", "new", False),
    ],
)
def test_it_restocks_only_resellable_units_of_refunds_credits_and_replacements(
    client, session, app, customer, crew, disposition, condition, restocked
):
    order, product = bought(session, app, customer, quantity=2, stock=10)
    opened = open_return(client, crew["customer"], order, quantity=2)
    walk(client, crew, opened["id"], until="process", disposition=disposition, condition=condition)
    done = finish(client, session, app, crew, opened["id"], disposition)
    assert (done["state"], done["restocked"]) == ("COMPLETED", restocked)
    taken = 2 if disposition == "REPLACEMENT" else 0
    assert stock_of(session, product.id) == 8 - taken + (2 if restocked else 0)


def test_it_tells_the_customer_when_the_return_is_complete(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    opened = open_return(client, crew["customer"], order)
    walk(client, crew, opened["id"], until="process", disposition="STORE_CREDIT")
    finish(client, session, app, crew, opened["id"], "STORE_CREDIT")
    ctx = job_context(app)
    assert deliver_notices(session, utcnow(), ctx) >= 5
    assert deliver_notices(session, utcnow(), ctx) == 0
    session.expire_all()
    subjects = session.scalars(select(Notice.subject).where(Notice.return_id == opened["id"])).all()
    assert f"Your return {opened['number']} is complete" in subjects
    assert f"Your return {opened['number']} was approved: please ship the items back" in subjects
    count = session.scalar(select(func.count()).select_from(Notice))
    assert count == len(subjects)


def test_it_leaves_payments_alone_for_goods(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    opened = open_return(client, crew["customer"], order)
    walk(client, crew, opened["id"], until="process", disposition="REPAIR")
    calls = payments_of(app).gateway.calls
    assert send_refunds(session, utcnow(), job_context(app)) == 0
    assert complete_returns(session, utcnow(), job_context(app)) == 0
    assert payments_of(app).gateway.calls == calls
