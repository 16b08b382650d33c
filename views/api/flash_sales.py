"""Flash sales (CONTRACT §3.5): admins create and cancel sales; anyone reads them; customers
reserve units, pay for a reservation or release it.

Reserving and paying share one per-user budget (`FLASH_RATE_LIMIT`), and every call counts,
whatever its answer.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Response, jsonify, request

from app.current import current_config, current_payments, db_session
from app.db import utcnow
from app.errors import ValidationError
from app.extensions import rate_limit
from app.models.users import Role
from app.services.flash_sales import (
    HoldView,
    SaleItemInput,
    SaleView,
    cancel_sale,
    checkout_hold,
    create_sale,
    get_sale,
    list_sales,
    release_hold,
    reserve,
)
from views.api import actor, bp
from views.api.idempotency import idempotent
from views.api.serializers import order_json, page_json
from views.parsing import ID, get_datetime, get_int, get_str, json_body, query_page

MAX_ITEMS = 50


def _flash_limit() -> str:
    return current_config().flash_rate_limit


def sale_json(sale: SaleView) -> dict[str, Any]:
    return {
        "id": sale.id,
        "name": sale.name,
        "state": sale.state,
        "starts_at": sale.starts_at.isoformat(),
        "ends_at": sale.ends_at.isoformat(),
        "items": [
            {
                "product_id": item.product_id,
                "name": item.product_name,
                "sale_price_cents": item.sale_price_cents,
                "regular_price_cents": item.regular_price_cents,
                "quantity": item.quantity,
                "sold": item.sold,
                "reserved": item.reserved,
                "available": item.available,
                "per_customer_limit": item.per_customer_limit,
            }
            for item in sale.items
        ],
    }


def hold_json(hold: HoldView) -> dict[str, Any]:
    return {
        "id": hold.id,
        "sale_id": hold.sale_id,
        "product_id": hold.product_id,
        "quantity": hold.quantity,
        "unit_price_cents": hold.unit_price_cents,
        "expires_at": hold.expires_at.isoformat(),
        "status": hold.status,
    }


def parse_sale(data: dict[str, Any]) -> tuple[str, datetime, datetime, list[SaleItemInput]]:
    """The sale's fields, every malformed one named at once (the service checks the rest)."""
    problems: dict[str, str] = {}
    name = get_str(data, "name", problems, max_len=1000)
    starts_at = get_datetime(data, "starts_at", problems)
    ends_at = get_datetime(data, "ends_at", problems)
    items: list[SaleItemInput] = []
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        problems["items"] = "must be a non-empty list"
    elif len(raw_items) > MAX_ITEMS:
        problems["items"] = f"must have at most {MAX_ITEMS} items"
    else:
        for i, raw in enumerate(raw_items):
            if not isinstance(raw, dict):
                problems[f"items[{i}]"] = "must be an object"
                continue
            values = [
                get_int(raw, field, problems, minimum=low, label=f"items[{i}].{field}")
                for field, low in (
                    ("product_id", 1),
                    ("sale_price_cents", 1),
                    ("quantity", 1),
                    ("per_customer_limit", 1),
                )
            ]
            if all(v is not None for v in values):
                product_id, price, quantity, limit = (int(v or 0) for v in values)
                items.append(SaleItemInput(product_id, price, quantity, limit))
    if problems or starts_at is None or ends_at is None:
        raise ValidationError(problems)
    return name, starts_at, ends_at, items


@bp.post("/flash-sales")
def flash_sale_create() -> Any:
    admin = actor(Role.ADMIN)
    name, starts_at, ends_at, items = parse_sale(json_body())
    session = db_session()
    now = utcnow()
    sale = create_sale(
        session,
        name=name,
        starts_at=starts_at,
        ends_at=ends_at,
        items=items,
        now=now,
        created_by=admin.id,
    )
    return jsonify(sale_json(get_sale(session, sale.id, now=now))), 201


@bp.get("/flash-sales")
def flash_sales_index() -> Any:
    page, per_page = query_page()
    result = list_sales(
        db_session(),
        now=utcnow(),
        state=request.args.get("state", "")[:20] or None,
        page=page,
        per_page=per_page,
    )
    return jsonify(page_json(result, sale_json))


@bp.get(f"/flash-sales/<{ID}:sale_id>")
def flash_sale_show(sale_id: int) -> Any:
    return jsonify(sale_json(get_sale(db_session(), sale_id, now=utcnow())))


@bp.post(f"/flash-sales/<{ID}:sale_id>/cancel")
def flash_sale_cancel(sale_id: int) -> Any:
    admin = actor(Role.ADMIN)
    session = db_session()
    now = utcnow()
    cancel_sale(session, sale_id, actor=admin, now=now)
    return jsonify(sale_json(get_sale(session, sale_id, now=now)))


@bp.post(f"/flash-sales/<{ID}:sale_id>/reservations")
@rate_limit(_flash_limit, scope="flash")
def flash_reserve(sale_id: int) -> Any:
    customer = actor(Role.CUSTOMER)
    data = json_body()
    problems: dict[str, str] = {}
    product_id = get_int(data, "product_id", problems, minimum=1)
    quantity = get_int(data, "quantity", problems, minimum=1, maximum=1000)
    if problems or product_id is None or quantity is None:
        raise ValidationError(problems)
    hold = reserve(
        db_session(),
        sale_id=sale_id,
        product_id=product_id,
        customer_id=customer.id,
        quantity=quantity,
        now=utcnow(),
        ttl_seconds=current_config().flash_reservation_ttl_seconds,
    )
    return jsonify(hold_json(hold)), 201


@bp.post(f"/reservations/<{ID}:hold_id>/checkout")
@rate_limit(_flash_limit, scope="flash")
def reservation_checkout(hold_id: int) -> Any:
    customer = actor(Role.CUSTOMER)
    data = json_body()

    def work() -> Response:
        payment = data.get("payment")
        card = payment.get("card_number") if isinstance(payment, dict) else None
        if not isinstance(card, str) or not card.strip():
            raise ValidationError({"payment.card_number": "is required"})
        order = checkout_hold(
            db_session(),
            current_payments(),
            hold_id=hold_id,
            customer_id=customer.id,
            card_number=card[:40],
            now=utcnow(),
        )
        return Response(json.dumps(order_json(order)), status=201, mimetype="application/json")

    return idempotent(f"reservation-{hold_id}", customer.id, data, work)


@bp.delete(f"/reservations/<{ID}:hold_id>")
def reservation_release(hold_id: int) -> Any:
    customer = actor(Role.CUSTOMER)
    release_hold(db_session(), hold_id, customer.id, now=utcnow())
    return Response(status=204)
