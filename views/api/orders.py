"""Orders (with Idempotency-Key) and the customer's store credit."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, request

from app.current import current_payments, db_session
from app.errors import ValidationError
from app.models.users import Role
from app.services.credit import credit_balance, list_credit_entries
from app.services.orders import LineRequest, get_order, list_orders, place_order
from views.api import actor, bp
from views.api.idempotency import idempotent
from views.api.serializers import credit_json, order_json
from views.parsing import ID, get_int, get_str, json_body, query_page


def parse_order(data: dict[str, Any]) -> tuple[list[LineRequest], str, int]:
    problems: dict[str, str] = {}
    lines: list[LineRequest] = []
    raw_lines = data.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        problems["lines"] = "must be a non-empty list"
    else:
        for i, raw in enumerate(raw_lines[:101]):
            if not isinstance(raw, dict):
                problems[f"lines[{i}]"] = "must be an object"
                continue
            pid = get_int(raw, "product_id", problems, minimum=1, label=f"lines[{i}].product_id")
            qty = get_int(
                raw, "quantity", problems, minimum=1, maximum=1000, label=f"lines[{i}].quantity"
            )
            if pid is not None and qty is not None:
                lines.append(LineRequest(pid, qty))
    payment = data.get("payment")
    card = ""
    if not isinstance(payment, dict):
        problems["payment"] = "must be an object with card_number"
    else:
        card = get_str(payment, "card_number", {}, max_len=40).replace(" ", "")
        if not card:
            problems["payment.card_number"] = "is required"
    credit = get_int(data, "store_credit_cents", problems, required=False) or 0
    if problems:
        raise ValidationError(problems)
    return lines, card, credit


@bp.post("/orders")
def order_create() -> Any:
    customer = actor(Role.CUSTOMER)
    data = json_body()

    def work() -> Response:
        lines, card, credit = parse_order(data)
        session = db_session()
        order = place_order(
            session,
            current_payments(),
            customer_id=customer.id,
            lines=lines,
            card_number=card,
            store_credit_cents=credit,
        )
        body = order_json(order)
        return Response(json.dumps(body), status=201, mimetype="application/json")

    return idempotent("orders", customer.id, data, work)


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
