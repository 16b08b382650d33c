"""What the racing threads and processes run, and the invariants checked afterwards.

A plain module (not a test module) so `spawn`ed processes can import it cheaply.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from app import build_payments
from app.config import Config
from app.db import Database, transaction
from app.errors import DomainError
from app.models.catalog import Product
from app.models.credit import CreditEntry
from app.models.orders import Order, OrderLine
from app.models.payments import Payment
from app.models.users import User
from app.payments import Payments
from app.services.orders import LineRequest, place_order

CARD = "4242424242424242"


def seed(url: str, *, customers: int, stocks: Sequence[int]) -> tuple[list[int], list[int]]:
    """Customers and products straight into the tables (hashing passwords is not the point)."""
    database = Database(url, pool_size=2)
    try:
        with database.session() as session, transaction(session):
            users = [
                User(username=f"buyer{i}", password_hash="-", role="customer", email="")
                for i in range(customers)
            ]
            products = [
                Product(sku=f"P{i}", name=f"Product {i}", price_cents=100, stock=s)
                for i, s in enumerate(stocks)
            ]
            session.add_all(users + products)
            session.flush()
            return [u.id for u in users], [p.id for p in products]
    finally:
        database.dispose()


def payments_for(database: Database, latency: float = 0.002) -> Payments:
    payments = build_payments(Config(), database, None)
    payments.gateway.latency_seconds = latency  # type: ignore[attr-defined]
    return payments


def attempt(
    database: Database,
    payments: Payments,
    customer_id: int,
    lines: Sequence[tuple[int, int]],
    *,
    credit: int = 0,
) -> str:
    """Place one order; the outcome as a word: 'paid' or the error code."""
    session = database.session()
    try:
        place_order(
            session,
            payments,
            customer_id=customer_id,
            lines=[LineRequest(pid, qty) for pid, qty in lines],
            card_number=CARD,
            store_credit_cents=credit,
        )
        return "paid"
    except DomainError as exc:
        return exc.code
    except Exception as exc:  # a deadlock or driver error is exactly what must not happen
        return f"crash:{type(exc).__name__}:{exc}"[:300]
    finally:
        session.close()


def process_buyer(
    url: str, worker: int, jobs: list[tuple[int, list[tuple[int, int]]]], barrier: Any, out: Any
) -> None:
    """One OS process: its own engine, then every purchase in `jobs` as fast as it can."""
    database = Database(url, pool_size=2)
    payments = payments_for(database)
    results: list[str] = []
    try:
        barrier.wait(30)
        for customer_id, lines in jobs:
            results.append(attempt(database, payments, customer_id, lines))
    finally:
        out.put((worker, results))
        database.dispose()


def ledger(url: str, product_ids: Sequence[int]) -> dict[str, Any]:
    """What the database says after the race, for the invariant checks."""
    database = Database(url, pool_size=2)
    try:
        with database.session() as session:
            stock = dict(session.execute(select(Product.id, Product.stock)).all())
            statuses = Counter(session.scalars(select(Order.status)).all())
            paid_qty = Counter()
            rows = session.execute(
                select(OrderLine.product_id, func.sum(OrderLine.quantity))
                .join(Order, Order.id == OrderLine.order_id)
                .where(Order.status == "paid")
                .group_by(OrderLine.product_id)
            ).all()
            for pid, qty in rows:
                paid_qty[pid] = int(qty)
            paid_without_lines = session.scalar(
                select(func.count())
                .select_from(Order)
                .where(Order.status == "paid", ~Order.lines.any())
            )
            paid_without_payment = session.scalar(
                select(func.count())
                .select_from(Order)
                .join(Payment, Payment.order_id == Order.id)
                .where(Order.status == "paid", Payment.status.notin_(["succeeded", "not_required"]))
            )
            negative_credit = session.scalar(
                select(func.count()).select_from(
                    select(CreditEntry.customer_id)
                    .group_by(CreditEntry.customer_id)
                    .having(func.sum(CreditEntry.amount_cents) < 0)
                    .subquery()
                )
            )
            return {
                "stock": {pid: stock[pid] for pid in product_ids},
                "statuses": statuses,
                "paid_qty": {pid: paid_qty.get(pid, 0) for pid in product_ids},
                "paid_without_lines": paid_without_lines,
                "paid_without_payment": paid_without_payment,
                "negative_credit": negative_credit,
            }
    finally:
        database.dispose()


def assert_conserved(state: dict[str, Any], initial: dict[int, int]) -> None:
    """No overselling, no lost units, no half-written orders."""
    for pid, start in initial.items():
        assert state["stock"][pid] >= 0, state
        assert state["paid_qty"][pid] + state["stock"][pid] == start, state
    assert state["statuses"].get("pending_payment", 0) == 0, state
    assert state["paid_without_lines"] == 0, state
    assert state["paid_without_payment"] == 0, state
    assert state["negative_credit"] == 0, state
