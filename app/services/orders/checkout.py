"""Placing an order: take stock, record it pending, charge outside any transaction, settle.

Why two transactions: the gateway is a network call and must never run while we hold
database locks. Stock is taken first by conditional updates (never below zero), the order
is committed as `pending_payment`, the card is charged through the circuit breaker, and a
second transaction marks the order paid or gives the stock and credit back. If the process
dies in between, `reconcile_pending_orders` settles the order from what the gateway knows.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from app.db import MAX_INT, transaction, utcnow
from app.errors import (
    Conflict,
    NotFound,
    PaymentDeclined,
    PaymentError,
    PaymentUnavailable,
    ValidationError,
)
from app.models.catalog import Product
from app.models.orders import Order, OrderLine, OrderStatus
from app.models.payments import Payment, PaymentStatus
from app.payments import BreakerOpen, ChargeResult, GatewayFailure, Payments
from app.payments.breaker import BreakerStatus
from app.services.catalog.stock import take_stock
from app.services.credit import add_credit_entry, credit_balance
from app.services.orders.settlement import settle_failed, settle_paid

log = logging.getLogger(__name__)
MAX_LINES = 100
MAX_QUANTITY = 1000


@dataclass(frozen=True)
class LineRequest:
    product_id: int
    quantity: int


def place_order(
    session: Session,
    payments: Payments,
    *,
    customer_id: int,
    lines: Sequence[LineRequest],
    card_number: str,
    store_credit_cents: int = 0,
) -> Order:
    """Sell the lines to the customer and charge the card for what credit does not cover.

    Raises ValidationError (bad lines, credit above balance), NotFound (unknown product),
    Conflict(insufficient_stock) with nothing kept, PaymentDeclined (402), PaymentError (502)
    or PaymentUnavailable (503, circuit open); on every failure stock and credit are restored.
    """
    wanted = _merge_lines(lines)
    card_number = check_card(card_number)
    prices = _current_prices(session, list(wanted))
    total = sum(prices[pid][0] * qty for pid, qty in wanted.items())
    if total > MAX_INT:
        raise ValidationError({"lines": f"the order total may be at most {MAX_INT} cents"})
    if store_credit_cents < 0 or store_credit_cents > total:
        raise ValidationError(
            {"store_credit_cents": f"must be from 0 to the order total ({total})"}
        )
    if store_credit_cents and credit_balance(session, customer_id) < store_credit_cents:
        raise ValidationError({"store_credit_cents": "is more than your store credit balance"})
    checked = None
    if total - store_credit_cents > 0:
        try:
            checked = payments.breaker.check()  # fail fast before taking any stock
        except BreakerOpen as exc:
            raise payments_unavailable(exc) from exc

    order = _reserve(session, customer_id, wanted, prices, total, store_credit_cents, card_number)
    if order.card_cents == 0:
        return order
    return charge_and_settle(
        session, payments, order, card_number, amount_cents=order.card_cents, checked=checked
    )


def charge_and_settle(
    session: Session,
    payments: Payments,
    order: Order,
    card_number: str,
    *,
    amount_cents: int,
    checked: BreakerStatus | None = None,
) -> Order:
    """Charge the committed `pending_payment` order through the breaker, outside any
    transaction, then settle it paid or failed (stock, credit or a flash hold given back).
    `checked`: the breaker's status the caller read before writing the order.

    Raises PaymentUnavailable (circuit open), PaymentError (gateway failure, or a charge
    answered after the reconciler gave up: refunded), PaymentDeclined."""
    try:
        result = payments.breaker.call(
            payments.gateway.charge,
            amount_cents=amount_cents,
            card_number=card_number,
            idempotency_key=f"order-{order.id}",
            checked=checked,
        )
    except BreakerOpen as exc:
        settle_failed(session, order.id, PaymentStatus.FAILED, "payment circuit open")
        raise payments_unavailable(exc) from exc
    except GatewayFailure as exc:
        settle_failed(session, order.id, PaymentStatus.FAILED, str(exc))
        raise PaymentError("the payment processor failed; you were not charged") from exc
    if not result.approved:
        settle_failed(session, order.id, PaymentStatus.DECLINED, result.decline_reason)
        raise PaymentDeclined("your card was declined; you were not charged")
    if settle_paid(session, order.id, result):
        # The row now says paid; mirror it without another round trip or a dirty flush.
        order.status = OrderStatus.PAID
        assert order.payment is not None
        order.payment.status = PaymentStatus.SUCCEEDED
        order.payment.reference = result.reference
        return order
    # Settled by someone else first: the reconciler, which either saw this charge (paid)
    # or gave up on the order while the gateway was slow (then the money goes back).
    settled = get_order_row(session, order.id)
    if settled.status == OrderStatus.PAID:
        return settled
    _void_late_charge(payments, order.id, result)
    raise PaymentError("the payment took too long and was cancelled; you were not charged")


def _void_late_charge(payments: Payments, order_id: int, result: ChargeResult) -> None:
    """The reconciler already failed this order (and gave its stock back) while the gateway
    was still answering: refund the charge, once (the key is per order)."""
    try:
        payments.gateway.refund(
            amount_cents=result.amount_cents,
            charge_reference=result.reference or "",
            idempotency_key=f"order-{order_id}-void",
        )
    except GatewayFailure:
        log.exception("could not void the late charge %s of order %s", result.reference, order_id)


def payments_unavailable(exc: BreakerOpen) -> PaymentUnavailable:
    return PaymentUnavailable(
        "payments are temporarily unavailable; please try again shortly",
        retry_after=exc.retry_after,
        details={"retry_after": exc.retry_after},
    )


def _merge_lines(lines: Sequence[LineRequest]) -> dict[int, int]:
    if not lines:
        raise ValidationError({"lines": "must have at least one line"})
    if len(lines) > MAX_LINES:
        raise ValidationError({"lines": f"must have at most {MAX_LINES} lines"})
    wanted: dict[int, int] = {}
    for i, line in enumerate(lines):
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise ValidationError({f"lines[{i}].quantity": f"must be from 1 to {MAX_QUANTITY}"})
        wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity
    if any(q > MAX_QUANTITY for q in wanted.values()):
        raise ValidationError({"lines": f"at most {MAX_QUANTITY} of one product"})
    return wanted


def check_card(card_number: str) -> str:
    """The card's digits (spaces and dashes dropped), so the gateway sees the real number."""
    digits = card_number.replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19):
        raise ValidationError({"payment.card_number": "must be 12-19 digits"})
    return digits


