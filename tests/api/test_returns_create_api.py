"""POST /api/v1/returns: opening a return, eligibility and strict input (CONTRACT §3.4)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from app.db import utcnow
from app.errors import PaymentDeclined
from app.models.orders import Order
from app.models.returns import ReturnEvent, ReturnRequest
from app.services.orders import LineRequest, place_order
from tests.api.helpers import CARD_DECLINED, assert_error
from tests.api.returns_helpers import (
    RETURNS,
    bought,
    fire,
    make_crew,
    open_return,
    payments_of,
    return_body,
)
from tests.builders import make_product, set_setting

CONTRACT_KEYS = {
    "id",
    "number",
    "order_id",
    "customer_id",
    "state",
    "workflow_version",
    "version",
    "reason",
    "description",
    "lines",
    "disposition",
    "condition",
    "amount_cents",
    "refund",
    "photos",
    "events",
    "available_triggers",
}


@pytest.fixture
def crew(session, customer):
    return make_crew(session, customer)


def returns_in_db(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(ReturnRequest)) or 0


def test_it_opens_a_return_in_the_contract_shape(client, session, app, customer, crew):
    order, product = bought(session, app, customer, quantity=2, price_cents=2500)
    response = client.post(RETURNS, json=return_body(order, 2), headers=crew["customer"])
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) >= CONTRACT_KEYS
    assert (body["order_id"], body["customer_id"]) == (order.id, customer.id)
    assert (body["state"], body["version"], body["workflow_version"]) == ("VALIDATING", 2, 1)
    assert body["number"].startswith("RMA-")
    assert (body["reason"], body["description"]) == ("damaged", "the lid is cracked")
    assert body["lines"] == [
        {
            "order_line_id": order.lines[0].id,
            "product_id": product.id,
            "quantity": 2,
            "unit_price_cents": 2500,
        }
    ]
    assert (body["disposition"], body["condition"], body["amount_cents"]) == (None, None, None)
    assert (body["refund"], body["photos"]) == (None, [])
    submit, validate = body["events"]
    assert (submit["trigger"], submit["actor"], submit["from"], submit["to"]) == (
        "submit",
        "casey",
        None,
        "SUBMITTED",
    )
    assert (validate["trigger"], validate["actor"], validate["from"], validate["to"]) == (
        "validate",
        "system",
        "SUBMITTED",
        "VALIDATING",
    )
    assert datetime.fromisoformat(submit["at"]).utcoffset() == timedelta(0)
    assert [t["trigger"] for t in body["available_triggers"]] == ["cancel"]
    [note] = body["available_triggers"][0]["fields"]
    assert (note["name"], note["type"], note["required"], note["choices"]) == (
        "note",
        "text",
        False,
        [],
    )
    record = session.get(ReturnRequest, body["id"])
    assert (record.state, record.team, record.paid_cents) == ("VALIDATING", "support", 5000)
    events = session.scalars(select(ReturnEvent).where(ReturnEvent.return_id == body["id"]))
    assert [e.trigger for e in events] == ["submit", "validate"]


def test_it_refuses_a_line_that_is_not_on_the_order(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    elsewhere, _ = bought(session, app, customer)
    body = return_body(order)
    body["lines"] = [{"order_line_id": elsewhere.lines[0].id, "quantity": 1}]
    error = assert_error(
        client.post(RETURNS, json=body, headers=crew["customer"]), 422, "validation_error"
    )
    assert error["details"]["fields"] == {
        f"lines.{elsewhere.lines[0].id}": "is not a line of this order"
    }
    assert returns_in_db(session) == 0


def test_it_lets_each_unit_be_returned_only_once(client, session, app, customer, crew):
    order, _ = bought(session, app, customer, quantity=3)
    open_return(client, crew["customer"], order, quantity=2)
    too_many = client.post(RETURNS, json=return_body(order, 2), headers=crew["customer"])
    error = assert_error(too_many, 422, "validation_error")
    assert error["details"]["fields"] == {
        f"lines.{order.lines[0].id}": "only 1 of 3 can still be returned"
    }
    open_return(client, crew["customer"], order, quantity=1)
    third = client.post(RETURNS, json=return_body(order, 1), headers=crew["customer"])
    assert "only 0 of 3" in assert_error(third, 422, "validation_error")["message"]
    assert returns_in_db(session) == 2


def test_it_counts_repeated_lines_together(client, session, app, customer, crew):
    order, _ = bought(session, app, customer, quantity=2)
    body = return_body(order)
    body["lines"] = [{"order_line_id": order.lines[0].id, "quantity": 1}] * 3
    response = client.post(RETURNS, json=body, headers=crew["customer"])
    assert "only 2 of 2" in assert_error(response, 422, "validation_error")["message"]


def test_it_frees_the_units_of_a_cancelled_return(client, session, app, customer, crew):
    order, _ = bought(session, app, customer, quantity=1)
    first = open_return(client, crew["customer"], order)
    assert fire(client, crew["customer"], first["id"], "cancel").status_code == 200
    second = open_return(client, crew["customer"], order)
    assert second["id"] != first["id"]


def test_it_refuses_a_return_once_the_window_has_closed(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    set_setting(session, "return_window_days", 10)
    session.execute(
        update(Order).where(Order.id == order.id).values(created_at=utcnow() - timedelta(days=11))
    )
    error = assert_error(
        client.post(RETURNS, json=return_body(order), headers=crew["customer"]),
        422,
        "validation_error",
    )
    assert "10-day return window closed" in error["details"]["fields"]["order_id"]
    # An admin widens the window: the order qualifies again.
    set_setting(session, "return_window_days", 12)
    open_return(client, crew["customer"], order)


def test_it_uses_a_thirty_day_window_by_default(client, session, app, customer, crew):
    recent, _ = bought(session, app, customer)
    old, _ = bought(session, app, customer)
    for order, days in ((recent, 29), (old, 31)):
        session.execute(
            update(Order)
            .where(Order.id == order.id)
            .values(created_at=utcnow() - timedelta(days=days))
        )
    open_return(client, crew["customer"], recent)
    response = client.post(RETURNS, json=return_body(old), headers=crew["customer"])
    assert "30-day return window" in assert_error(response, 422, "validation_error")["message"]


def test_it_refuses_an_unknown_reason(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    response = client.post(
        RETURNS, json=return_body(order, reason="bored"), headers=crew["customer"]
    )
    error = assert_error(response, 422, "validation_error")
    assert error["details"]["fields"]["reason"].startswith("must be one of damaged, defective")


@pytest.mark.parametrize(
    "reason",
    [
        "damaged",
        "defective",
        "wrong_item",
        "not_as_described",
        "changed_mind",
        "no_longer_needed",
        "other",
    ],
)
def test_it_accepts_every_contract_reason(client, session, app, customer, crew, reason):
    order, _ = bought(session, app, customer)
    response = client.post(
        RETURNS, json=return_body(order, reason=reason), headers=crew["customer"]
    )
    assert response.status_code == 201
    assert response.get_json()["reason"] == reason


def test_it_answers_another_customers_order_exactly_like_a_missing_one(
    client, session, app, customer, crew
):
    order, _ = bought(session, app, crew.user("other"))
    theirs = client.post(RETURNS, json=return_body(order), headers=crew["customer"])
    missing_body = return_body(order)
    missing_body["order_id"] = order.id + 1000
    missing = client.post(RETURNS, json=missing_body, headers=crew["customer"])
    assert_error(theirs, 404, "not_found")
    assert theirs.get_json() == missing.get_json()
    assert returns_in_db(session) == 0


def test_it_does_not_return_from_unpaid_or_replacement_orders(client, session, app, customer, crew):
    product = make_product(session, stock=5)
    with pytest.raises(PaymentDeclined):
        place_order(
            session,
            payments_of(app),
            customer_id=customer.id,
            lines=[LineRequest(product.id, 1)],
            card_number=CARD_DECLINED,
        )
    failed = session.scalars(select(Order).where(Order.customer_id == customer.id)).one()
    assert failed.status == "payment_failed"
    pending, _ = bought(session, app, customer)
    replacement, _ = bought(session, app, customer)
    session.execute(update(Order).where(Order.id == pending.id).values(status="pending_payment"))
    session.execute(update(Order).where(Order.id == replacement.id).values(kind="replacement"))
    session.expire_all()
    for order in (failed, pending, replacement):
        response = client.post(RETURNS, json=return_body(order), headers=crew["customer"])
        assert_error(response, 404, "not_found")
    assert returns_in_db(session) == 0


def test_it_lets_only_customers_open_returns(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    for who in ("support", "warehouse", "finance"):
        response = client.post(RETURNS, json=return_body(order), headers=crew[who])
        assert_error(response, 403, "forbidden")
    assert_error(client.post(RETURNS, json=return_body(order)), 401, "unauthorized")
    assert returns_in_db(session) == 0


def test_it_names_every_missing_field(client, crew):
    error = assert_error(
        client.post(RETURNS, json={}, headers=crew["customer"]), 422, "validation_error"
    )
    assert set(error["details"]["fields"]) == {"order_id", "reason", "description", "lines"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"order_id": "1"}, "order_id"),
        ({"order_id": True}, "order_id"),
        ({"order_id": 1.5}, "order_id"),
        ({"order_id": 2**63}, "order_id"),
        ({"order_id": -1}, "order_id"),
        ({"reason": 7}, "reason"),
        ({"reason": "x" * 41}, "reason"),
        ({"description": ["cracked"]}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"lines": []}, "lines"),
        ({"lines": {"order_line_id": 1}}, "lines"),
        ({"lines": [{"order_line_id": 1, "quantity": 1}] * 101}, "lines"),
        ({"lines": ["one"]}, "lines[0]"),
        ({"lines": [{"quantity": 1}]}, "lines[0].order_line_id"),
        ({"lines": [{"order_line_id": 1}]}, "lines[0].quantity"),
        ({"lines": [{"order_line_id": 1, "quantity": 0}]}, "lines[0].quantity"),
        ({"lines": [{"order_line_id": 1, "quantity": "2"}]}, "lines[0].quantity"),
        ({"lines": [{"order_line_id": 2**40, "quantity": 1}]}, "lines[0].order_line_id"),
    ],
)
def test_it_refuses_each_malformed_field_with_422(
    client, session, app, customer, crew, change, field
):
    order, _ = bought(session, app, customer)
    response = client.post(RETURNS, json={**return_body(order), **change}, headers=crew["customer"])
    error = assert_error(response, 422, "validation_error")
    assert set(error["details"]["fields"]) == {field}
    assert returns_in_db(session) == 0


@pytest.mark.parametrize("raw", ["", "not json", "[1, 2]", '"text"', "null", "{", "[" * 5000])
def test_it_refuses_a_body_that_is_not_a_json_object_with_400(client, crew, raw):
    response = client.post(
        RETURNS, data=raw, content_type="application/json", headers=crew["customer"]
    )
    assert_error(response, 400, "bad_request")


def test_it_refuses_more_units_than_exist_without_overflowing(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    body = return_body(order)
    body["lines"] = [{"order_line_id": order.lines[0].id, "quantity": 2**31 - 1}] * 3
    response = client.post(RETURNS, json=body, headers=crew["customer"])
    assert "can still be returned" in assert_error(response, 422, "validation_error")["message"]
