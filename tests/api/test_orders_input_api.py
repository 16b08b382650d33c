"""Malformed order requests are 400/415/422 and never a 5xx (CONTRACT §3.1)."""

from __future__ import annotations

import json

import pytest

from tests.api.helpers import assert_error, order_body, order_count, stock_of
from tests.builders import make_product

ORDERS = "/api/v1/orders"
CARD = {"card_number": "4242424242424242"}
FULLWIDTH_CARD = "".join(chr(0xFF10 + int(d)) for d in "4242424242424242")


@pytest.fixture
def product(session):
    return make_product(session, stock=5, price_cents=100)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('"a string"', "application/json"),
        ("42", "application/json"),
        ("null", "application/json"),
        ("", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
    ],
)
def test_it_answers_a_body_that_is_not_a_json_object_with_400(
    client, session, customer_headers, product, data, content_type
):
    response = client.post(ORDERS, data=data, content_type=content_type, headers=customer_headers)
    assert_error(response, 400, "bad_request")
    assert stock_of(session, product.id) == 5
    assert order_count(session) == 0


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
def test_it_answers_a_body_that_is_not_json_with_415(
    client, session, customer_headers, product, content_type
):
    body = json.dumps(order_body((product.id, 1)))  # a good order, labelled as something else
    response = client.post(ORDERS, data=body, content_type=content_type, headers=customer_headers)
    assert_error(response, 415, "unsupported_media_type")
    assert stock_of(session, product.id) == 5
    assert order_count(session) == 0


def lines_with(**line):
    return {"lines": [line], "payment": CARD}


@pytest.mark.parametrize(
    ("make_body", "field"),
    [
        (lambda p: {"payment": CARD}, "lines"),
        (lambda p: {"lines": "abc", "payment": CARD}, "lines"),
        (lambda p: {"lines": {"product_id": p}, "payment": CARD}, "lines"),
        (lambda p: {"lines": [], "payment": CARD}, "lines"),
        (lambda p: {"lines": [5], "payment": CARD}, "lines[0]"),
        (lambda p: lines_with(product_id=p, quantity=0), "lines[0].quantity"),
        (lambda p: lines_with(product_id=p, quantity=-1), "lines[0].quantity"),
        (lambda p: lines_with(product_id=p, quantity="2"), "lines[0].quantity"),
        (lambda p: lines_with(product_id=p, quantity=10**12), "lines[0].quantity"),
        (lambda p: lines_with(product_id=p, quantity=1001), "lines[0].quantity"),
        (lambda p: lines_with(product_id=p, quantity=1.5), "lines[0].quantity"),
        (lambda p: lines_with(product_id=p, quantity=True), "lines[0].quantity"),
        (lambda p: lines_with(product_id=p, quantity=None), "lines[0].quantity"),
        (lambda p: lines_with(product_id=p), "lines[0].quantity"),
        (lambda p: lines_with(product_id=str(p), quantity=1), "lines[0].product_id"),
        (lambda p: lines_with(product_id=0, quantity=1), "lines[0].product_id"),
        (lambda p: lines_with(product_id=-p, quantity=1), "lines[0].product_id"),
        (lambda p: lines_with(product_id=10**20, quantity=1), "lines[0].product_id"),
        (lambda p: lines_with(quantity=1), "lines[0].product_id"),
        (lambda p: {"lines": [{"product_id": p, "quantity": 1}]}, "payment"),
        (lambda p: {"lines": [{"product_id": p, "quantity": 1}], "payment": "4242"}, "payment"),
        (
            lambda p: {"lines": [{"product_id": p, "quantity": 1}], "payment": {}},
            "payment.card_number",
        ),
        (
            lambda p: {"lines": [{"product_id": p, "quantity": 1}], "payment": {"card_number": 42}},
            "payment.card_number",
        ),
        (
            lambda p: {
                "lines": [{"product_id": p, "quantity": 1}],
                "payment": {"card_number": "abc"},
            },
            "payment.card_number",
        ),
        (
            lambda p: {
                "lines": [{"product_id": p, "quantity": 1}],
                "payment": {"card_number": "4242"},
            },
            "payment.card_number",
        ),
        (
            lambda p: {
                "lines": [{"product_id": p, "quantity": 1}],
                "payment": {"card_number": FULLWIDTH_CARD},
            },
            "payment.card_number",
        ),
        (
            lambda p: {"lines": [{"product_id": p, "quantity": 600}] * 2, "payment": CARD},
            "lines",
        ),
        (
            lambda p: {"lines": [{"product_id": p, "quantity": 1}] * 101, "payment": CARD},
            "lines",
        ),
    ],
)
def test_it_names_the_bad_part_of_an_order_with_422(
    client, session, customer_headers, product, make_body, field
):
    response = client.post(ORDERS, json=make_body(product.id), headers=customer_headers)
    error = assert_error(response, 422, "validation_error")
    assert set(error["details"]["fields"]) == {field}, error
    assert stock_of(session, product.id) == 5
    assert order_count(session) == 0


