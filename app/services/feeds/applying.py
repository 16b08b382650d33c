"""Applying: write an import's staged changes to `products`, one batch per transaction.

Each batch commits with `applied_through` (the last change written), so a run that stops
resumes after its last committed batch and no change is written twice. A partner's
products are only ever its own: every write is keyed by (partner, sku) or by a product id
staged from that key.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from app.db import transaction
from app.models.catalog import Product
from app.models.feeds import FeedChange
from app.services.catalog import catalog_changed
from app.services.feeds.runs import Run


def apply_changes(run: Run) -> None:
    """Write every staged change after `applied_through`, batch by batch."""
    session, record = run.session, run.record
    while True:
        changes = list(
            session.scalars(
                select(FeedChange)
                .where(FeedChange.import_id == record.id, FeedChange.id > record.applied_through)
                .order_by(FeedChange.id)
                .limit(run.batch_size)
            )
        )
        session.commit()
        if not changes:
            return
        now = run.clock()
        with transaction(session):
            _apply_batch(session, record.partner_id, changes, now)
            run.save(applied_through=changes[-1].id)
        catalog_changed()


def _apply_batch(
    session: Session, partner_id: int, changes: list[FeedChange], now: datetime
) -> None:
    creates = [change for change in changes if change.action == "create"]
    updates = [change for change in changes if change.action == "update"]
    drops = [change.product_id for change in changes if change.action == "drop"]
    if creates:
        # A product made since staging (an earlier import approved late) is updated instead.
        made = dict(
            session.execute(
                select(Product.sku, Product.id).where(
                    Product.partner_id == partner_id,
                    Product.sku.in_([change.sku for change in creates]),
                )
            ).all()
        )
        rows = []
        for change in creates:
            if change.sku in made:
                change.product_id = made[change.sku]
                updates.append(change)
            else:
                rows.append(_new_product(partner_id, change, now))
        if rows:
            session.execute(insert(Product), rows)
    _update_products(session, updates, now)
    if drops:
        session.execute(
            update(Product)
            .where(Product.id.in_(drops), Product.partner_id == partner_id)
            .values(active=False, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def _new_product(partner_id: int, change: FeedChange, now: datetime) -> dict[str, Any]:
    return {
        **json.loads(change.data),
        "sku": change.sku,
        "partner_id": partner_id,
        "feed_hash": change.hash,
        "active": True,
        "created_at": now,
        "updated_at": now,
    }


def _update_products(session: Session, updates: list[FeedChange], now: datetime) -> None:
    """Write each update's fields, grouped by which fields they set (one executemany each)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for change in updates:
        data = json.loads(change.data)
        values = {**data, "id": change.product_id, "feed_hash": change.hash}
        values.update(active=True, updated_at=now)
        groups[tuple(sorted(values))].append(values)
    for rows in groups.values():
        session.execute(update(Product), rows)
