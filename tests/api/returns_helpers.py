"""Shared by the returns API tests: a crew of users with bearer headers, orders to return
from, and short calls for the return endpoints."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app.models.catalog import Product
from app.models.orders import Order
from app.models.users import User
from app.payments import Payments
from app.services.users import issue_token
from tests.builders import make_paid_order, make_product, make_user

SECRET = "test-secret"
RETURNS = "/api/v1/returns"
# The happy path through the API: (trigger, who, fields).
PATH = [
    ("approve", "support", {}),
    ("ship", "customer", {"carrier": "DHL", "tracking_number": "JD014600006281"}),
    ("receive", "warehouse", {}),
    ("start_inspection", "warehouse", {}),
    ("complete_inspection", "warehouse", {"condition": "like_new"}),
    ("decide", "support", {"disposition": "REFUND"}),
    ("process", "finance", {}),
]


def headers_for(user: User) -> dict[str, str]:
    """Bearer headers without a round trip through /auth/token (tested elsewhere)."""
    return {"Authorization": f"Bearer {issue_token(user, SECRET)}"}


@dataclass
class Crew:
    """The owner, another customer and one user per staff role, each with headers."""

    users: dict[str, User]

    def __getitem__(self, who: str) -> dict[str, str]:
        return headers_for(self.users[who])

    def user(self, who: str) -> User:
        return self.users[who]


def make_crew(session: Session, customer: User) -> Crew:
    users = {"customer": customer, "other": make_user(session, "customer")}
    for role in ("support", "warehouse", "finance", "admin"):
        users[role] = make_user(session, role)
    return Crew(users)


def payments_of(app: Any) -> Payments:
    payments: Payments = app.extensions["backroom.payments"]
    return payments


def bought(
    session: Session,
    app: Any,
    customer: User,
    *,
    quantity: int = 2,
    price_cents: int = 2500,
    stock: int = 10,
) -> tuple[Order, Product]:
    """A paid order for `quantity` units of a new product."""
    product = make_product(session, stock=stock, price_cents=price_cents)
    order = make_paid_order(session, payments_of(app), customer, product, quantity=quantity)
    return order, product


def return_body(order: Order, quantity: int = 1, reason: str = "damaged") -> dict[str, Any]:
    return {
        "order_id": order.id,
        "reason": reason,
        "description": "the lid is cracked",
        "lines": [{"order_line_id": order.lines[0].id, "quantity": quantity}],
    }


def open_return(
    client: FlaskClient, headers: dict[str, str], order: Order, quantity: int = 1
) -> dict[str, Any]:
    response = client.post(RETURNS, json=return_body(order, quantity), headers=headers)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def fire(
    client: FlaskClient, headers: dict[str, str], return_id: int, trigger: str, **fields: Any
) -> Any:
    return client.post(
        f"{RETURNS}/{return_id}/transitions", json={"trigger": trigger, **fields}, headers=headers
    )


def walk(
    client: FlaskClient,
    crew: Crew,
    return_id: int,
    *,
    until: str,
    disposition: str = "REFUND",
    condition: str = "like_new",
    amount_cents: int | None = None,
) -> dict[str, Any]:
    """Fire the happy path through the API up to and including `until`; the last body."""
    body: dict[str, Any] = {}
    for trigger, who, fields in PATH:
        fields = dict(fields)
        if trigger == "complete_inspection":
            fields["condition"] = condition
        if trigger == "decide":
            fields["disposition"] = disposition
            if amount_cents is not None:
                fields["amount_cents"] = amount_cents
        if trigger == "process" and disposition not in ("REFUND", "STORE_CREDIT"):
            who = "warehouse"
        response = fire(client, crew[who], return_id, trigger, **fields)
        assert response.status_code == 200, (trigger, response.get_json())
        body = response.get_json()
        if trigger == until:
            return body
    raise AssertionError(f"{until!r} is not on the path")


def upload(
    client: FlaskClient,
    headers: dict[str, str],
    return_id: int,
    data: bytes,
    filename: str = "photo.jpg",
    field: str = "photo",
) -> Any:
    """POST a multipart photo. The body is encoded in memory: the test client would spool
    a large one to a temporary file that nobody closes (a ResourceWarning)."""
    boundary, body = encode_multipart({field: FileStorage(io.BytesIO(data), filename)})
    return client.post(
        f"{RETURNS}/{return_id}/photos",
        data=body,
        headers=headers,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def job_context(app: Any, payments: Payments | None = None) -> Any:
    """What the return jobs run with, from the test app (optionally other payments)."""
    from jobs.context import JobContext

    return JobContext(
        config=app.config["BACKROOM"],
        db=app.extensions["backroom.db"],
        payments=payments or payments_of(app),
        holder="test",
    )