def test_it_refuses_an_order_total_beyond_what_money_columns_hold(
    client, session, customer_headers
):
    dear = make_product(session, stock=1000, price_cents=100_000_000)
    response = client.post(ORDERS, json=order_body((dear.id, 1000)), headers=customer_headers)
    error = assert_error(response, 422, "validation_error")
    assert set(error["details"]["fields"]) == {"lines"}
    assert stock_of(session, dear.id) == 1000
    assert order_count(session) == 0


def test_it_ignores_unknown_fields(client, session, customer_headers, product):
    body = {**order_body((product.id, 1)), "coupon": "FREE", "admin": True}
    response = client.post(ORDERS, json=body, headers=customer_headers)
    assert response.status_code == 201
    order = response.get_json()
    assert (order["status"], order["total_cents"]) == ("paid", 100)  # no coupon applied
    assert order["payment"]["amount_cents"] == 100
    assert stock_of(session, product.id) == 4


def test_it_normalises_a_card_number_written_with_dashes(
    client, session, customer_headers, product
):
    declined = order_body((product.id, 1), card="4000-0000-0000-0002")
    assert_error(
        client.post(ORDERS, json=declined, headers=customer_headers), 402, "payment_declined"
    )
    assert stock_of(session, product.id) == 5  # declined: the unit went back
    spaced = order_body((product.id, 1), card="4242 4242 4242 4242")
    response = client.post(ORDERS, json=spaced, headers=customer_headers)
    assert response.status_code == 201
    assert response.get_json()["payment"]["status"] == "succeeded"
    assert stock_of(session, product.id) == 4


def test_it_answers_an_oversized_body_with_413(client, session, customer_headers):
    body = b'{"lines": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    response = client.post(
        ORDERS, data=body, content_type="application/json", headers=customer_headers
    )
    assert_error(response, 413, "too_large")
    assert order_count(session) == 0


def test_it_answers_deeply_nested_json_with_400(client, session, customer_headers):
    response = client.post(
        ORDERS, data="[" * 100_000, content_type="application/json", headers=customer_headers
    )
    assert_error(response, 400, "bad_request")
    assert order_count(session) == 0


def test_it_names_every_bad_part_with_its_message_at_once(client, session, customer_headers):
    body = {"lines": [5, {"product_id": True, "quantity": 1001}, {}], "store_credit_cents": -1}
    response = client.post(ORDERS, json=body, headers=customer_headers)
    assert assert_error(response, 422, "validation_error")["details"]["fields"] == {
        "lines[0]": "must be an object",
        "lines[1].product_id": "must be an integer",
        "lines[1].quantity": "must be from 1 to 1000",
        "lines[2].product_id": "is required",
        "lines[2].quantity": "is required",
        "payment": "must be an object with card_number",
        "store_credit_cents": "must be from 0 to 2147483647",
    }
    assert order_count(session) == 0
