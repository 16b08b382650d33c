"""Orders (with Idempotency-Key) and the customer's store credit."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from app.current import current_payments, db_session
from app.models.orders import Order
from app.models.users import Role
from app.services.credit import credit_balance, list_credit_entries
from app.services.orders import LineRequest, get_order, list_orders, place_order
from views.api import actor, bp
from views.api.idempotency import order_once
from views.api.schemas import OrderRequest
from views.api.serializers import credit_json, order_json
from views.parsing import ID, query_page


@bp.post("/orders")
def order_create() -> Any:
    customer = actor(Role.CUSTOMER)

    def place(body: OrderRequest) -> Order:
        return place_order(
            db_session(),
            current_payments(),
            customer_id=customer.id,
            lines=[LineRequest(line.product_id, line.quantity) for line in body.lines],
            card_number=body.payment.card_number,
            store_credit_cents=body.store_credit_cents or 0,
        )

    return order_once("orders", customer.id, OrderRequest, place)


@bp.get("/orders")
def orders_index() -> Any:
    viewer = actor()
    page, per_page = query_page()
    session = db_session()
    result = list_orders(
        session, viewer, status=request.args.get("status", "")[:30], page=page, per_page=per_page
    )
    return jsonify(
        {
            "items": [order_json(o) for o in result.items],
            "total": result.total,
            "page": result.page,
            "per_page": result.per_page,
        }
    )


@bp.get(f"/orders/<{ID}:order_id>")
def order_show(order_id: int) -> Any:
    viewer = actor()
    session = db_session()
    order = get_order(session, viewer, order_id)
    return jsonify(order_json(order))


@bp.get("/store-credit")
def store_credit() -> Any:
    customer = actor(Role.CUSTOMER)
    session = db_session()
    return jsonify(
        credit_json(credit_balance(session, customer.id), list_credit_entries(session, customer.id))
    )
