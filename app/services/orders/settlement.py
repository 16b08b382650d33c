"""Settling an order after the gateway answered, or after a crash left it pending.

Every settlement is a compare-and-set on the order's status, so a late request and the
reconciler can both try: exactly one of them changes the order, and stock or credit is
given back at most once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.orm import Session

from app.db import due_ids, transaction, utcnow
from app.models.orders import Order, OrderLine, OrderStatus
from app.models.payments import Payment, PaymentStatus
from app.payments import ChargeResult, GatewayFailure, Payments
from app.services.catalog.stock import give_back_stock
from app.services.credit import add_credit_entry

log = logging.getLogger(__name__)
FLASH_ORDER = "flash_sale"
_orders, _payments, _lines = (
    cast(Table, Order.__table__),
    cast(Table, Payment.__table__),
    cast(Table, OrderLine.__table__),
)
_CLOSE_ORDER = (
    update(_orders)
    .where(_orders.c.id == bindparam("oid"), _orders.c.status == OrderStatus.PENDING_PAYMENT)
    .values(status=bindparam("status"), updated_at=bindparam("now"))
)
_PAYMENT_OUTCOME = (
    update(_payments)
    .where(_payments.c.order_id == bindparam("oid"))
    .values(
        status=bindparam("status"),
        reference=bindparam("reference"),
        error=bindparam("error"),
        updated_at=bindparam("now"),
    )
)
_ORDER_LINES = select(_lines.c.product_id, _lines.c.quantity).where(
    _lines.c.order_id == bindparam("oid")
)
_ORDER_CREDIT = select(_orders.c.customer_id, _orders.c.store_credit_cents, _orders.c.kind).where(
    _orders.c.id == bindparam("oid")
)


def settle_paid(session: Session, order_id: int, result: ChargeResult) -> bool:
    """Mark a pending order paid with the gateway's reference. True if this call did it."""
    with transaction(session):
        return _close(
            session.connection(), order_id, OrderStatus.PAID, PaymentStatus.SUCCEEDED,
            reference=result.reference, error=None, now=utcnow(),
        )  # fmt: skip


def _close(
    conn: Connection, order_id: int, order_status: str, payment_status: str, *,
    reference: str | None, error: str | None, now: datetime,
) -> bool:  # fmt: skip
    """Move a pending order to its outcome and record its payment's; False if another
    settlement got there first (the compare-and-set on the order's status)."""
    params = {"oid": order_id, "status": order_status, "now": now}
    if conn.execute(_CLOSE_ORDER, params).rowcount != 1:
        return False
    conn.execute(
        _PAYMENT_OUTCOME,
        {"oid": order_id, "status": payment_status, "reference": reference, "error": error,
         "now": now},
    )  # fmt: skip
    return True


def settle_failed(session: Session, order_id: int, status: str, error: str | None) -> bool:
    """Mark a pending order's payment failed and give back its stock and store credit,
    once. A flash-sale order gives its units back to the hold it came from instead (the
    sale's allocation, never product stock). True if this call did it."""
    now = utcnow()
    with transaction(session):
        conn = session.connection()
        closed = _close(
            conn, order_id, OrderStatus.PAYMENT_FAILED, status,
            reference=None, error=(error or "")[:200], now=now,
        )  # fmt: skip
        if not closed:
            return False
        customer_id, credit, kind = conn.execute(_ORDER_CREDIT, {"oid": order_id}).one()
        if kind == FLASH_ORDER:  # its units go back to the hold, not to product stock
            # Flash sales build on orders (their checkout places one); this is the one way
            # back, imported when it is needed so neither package imports the other at load.
            from app.services.flash_sales.lifecycle import restore_hold_for_order

            restore_hold_for_order(session, order_id, now)
        else:
            lines = conn.execute(_ORDER_LINES, {"oid": order_id}).all()
            give_back_stock(session, dict(lines))
        if credit:
            add_credit_entry(
                session,
                customer_id=customer_id,
                amount_cents=credit,
                reason="order_payment_reversed",
                order_id=order_id,
            )
    return True


def reconcile_pending_orders(
    session: Session, payments: Payments, *, now: datetime, grace_seconds: int, limit: int = 100
) -> int:
    """Settle orders left `pending_payment` longer than the grace period (a crash between
    the two transactions). The gateway is asked what it knows of each order's payment key:
    a charge it approved makes the order paid; anything else fails it and restores stock.
    A gateway that cannot answer leaves the order for the next run. Returns orders settled.
    """
    cutoff = now - timedelta(seconds=grace_seconds)
    due = due_ids(
        session,
        select(Order.id)
        .where(Order.status == OrderStatus.PENDING_PAYMENT, Order.created_at < cutoff)
        .order_by(Order.id)
        .limit(limit),
    )
    settled = 0
    for order_id in due:
        try:
            known = payments.gateway.find_charge(f"order-{order_id}")
        except GatewayFailure:
            log.warning("gateway could not answer for order %s; will retry", order_id)
            continue
        if known is not None and known.approved:
            settled += settle_paid(session, order_id, known)
        else:
            settled += settle_failed(
                session, order_id, PaymentStatus.FAILED, "not charged; settled by reconciler"
            )
    return settled
