"""Applying: write an import's staged changes to `products`, one batch per transaction.

Each batch commits with `applied_through` (the last change written), so a run that stops
resumes after its last committed batch and no change is written twice. A partner's
products are only ever its own: every write is keyed by (partner, sku) or by a product id
staged from that key.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from app.db import transaction
from app.models.catalog import Product
from app.models.feeds import FeedChange
from app.services.catalog import catalog_changed
from app.services.feeds.runs import Run

# Core statements on the table: a batch of plain rows needs none of the ORM's bookkeeping.
PRODUCTS: Table = Product.__table__  # type: ignore[assignment]
CHANGE_COLUMNS = (
    FeedChange.id,
    FeedChange.sku,
    FeedChange.action,
    FeedChange.product_id,
    FeedChange.data,
    FeedChange.hash,
)


def apply_changes(run: Run) -> None:
    """Write every staged change after `applied_through`, batch by batch."""
    session, record = run.session, run.record
    # Products made since staging (an earlier import approved late) turn creates into updates.
    query = select(Product.sku, Product.id).where(Product.partner_id == record.partner_id)
    made: dict[str, int] = dict(session.execute(query).all())
    while True:
        changes = (
            session.execute(
                select(*CHANGE_COLUMNS)
                .where(FeedChange.import_id == record.id, FeedChange.id > record.applied_through)
                .order_by(FeedChange.id)
                .limit(run.batch_size)
            )
            .mappings()
            .all()
        )
        session.commit()
        if not changes:
            return
        now = run.clock()
        with transaction(session):
            apply_batch(session, record.partner_id, changes, made, now)
            run.save(applied_through=changes[-1]["id"])
        catalog_changed()


def apply_batch(
    session: Session,
    partner_id: int,
    changes: Sequence[Mapping[Any, Any]],
    made: Mapping[str, int],
    now: datetime,
) -> None:
    """Write one batch of changes (mappings with sku, action, product_id, data, hash) in
    the caller's transaction. A create whose sku is in `made` updates that product."""
    creates = [change for change in changes if change["action"] == "create"]
    updates = [(change["product_id"], change) for change in changes if change["action"] == "update"]
    drops = [change["product_id"] for change in changes if change["action"] == "drop"]
    if creates:
        rows = []
        for change in creates:
            if change["sku"] in made:
                updates.append((made[change["sku"]], change))
            else:
                rows.append(_new_product(partner_id, change, now))
        if rows:
            session.execute(insert(PRODUCTS), rows)
    _update_products(session, updates, now)
    if drops:
        session.execute(
            update(Product)
            .where(Product.id.in_(drops), Product.partner_id == partner_id)
            .values(active=False, feed_hash=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def _new_product(partner_id: int, change: Mapping[Any, Any], now: datetime) -> dict[str, Any]:
    return {
        **json.loads(change["data"]),
        "sku": change["sku"],
        "partner_id": partner_id,
        "feed_hash": change["hash"],
        "active": True,
        "created_at": now,
        "updated_at": now,
    }


def _update_products(
    session: Session, updates: list[tuple[int, Mapping[Any, Any]]], now: datetime
) -> None:
    """Write each update's fields, grouped by which fields they set (one executemany each)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for product_id, change in updates:
        values = {**json.loads(change["data"]), "feed_hash": change["hash"]}
        values["updated_at"] = now
        groups[tuple(sorted(values))].append({**values, "product_id": product_id})
    for names, rows in groups.items():
        statement = (
            update(PRODUCTS)
            .where(PRODUCTS.c.id == bindparam("product_id"))
            .values({name: bindparam(name) for name in names})
        )
        session.execute(statement, rows)
