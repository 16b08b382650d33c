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
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

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
from app.services.credit import add_credit_entry, credit_balance

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
    card_number = _check_card(card_number)
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
    if total - store_credit_cents > 0:
        try:
            payments.breaker.check()  # fail fast before taking any stock
        except BreakerOpen as exc:
            raise _unavailable(exc) from exc

    order = _reserve(session, customer_id, wanted, prices, total, store_credit_cents, card_number)
    if order.card_cents == 0:
        return order
    payment_key = f"order-{order.id}"
    try:
        result = payments.breaker.call(
            payments.gateway.charge,
            amount_cents=order.card_cents,
            card_number=card_number,
            idempotency_key=payment_key,
        )
    except BreakerOpen as exc:
        _settle_failed(session, order.id, PaymentStatus.FAILED, "payment circuit open")
        raise _unavailable(exc) from exc
    except GatewayFailure as exc:
        _settle_failed(session, order.id, PaymentStatus.FAILED, str(exc))
        raise PaymentError("the payment processor failed; you were not charged") from exc
    if not result.approved:
        _settle_failed(session, order.id, PaymentStatus.DECLINED, result.decline_reason)
        raise PaymentDeclined("your card was declined; you were not charged")
    if _settle_paid(session, order.id, result):
        # The row now says paid; mirror it without another round trip or a dirty flush.
        set_committed_value(order, "status", OrderStatus.PAID)
        return order
    return get_order_row(session, order.id)


def _unavailable(exc: BreakerOpen) -> PaymentUnavailable:
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


def _check_card(card_number: str) -> str:
    """The card's digits (spaces and dashes dropped), so the gateway sees the real number."""
    digits = card_number.replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19):
        raise ValidationError({"payment.card_number": "must be 12-19 digits"})
    return digits


def _current_prices(session: Session, product_ids: list[int]) -> dict[int, tuple[int, str, str]]:
    """(unit price, name, sku) per product; unknown or inactive products are NotFound."""
    rows = session.execute(
        select(Product.id, Product.price_cents, Product.name, Product.sku).where(
            Product.id.in_(product_ids), Product.active.is_(True)
        )
    ).all()
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
    """Transaction 1: take stock (id order, conditional), write the order pending."""
    with transaction(session):
        short = take_stock(session, wanted)
        if short:
            raise Conflict(
                "not enough stock", code="insufficient_stock", details={"product_ids": short}
            )
        order = Order(
            number=_order_number(),
            customer_id=customer_id,
            status=OrderStatus.PENDING_PAYMENT,
            total_cents=total,
            store_credit_cents=store_credit_cents,
        )
        order.lines = [
            OrderLine(
                product_id=pid,
                quantity=qty,
                unit_price_cents=prices[pid][0],
                product_name=prices[pid][1],
                product_sku=prices[pid][2],
            )
            for pid, qty in sorted(wanted.items())
        ]
        session.add(order)
        session.flush()
        if store_credit_cents:
            add_credit_entry(
                session,
                customer_id=customer_id,
                amount_cents=-store_credit_cents,
                reason="order_payment",
                order_id=order.id,
            )
        card_cents = total - store_credit_cents
        session.add(
            Payment(
                order_id=order.id,
                status=PaymentStatus.PENDING if card_cents else PaymentStatus.NOT_REQUIRED,
                amount_cents=card_cents,
                card_last4=card_number[-4:] if card_cents else "",
                idempotency_key=f"order-{order.id}",
            )
        )
        if card_cents == 0:
            order.status = OrderStatus.PAID
    return order


def take_stock(session: Session, wanted: dict[int, int]) -> list[int]:
    """Decrement stock for each product, in id order, only where enough is left.

    Returns the products that were short; the caller must then roll back. Id order keeps
    concurrent multi-line carts from deadlocking on PostgreSQL.
    """
    short = []
    for pid in sorted(wanted):
        result = session.execute(
            update(Product)
            .where(Product.id == pid, Product.stock >= wanted[pid])
            .values(stock=Product.stock - wanted[pid])
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            short.append(pid)
    return short


def give_back_stock(session: Session, quantities: dict[int, int]) -> None:
    for pid in sorted(quantities):
        session.execute(
            update(Product)
            .where(Product.id == pid)
            .values(stock=Product.stock + quantities[pid])
            .execution_options(synchronize_session=False)
        )


def _settle_paid(session: Session, order_id: int, result: ChargeResult) -> bool:
    """Transaction 2 (success). Compare-and-set: only a still-pending order changes."""
    with transaction(session):
        changed = session.execute(
            update(Order)
            .where(Order.id == order_id, Order.status == OrderStatus.PENDING_PAYMENT)
            .values(status=OrderStatus.PAID, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if changed:
            session.execute(
                update(Payment)
                .where(Payment.order_id == order_id)
                .values(status=PaymentStatus.SUCCEEDED, reference=result.reference)
                .execution_options(synchronize_session=False)
            )
    return bool(changed)


def _settle_failed(session: Session, order_id: int, status: str, error: str | None) -> bool:
    """Transaction 2 (failure): mark it failed, give back stock and store credit, once."""
    with transaction(session):
        changed = session.execute(
            update(Order)
            .where(Order.id == order_id, Order.status == OrderStatus.PENDING_PAYMENT)
            .values(status=OrderStatus.PAYMENT_FAILED, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if not changed:
            return False
        session.execute(
            update(Payment)
            .where(Payment.order_id == order_id)
            .values(status=status, error=(error or "")[:200])
            .execution_options(synchronize_session=False)
        )
        order = session.get(Order, order_id, populate_existing=True)
        assert order is not None
        give_back_stock(session, {line.product_id: line.quantity for line in order.lines})
        if order.store_credit_cents:
            add_credit_entry(
                session,
                customer_id=order.customer_id,
                amount_cents=order.store_credit_cents,
                reason="order_payment_reversed",
                order_id=order.id,
            )
    return True


def get_order_row(session: Session, order_id: int) -> Order:
    order = session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise NotFound("no such order")
    return order


def reconcile_pending_orders(
    session: Session, payments: Payments, *, now: datetime, grace_seconds: int, limit: int = 100
) -> int:
    """Settle orders left `pending_payment` longer than the grace period (a crash between
    the two transactions). The gateway is asked what it knows of each order's payment key:
    a charge it approved makes the order paid; anything else fails it and restores stock.
    A gateway that cannot answer leaves the order for the next run. Returns orders settled.
    """
    cutoff = now - timedelta(seconds=grace_seconds)
    due = list(
        session.scalars(
            select(Order.id)
            .where(Order.status == OrderStatus.PENDING_PAYMENT, Order.created_at < cutoff)
            .order_by(Order.id)
            .limit(limit)
        )
    )
    session.commit()
    settled = 0
    for order_id in due:
        try:
            known = payments.gateway.find_charge(f"order-{order_id}")
        except GatewayFailure:
            log.warning("gateway could not answer for order %s; will retry", order_id)
            continue
        if known is not None and known.approved:
            settled += _settle_paid(session, order_id, known)
        else:
            settled += _settle_failed(
                session, order_id, PaymentStatus.FAILED, "not charged; settled by reconciler"
            )
    return settled


def _order_number() -> str:
    return "BR-" + secrets.token_hex(4).upper()