_products, _orders = cast(Table, Product.__table__), cast(Table, Order.__table__)
_line_table, _payment_table = cast(Table, OrderLine.__table__), cast(Table, Payment.__table__)
_PRICES = select(_products.c.id, _products.c.price_cents, _products.c.name, _products.c.sku).where(
    _products.c.id.in_(bindparam("ids", expanding=True)), _products.c.active.is_(True)
)
_INSERT_ORDER = insert(_orders).returning(_orders.c.id)
_INSERT_LINE = insert(_line_table).returning(_line_table.c.id)
_INSERT_PAYMENT = insert(_payment_table).returning(_payment_table.c.id)


def _current_prices(session: Session, product_ids: list[int]) -> dict[int, tuple[int, str, str]]:
    """(unit price, name, sku) per product; unknown or inactive products are NotFound."""
    rows = session.connection().execute(_PRICES, {"ids": product_ids}).all()
    found = {row.id: (row.price_cents, row.name, row.sku) for row in rows}
    missing = sorted(set(product_ids) - set(found))
    if missing:
        raise NotFound("no such product", details={"product_ids": missing})
    return found


def _reserve(
    session: Session,
    customer_id: int,
    wanted: dict[int, int],
    prices: dict[int, tuple[int, str, str]],
    total: int,
    store_credit_cents: int,
    card_number: str,
) -> Order:
    """Transaction 1: take stock (id order, conditional), write the order pending.

    Prebuilt INSERT … RETURNING rather than the unit of work: this is the hottest write
    path. The Order handed back is built from the values written, lines and payment included.
    """
    now = utcnow()
    card_cents = total - store_credit_cents
    order_row = {
        "number": new_order_number(),
        "customer_id": customer_id,
        "status": OrderStatus.PENDING_PAYMENT if card_cents else OrderStatus.PAID,
        "total_cents": total,
        "store_credit_cents": store_credit_cents,
        "kind": "standard",
        "created_at": now,
        "updated_at": now,
    }
    line_rows = [
        {"product_id": pid, "quantity": qty, "unit_price_cents": prices[pid][0],
         "product_name": prices[pid][1], "product_sku": prices[pid][2]}
        for pid, qty in sorted(wanted.items())
    ]  # fmt: skip
    with transaction(session):
        short = take_stock(session, wanted)
        if short:
            raise Conflict(
                "not enough stock", code="insufficient_stock", details={"product_ids": short}
            )
        conn = session.connection()
        order_id = conn.execute(_INSERT_ORDER, order_row).scalar_one()
        for line in line_rows:
            line["order_id"] = order_id
            line["id"] = conn.execute(_INSERT_LINE, line).scalar_one()
        if store_credit_cents:
            add_credit_entry(
                session,
                customer_id=customer_id,
                amount_cents=-store_credit_cents,
                reason="order_payment",
                order_id=order_id,
            )
        payment_row = {
            "order_id": order_id,
            "status": PaymentStatus.PENDING if card_cents else PaymentStatus.NOT_REQUIRED,
            "amount_cents": card_cents,
            "card_last4": card_number[-4:] if card_cents else "",
            "idempotency_key": f"order-{order_id}",
            "created_at": now,
            "updated_at": now,
        }
        payment_id = conn.execute(_INSERT_PAYMENT, payment_row).scalar_one()
    order = Order(id=order_id, **order_row)
    order.lines = [OrderLine(**line) for line in line_rows]
    order.payment = Payment(id=payment_id, reference=None, error=None, **payment_row)
    return order


def get_order_row(session: Session, order_id: int) -> Order:
    order = session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise NotFound("no such order")
    return order


def new_order_number() -> str:
    return "BR-" + secrets.token_hex(4).upper()
