"""Orders: /orders (a customer's history and store credit; all orders for staff) and
/orders/<id> (the confirmation and detail page)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from app.current import db_session
from app.db import MAX_INT
from app.errors import ValidationError
from app.models.orders import OrderStatus
from app.models.users import Role
from app.services.credit import credit_balance, list_credit_entries
from app.services.orders import describe_order, list_orders, payments_for
from app.services.users import people_by_id
from views.access import login_required, signed_in_user
from views.parsing import ID, query_page, whole_number
from views.rendering import page_or_partial

log = logging.getLogger(__name__)
bp = Blueprint("orders", __name__)
STATUSES = [s.value for s in OrderStatus]


@bp.app_context_processor
def _order_globals() -> dict[str, Any]:
    def nav_credit() -> int | None:
        """The signed-in customer's store-credit balance (asked only by the nav)."""
        if not (current_user.is_authenticated and current_user.role == Role.CUSTOMER):
            return None
        try:
            return credit_balance(db_session(), current_user.id)
        except SQLAlchemyError:
            # Error pages render the nav too; a broken database must not break them as well.
            log.warning("store credit balance unavailable for the nav", exc_info=True)
            return None

    return {"nav_credit": nav_credit}


@bp.get("/orders")
@login_required
def index() -> Response:
    viewer = signed_in_user()
    page, per_page = query_page()
    staff = viewer.is_staff
    status = request.args.get("status", "").strip() if staff else ""
    if status and status not in STATUSES:
        raise ValidationError({"status": f"must be one of {', '.join(STATUSES)}"})
    q = request.args.get("q", "").strip()[:100] if staff else ""
    customer_id = _customer_filter() if staff else None
    session = db_session()
    result = list_orders(
        session, viewer, status=status, q=q, customer_id=customer_id, page=page, per_page=per_page
    )
    shown = [o.customer_id for o in result.items] + ([customer_id] if customer_id else [])
    context: dict[str, Any] = {
        "result": result,
        "status": status,
        "statuses": STATUSES,
        "q": q,
        "customer_id": customer_id,
        "payments": payments_for(session, [o.id for o in result.items]),
        "customers": people_by_id(session, shown) if staff else {},
        "balance": None,
        "entries": [],
    }
    if viewer.role == Role.CUSTOMER:
        context["balance"] = credit_balance(session, viewer.id)
        context["entries"] = list_credit_entries(session, viewer.id)
    return page_or_partial("orders/index.html", "orders/_table.html", **context)


def _customer_filter() -> int | None:
    """`?customer=<user id>` (staff only): one customer's orders; 422 when not an id."""
    raw = request.args.get("customer", "").strip()
    if not raw:
        return None
    customer_id = whole_number(raw)
    if customer_id is None or not 0 < customer_id <= MAX_INT:
        raise ValidationError({"customer": "must be a customer's id"})
    return customer_id


@bp.get(f"/orders/<{ID}:order_id>")
@login_required
def show(order_id: int) -> str:
    details = describe_order(db_session(), signed_in_user(), order_id)
    return render_template("orders/show.html", details=details, order=details.order)
