"""Small helpers shared by the API tests: request bodies and CONTRACT's error shape."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.catalog import Product
from app.models.orders import Order
from app.payments.gateway import CARD_APPROVED

CARD_DECLINED = "4000000000000002"
CARD_ERROR = "4000000000000119"


def order_body(
    *lines: tuple[int, int], card: str = CARD_APPROVED, credit: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lines": [{"product_id": pid, "quantity": qty} for pid, qty in lines],
        "payment": {"card_number": card},
    }
    if credit is not None:
        body["store_credit_cents"] = credit
    return body


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is CONTRACT's JSON error with this status and code; returns `error`."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)
    return error


def stock_of(session: Session, product_id: int) -> int:
    session.expire_all()
    stock = session.scalar(select(Product.stock).where(Product.id == product_id))
    assert stock is not None
    return stock


def order_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Order)) or 0
