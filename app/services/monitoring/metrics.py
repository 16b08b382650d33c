"""The business numbers behind `GET /metrics`, read from the database at scrape time.

Counting rows when Prometheus asks (every 15 s or so) keeps the numbers exact across any
number of web processes and hosts, where counters bumped in process would each see a share.
Every query is a GROUP BY over an indexed status column (or a sum over sale items).

Feed rows are summed over the imports that landed; each partner's feed freshness is read
from its row (seconds since its last import landed, and whether it is flagged stale).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.models.flash_sales import FlashHold, FlashSale, FlashSaleItem, SaleState
from app.models.orders import Order, OrderStatus
from app.models.returns import ReturnRequest
from app.services.feeds import Freshness, feed_freshness, feed_rows_by_outcome, list_partners
from app.services.flash_sales.lifecycle import live_hold_filter

# Refund outcomes a return can record (returns.refund_status; NULL means no refund due).
REFUND_STATUSES = ("pending", "succeeded", "failed")


@dataclass(frozen=True)
class BusinessMetrics:
    """Plain counts, label value -> number; known label values are present with 0."""

    orders_by_status: dict[str, int]
    returns_by_state: dict[str, int]
    refunds_by_status: dict[str, int]
    flash_units_sold_by_sale_state: dict[str, int]
    flash_units_held: int
    feed_rows_by_outcome: dict[str, int]
    feed_freshness: list[Freshness]


def read_business_metrics(session: Session, *, now: datetime) -> BusinessMetrics:
    """Count orders, returns, refunds and flash-sale units as they stand at `now`.

    Read-only: nothing is written and nothing is raised beyond driver errors. Refunds are
    counted from each return's `refund_status`, not from the outbox: a refund finance
    retries gets a second outbox message, so the outbox would count it twice.
    """
    orders = select(Order.status, func.count()).group_by(Order.status)
    returns = select(ReturnRequest.state, func.count()).group_by(ReturnRequest.state)
    refunds = (
        select(ReturnRequest.refund_status, func.count())
        .where(ReturnRequest.refund_status.is_not(None))
        .group_by(ReturnRequest.refund_status)
    )
    sold = (
        select(FlashSale.state, func.sum(FlashSaleItem.sold))
        .join(FlashSaleItem, FlashSaleItem.sale_id == FlashSale.id)
        .group_by(FlashSale.state)
    )
    held = session.scalar(
        select(func.coalesce(func.sum(FlashHold.quantity), 0)).where(live_hold_filter(now))
    )
    return BusinessMetrics(
        orders_by_status=_by_label(session, orders, OrderStatus),
        returns_by_state=_by_label(session, returns),
        refunds_by_status=_by_label(session, refunds, REFUND_STATUSES),
        flash_units_sold_by_sale_state=_by_label(session, sold, SaleState),
        flash_units_held=int(held or 0),
        feed_rows_by_outcome=feed_rows_by_outcome(session),
        feed_freshness=[feed_freshness(p, now=now) for p in list_partners(session)],
    )


def _by_label(
    session: Session, query: Select[Any, Any], known: Iterable[str] = ()
) -> dict[str, int]:
    """The query's (label, number) rows as a dict, every `known` label present (0 if absent)."""
    counts = dict.fromkeys((str(name) for name in known), 0)
    for label, number in session.execute(query):
        counts[str(label)] = int(number or 0)
    return counts
