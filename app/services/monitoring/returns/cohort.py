"""Returns analytics, the cohorts: figures over the returns opened in the range, each query
filtered by the caller's `cohort` clause on `created_at` (their dispositions, returns by
product category and reason, refunds to the card by status, store credit by ledger reason),
and the most returned products over the orders placed in the range: the units those orders
sold and the units returned from those same orders, whenever, so that the return rate
compares like with like.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
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
from app.services.returns import REASONS, open_filter

COMPLETED = "COMPLETED"  # the workflow's core end state (CONTRACT §3.4)


def dispositions(session: Session, cohort: ColumnElement[bool]) -> tuple[Count, ...]:
    """Returns of the cohort per disposition, most first; the undecided ones last."""
    rows = session.execute(
        select(ReturnRequest.disposition, func.count())
        .where(cohort)
        .group_by(ReturnRequest.disposition)
    ).all()
    counts = [Count(d or "", _words(d) if d else "Not decided yet", int(n)) for d, n in rows]
    return tuple(sorted(counts, key=lambda c: (not c.key, -c.count, c.key)))


def _words(code: str) -> str:
    """A code as words for a label: `STORE_CREDIT` -> "Store credit"."""
    return code.replace("_", " ").capitalize()


def products(session: Session, start: datetime, end: datetime) -> tuple[ProductReturns, ...]:
    """The TOP_PRODUCTS products with the most units returned from the orders placed in the
    range, beside the units those same orders sold: paid orders (replacements are not
    sales), their return lines whenever opened, less those of cancelled or rejected returns
    (which give the units back to return, as `already_returned` counts them). A return
    never takes more units from an order line than it sold, so no rate passes 100%."""
    sold_in_range = (
        Order.created_at >= start,
        Order.created_at < end,
        Order.status == OrderStatus.PAID,
        Order.kind != "replacement",
    )
    returned = (
        select(ReturnLine.order_line_id, func.sum(ReturnLine.quantity).label("units"))
        .join(ReturnRequest, ReturnRequest.id == ReturnLine.return_id)
        .join(Order, Order.id == ReturnRequest.order_id)
        .where(*sold_in_range, or_(ReturnRequest.state == COMPLETED, open_filter(session)))
        .group_by(ReturnLine.order_line_id)
        .subquery()
    )
    units = func.sum(returned.c.units)
    rows = session.execute(
        select(Product.sku, Product.name, Product.category, units, func.sum(OrderLine.quantity))
        .select_from(OrderLine)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Product, Product.id == OrderLine.product_id)
        .outerjoin(returned, returned.c.order_line_id == OrderLine.id)
        .where(*sold_in_range)
        .group_by(OrderLine.product_id, Product.sku, Product.name, Product.category)
        .having(units > 0)
        .order_by(units.desc(), OrderLine.product_id)
        .limit(TOP_PRODUCTS)
    ).all()
    return tuple(
        ProductReturns(sku, name, category, int(n), int(sold))
        for sku, name, category, n, sold in rows
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
    """Store credit given for the cohort's returns per ledger reason: entries and cents."""
    rows = session.execute(
        select(CreditEntry.reason, func.count(), func.sum(CreditEntry.amount_cents))
        .join(ReturnRequest, ReturnRequest.id == CreditEntry.return_id)
        .where(cohort, CreditEntry.amount_cents > 0)
        .group_by(CreditEntry.reason)
    ).all()
    found = {str(r): (int(n), int(c or 0)) for r, n, c in rows}
    reasons = [*CREDIT_REASONS, *sorted(set(found) - set(CREDIT_REASONS))]
    return tuple(Count(r, CREDIT_REASONS.get(r, _words(r)), *found.get(r, (0, 0))) for r in reasons)
