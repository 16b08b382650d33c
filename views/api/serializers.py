"""JSON shapes of CONTRACT §3: one function per resource."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Response

from app.models.catalog import Product
from app.models.credit import CreditEntry
from app.models.orders import Order
from app.models.payments import Payment
from app.models.users import User
from app.services.pagination import Page

T = TypeVar("T")


def page_json(page: Page[T], item: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    return {
        "items": [item(x) for x in page.items],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    }


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "role": user.role}


def product_json(product: Product, sale_price: int | None = None) -> dict[str, Any]:
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "price_cents": product.price_cents,
        "sale_price_cents": sale_price,
        "stock": product.stock,
        "partner_id": product.partner_id,
        "image_url": product.image_url,
        "active": product.active,
    }


def payment_json(payment: Payment | None) -> dict[str, Any]:
    if payment is None:
        return {"status": "not_required", "reference": None, "amount_cents": 0}
    return {
        "status": payment.status,
        "reference": payment.reference,
        "amount_cents": payment.amount_cents,
    }


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "number": order.number,
        "customer_id": order.customer_id,
        "status": order.status,
        "total_cents": order.total_cents,
        "store_credit_cents": order.store_credit_cents,
        "created_at": order.created_at.isoformat(),
        "lines": [
            {
                "id": line.id,
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price_cents,
                "name": line.product_name,
                "sku": line.product_sku,
            }
            for line in order.lines
        ],
        "payment": payment_json(order.payment),
    }


def order_created(order: Order) -> Response:
    """201 with the new order: a whole Response, so an idempotency record can keep it."""
    return Response(json.dumps(order_json(order)), status=201, mimetype="application/json")


def credit_json(balance: int, entries: Iterable[CreditEntry]) -> dict[str, Any]:
    return {
        "balance_cents": balance,
        "entries": [
            {
                "amount_cents": e.amount_cents,
                "reason": e.reason,
                "return_id": e.return_id,
                "order_id": e.order_id,
                "created_at": e.created_at.isoformat(),
            }
            for e in entries
        ],
    }
