"""Helpers for the HTML page tests: htmx headers, signed-in clients, cart set-up."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.models.catalog import Product
from app.models.orders import Order
from app.models.users import User
from app.services.orders import LineRequest, place_order
from tests.builders import make_user

HX = {"HX-Request": "true"}
KEY_INPUT = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture
def support(session: Session) -> User:
    return make_user(session, "support", username="sam")


def add_to_cart(client: FlaskClient, token: str, product: Product, quantity: int = 1) -> None:
    response = client.post(
        "/cart/add",
        data={"product_id": product.id, "quantity": quantity, "csrf_token": token},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def checkout_key(client: FlaskClient) -> str:
    """The idempotency key the cart page rendered into its checkout form."""
    match = KEY_INPUT.search(client.get("/cart").get_data(as_text=True))
    assert match, "the cart page must render a checkout form"
    return match.group(1)


def text(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def place(app: Flask, session: Session, customer: User, product: Product, **kw: Any) -> Order:
    """An order placed through the real checkout service."""
    options = {"quantity": 1, "card_number": "4242424242424242", "store_credit_cents": 0, **kw}
    return place_order(
        session,
        app.extensions["backroom.payments"],
        customer_id=customer.id,
        lines=[LineRequest(product.id, options["quantity"])],
        card_number=options["card_number"],
        store_credit_cents=options["store_credit_cents"],
    )
