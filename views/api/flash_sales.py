"""Flash sales (CONTRACT §3.5): admins create and cancel sales; anyone reads them; customers
reserve units, pay for a reservation or release it.

Reserving and paying share one per-user budget (`FLASH_RATE_LIMIT`), and every call counts,
whatever its answer.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from app.current import current_config, current_payments, db_session
from app.db import utcnow
from app.extensions import rate_limit
from app.models.orders import Order
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
)
from views.api import actor, bp
from views.api.idempotency import order_once
from views.api.schemas import CheckoutRequest, ReservationRequest, SaleRequest
from views.api.serializers import page_json
from views.flash_sales.holds import reserve_now
from views.parsing import ID, json_body, query_page, validate


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


@bp.post("/flash-sales")
def flash_sale_create() -> Any:
    admin = actor(Role.ADMIN)
    body = validate(SaleRequest, json_body())
    session = db_session()
    now = utcnow()
    sale = create_sale(
        session,
        name=body.name,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        items=[
            SaleItemInput(i.product_id, i.sale_price_cents, i.quantity, i.per_customer_limit)
            for i in body.items
        ],
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
    body = validate(ReservationRequest, json_body())
    hold = reserve_now(
        sale_id=sale_id, product_id=body.product_id, customer_id=customer.id, quantity=body.quantity
    )
    return jsonify(hold_json(hold)), 201


@bp.post(f"/reservations/<{ID}:hold_id>/checkout")
@rate_limit(_flash_limit, scope="flash")
def reservation_checkout(hold_id: int) -> Any:
    customer = actor(Role.CUSTOMER)

    def place(body: CheckoutRequest) -> Order:
        return checkout_hold(
            db_session(),
            current_payments(),
            hold_id=hold_id,
            customer_id=customer.id,
            card_number=body.payment.card_number,
            now=utcnow(),
        )

    return order_once(f"reservation-{hold_id}", customer.id, CheckoutRequest, place)


@bp.delete(f"/reservations/<{ID}:hold_id>")
def reservation_release(hold_id: int) -> Any:
    customer = actor(Role.CUSTOMER)
    release_hold(db_session(), hold_id, customer.id, now=utcnow())
    return Response(status=204)
