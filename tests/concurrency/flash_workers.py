"""What racing flash-sale customers run (threads and spawned processes), and the checks.

A plain module (not a test module) so `spawn`ed processes can import it cheaply.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.db import Database, utcnow
from app.errors import DomainError
from app.models.catalog import Product
from app.models.flash_sales import FlashHold, FlashSaleItem
from app.models.orders import Order
from app.payments import Payments
from app.services.flash_sales import SaleItemInput, checkout_hold, create_sale, reserve
from tests.concurrency.workers import seed

TTL = 600


def seed_sale(url: str, *, customers: int, units: int, stock: int) -> tuple[list[int], int, int]:
    """Customers, one product and a live sale of `units` of it (limit 1 per customer)."""
    customer_ids, [product_id] = seed(url, customers=customers, stocks=[stock])
    database = Database(url, pool_size=2)
    try:
        with database.session() as session:
            now = utcnow()
            sale = create_sale(
                session,
                name="Stampede",
                starts_at=now - timedelta(seconds=1),
                ends_at=now + timedelta(hours=1),
                items=[SaleItemInput(product_id, 50, units, 1)],
                now=now,
            )
            return customer_ids, product_id, sale.id
    finally:
        database.dispose()


def try_reserve(
    database: Database, sale_id: int, product_id: int, customer_id: int, now: datetime | None = None
) -> str:
    """One reservation; 'held' or the error code (a crash is reported, never raised)."""
    session = database.session()
    try:
        reserve(session, sale_id=sale_id, product_id=product_id, customer_id=customer_id,
                quantity=1, now=now or utcnow(), ttl_seconds=TTL)  # fmt: skip
        return "held"
    except DomainError as exc:
        return exc.code
    except Exception as exc:
        return f"crash:{type(exc).__name__}:{exc}"[:300]
    finally:
        session.close()


def try_checkout(
    database: Database, payments: Payments, hold_id: int, customer_id: int, now: datetime
) -> str:
    session = database.session()
    try:
        checkout_hold(session, payments, hold_id=hold_id, customer_id=customer_id,
                      card_number="4242424242424242", now=now)  # fmt: skip
        return "paid"
    except DomainError as exc:
        return exc.code
    except Exception as exc:
        return f"crash:{type(exc).__name__}:{exc}"[:300]
    finally:
        session.close()


def process_reserver(
    url: str, worker: int, sale_id: int, product_id: int, customers: list[int],
    barrier: Any, out: Any,
) -> None:  # fmt: skip
    """One OS process: its own engine, then one reservation per customer, fast."""
    database = Database(url, pool_size=2)
    results: list[str] = []
    try:
        barrier.wait(30)
        results = [try_reserve(database, sale_id, product_id, c) for c in customers]
    finally:
        out.put((worker, results))
        database.dispose()


def sale_ledger(url: str, product_id: int, now: datetime) -> dict[str, int]:
    """Item counters, live holds, paid units and stock after the race."""
    database = Database(url, pool_size=2)
    try:
        with database.session() as session:
            item = session.scalars(select(FlashSaleItem)).one()
            live = session.scalar(
                select(func.coalesce(func.sum(FlashHold.quantity), 0)).where(
                    FlashHold.status == "held", FlashHold.expires_at > now
                )
            )
            converted = session.scalar(
                select(func.coalesce(func.sum(FlashHold.quantity), 0)).where(
                    FlashHold.status == "converted"
                )
            )
            paid = session.scalar(
                select(func.count()).select_from(Order).where(Order.status == "paid")
            )
            pending = session.scalar(
                select(func.count()).select_from(Order).where(Order.status == "pending_payment")
            )
            stock = session.scalar(select(Product.stock).where(Product.id == product_id))
            return {
                "quantity": item.quantity, "sold": item.sold, "live": int(live or 0),
                "converted": int(converted or 0), "paid": int(paid or 0),
                "pending": int(pending or 0), "stock": int(stock or 0),
            }  # fmt: skip
    finally:
        database.dispose()
