"""Returns analytics, the cohort: figures over the returns opened in the range, each query
filtered by the caller's `cohort` clause on `created_at`: their dispositions, the most
returned products with the units sold beside them (the return rate), returns by product
category and reason, refunds to the card by status, and store credit by ledger reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from app.models.catalog import Product
from app.models.credit import CreditEntry
from app.models.orders import Order, OrderLine, OrderStatus
from app.models.returns import ReturnLine, ReturnRequest
from app.services.monitoring.returns.figures import (
    CREDIT_REASONS,
    REFUND_STATUSES,
    TOP_PRODUCTS,
    CategoryReasons,
    Count,
    ProductReturns,
)
from app.services.returns import REASONS


def dispositions(session: Session, cohort: ColumnElement[bool]) -> tuple[Count, ...]:
    rows = session.execute(
        select(ReturnRequest.disposition, func.count())
        .where(cohort)
        .group_by(ReturnRequest.disposition)
    ).all()
    counts = [Count(d or "", _words(d) if d else "Not decided yet", int(n)) for d, n in rows]
    return tuple(sorted(counts, key=lambda c: (not c.key, -c.count, c.key)))


def _words(code: str) -> str:
    return code.replace("_", " ").capitalize()


def products(
    session: Session, cohort: ColumnElement[bool], start: datetime, end: datetime
) -> tuple[ProductReturns, ...]:
    """The TOP_PRODUCTS products with the most units on returns opened in the range, and
    the units of them sold in the range (paid orders; replacements are not sales)."""
    units = func.sum(ReturnLine.quantity)
    top = session.execute(
        select(ReturnLine.product_id, Product.sku, Product.name, Product.category, units)
        .join(ReturnRequest, ReturnRequest.id == ReturnLine.return_id)
        .join(Product, Product.id == ReturnLine.product_id)
        .where(cohort)
        .group_by(ReturnLine.product_id, Product.sku, Product.name, Product.category)
        .order_by(units.desc(), ReturnLine.product_id)
        .limit(TOP_PRODUCTS)
    ).all()
    sold: dict[int, int] = {}
    if top:
        sold = {
            int(p): int(n)
            for p, n in session.execute(
                select(OrderLine.product_id, func.sum(OrderLine.quantity))
                .join(Order, Order.id == OrderLine.order_id)
                .where(
                    OrderLine.product_id.in_([row[0] for row in top]),
                    Order.created_at >= start,
                    Order.created_at < end,
                    Order.status == OrderStatus.PAID,
                    Order.kind != "replacement",
                )
                .group_by(OrderLine.product_id)
            )
        }
    return tuple(
        ProductReturns(sku, name, category, int(n), sold.get(product_id, 0))
        for product_id, sku, name, category, n in top
    )


def categories(session: Session, cohort: ColumnElement[bool]) -> tuple[CategoryReasons, ...]:
    """Returns per product category and reason (a return counts once in each category its
    lines are in)."""
    rows = session.execute(
        select(Product.category, ReturnRequest.reason, func.count(ReturnRequest.id.distinct()))
        .join(ReturnLine, ReturnLine.return_id == ReturnRequest.id)
        .join(Product, Product.id == ReturnLine.product_id)
        .where(cohort)
        .group_by(Product.category, ReturnRequest.reason)
    ).all()
    reasons: dict[str, dict[str, int]] = {}
    for category, reason, n in rows:
        reasons.setdefault(category, dict.fromkeys(REASONS, 0))[reason] = int(n)
    # A return has one reason: its category's returns are the sum over the reasons.
    totals = {category: sum(by_reason.values()) for category, by_reason in reasons.items()}
    return tuple(
        CategoryReasons(category, by_reason, int(totals[category]))
        for category, by_reason in sorted(reasons.items(), key=lambda kv: (-totals[kv[0]], kv[0]))
    )


def card_refunds(session: Session, cohort: ColumnElement[bool]) -> tuple[Count, ...]:
    """Refunds to the card by status: the decided amount less what went to store credit
    because the card could not take it back (the part of the order paid with credit)."""
    credited = (
        select(CreditEntry.return_id, func.sum(CreditEntry.amount_cents).label("cents"))
        .where(CreditEntry.reason == "return_refund", CreditEntry.amount_cents > 0)
        .group_by(CreditEntry.return_id)
        .subquery()
    )
    to_card = func.coalesce(ReturnRequest.amount_cents, 0) - func.coalesce(credited.c.cents, 0)
    rows = session.execute(
        select(ReturnRequest.refund_status, func.count(), func.sum(to_card))
        .outerjoin(credited, credited.c.return_id == ReturnRequest.id)
        .where(cohort, ReturnRequest.disposition == "REFUND", to_card > 0)
        .where(ReturnRequest.refund_status.in_(REFUND_STATUSES))
        .group_by(ReturnRequest.refund_status)
    ).all()
    found = {str(s): (int(n), int(c or 0)) for s, n, c in rows}
    return tuple(Count(s, _words(s), *found.get(s, (0, 0))) for s in REFUND_STATUSES)


def store_credit(session: Session, cohort: ColumnElement[bool]) -> tuple[Count, ...]:
    rows = session.execute(
        select(CreditEntry.reason, func.count(), func.sum(CreditEntry.amount_cents))
        .join(ReturnRequest, ReturnRequest.id == CreditEntry.return_id)
        .where(cohort, CreditEntry.amount_cents > 0)
        .group_by(CreditEntry.reason)
    ).all()
    found = {str(r): (int(n), int(c or 0)) for r, n, c in rows}
    reasons = [*CREDIT_REASONS, *sorted(set(found) - set(CREDIT_REASONS))]
    return tuple(Count(r, CREDIT_REASONS.get(r, _words(r)), *found.get(r, (0, 0))) for r in reasons)
