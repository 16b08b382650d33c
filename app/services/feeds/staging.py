"""Staging: read the feed once, compare each row with the partner's product, and write down
what would change (`feed_changes`) and what was refused (`feed_rejections`).

Nothing in `products` is touched here, so a dry run is staging alone, the change guard can
weigh the whole run before anything lands, and an admin approves exactly the diff shown.
A partner with nothing on sale when its import starts has nothing for the guard to weigh:
such an import (a first one, typically the largest) writes each batch's products as it
stages it (`Run.direct`), and keeps no diff.

Each batch commits with the import's progress (`staged_rows`) and counters, so a run that
stops resumes after its last committed batch: rows up to `staged_rows` are read again only
to remember their skus.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.db import transaction
from app.feeds import FeedRow, ParsedRow, RowProblem
from app.models.catalog import Product
from app.models.feeds import FeedChange, FeedImport, FeedRejection
from app.services.feeds.applying import apply_batch
from app.services.feeds.runs import Run

PRODUCT_FIELDS = ("name", "price_cents", "stock", "description", "category", "image_url")
# A new product's value for a field its row does not send.
CREATE_DEFAULTS: dict[str, Any] = {"stock": 0, "description": "", "category": "", "image_url": None}


def row_hash(row: FeedRow) -> str:
    """The row's content, hashed: an identical row has the same hash, whatever its cells'
    spelling (`"19.99"` and `1999` cents alike)."""
    values = (row.sku, row.name, *(getattr(row, name) for name in PRODUCT_FIELDS[1:]))
    # A tuple's repr quotes its text and tells None, numbers and text apart: unambiguous.
    payload = repr(values).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


def row_values(row: FeedRow) -> dict[str, Any]:
    """The product fields the row sends (None: not sent, keep the product's)."""
    return {name: getattr(row, name) for name in PRODUCT_FIELDS if getattr(row, name) is not None}


@dataclass
class Tally:
    """One batch's counts, added to the import's when the batch commits."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    price_changes: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, import_id: int, parsed: ParsedRow, problems: Iterable[RowProblem]) -> None:
        self.rejected += 1
        self.rejections.append(
            {
                "import_id": import_id,
                "row": parsed.row,
                "sku": parsed.sku[:200] if parsed.sku else None,
                "problems": json.dumps([[p.field, p.message] for p in problems]),
                "cells": json.dumps(parsed.cells, ensure_ascii=False),
            }
        )


def stage_rows(run: Run, rows: Iterator[ParsedRow]) -> set[str]:
    """Stage every row after `record.staged_rows`, batch by batch; the skus the feed names
    (every row's, refused or not), which a complete feed's drops are computed from."""
    seen: dict[str, int] = {}
    known = known_products(run.session, run.record.partner_id)
    batch: list[tuple[ParsedRow, int | None]] = []
    for parsed in rows:
        first = seen.setdefault(parsed.sku, parsed.row) if parsed.sku else None
        if parsed.row <= run.record.staged_rows:
            continue
        batch.append((parsed, first))
        if len(batch) >= run.batch_size:
            stage_batch(run, batch, known)
            batch = []
    if batch:
        stage_batch(run, batch, known)
    return set(seen)


Known = dict[str, tuple[int, str | None, bool]]


def known_products(session: Session, partner_id: int) -> Known:
    """The partner's products as sku -> (id, feed hash, on sale), read once per run: one
    query, where a lookup per batch would cost a query each (and, on a table the planner
    has no statistics for yet, a scan each)."""
    query = select(Product.sku, Product.id, Product.feed_hash, Product.active).where(
        Product.partner_id == partner_id
    )
    known = {
        sku: (product_id, digest, active)
        for sku, product_id, digest, active in session.execute(query)
    }
    session.commit()
    return known


def stage_batch(run: Run, batch: list[tuple[ParsedRow, int | None]], known: Known) -> None:
    """Compare one batch of rows with the products and commit what it found, with progress."""
    session, record = run.session, run.record
    tally = Tally()
    good: list[tuple[ParsedRow, FeedRow]] = []
    for parsed, first in batch:
        if parsed.feed_row is None:
            tally.reject(record.id, parsed, parsed.problems)
        elif first is not None and first != parsed.row:
            problem = RowProblem("sku", f"appears again (first at row {first}); send each once")
            tally.reject(record.id, parsed, [problem])
        else:
            good.append((parsed, parsed.feed_row))
    _compare(session, record, good, known, tally)
    last_row = batch[-1][0].row
    with transaction(session):
        if tally.changes and run.direct:
            apply_batch(session, record.partner_id, tally.changes, {}, run.clock())
        elif tally.changes:
            session.execute(insert(FeedChange), tally.changes)
        if tally.rejections:
            session.execute(insert(FeedRejection), tally.rejections)
        counters = {
            name: getattr(FeedImport, name) + getattr(tally, name)
            for name in ("created", "updated", "unchanged", "rejected", "price_changes")
        }
        total = FeedImport.rows_total + len(batch)
        run.save(**counters, rows_total=total, staged_rows=last_row)


def _compare(
    session: Session,
    record: FeedImport,
    good: list[tuple[ParsedRow, FeedRow]],
    known: Known,
    tally: Tally,
) -> None:
    to_compare: list[tuple[ParsedRow, FeedRow, int, str]] = []
    for parsed, row in good:
        digest = row_hash(row)
        match = known.get(row.sku)
        if match is None:
            _stage_create(record, parsed, row, digest, tally)
        elif match[1] == digest:  # on sale, or taken off sale by an admin: it stays so
            tally.unchanged += 1
        else:
            to_compare.append((parsed, row, match[0], digest))
    if to_compare:
        _stage_updates(session, record, to_compare, tally)
        session.commit()  # the reads end here; the batch's write transaction begins afresh


def _stage_create(
    record: FeedImport, parsed: ParsedRow, row: FeedRow, digest: str, tally: Tally
) -> None:
    if row.price_cents is None:
        tally.reject(record.id, parsed, [RowProblem("price", "is required for a new product")])
        return
    data = {**CREATE_DEFAULTS, **row_values(row)}
    tally.created += 1
    tally.changes.append(_change(record, parsed.row, row.sku, "create", None, data, {}, digest))


def _stage_updates(
    session: Session,
    record: FeedImport,
    to_compare: list[tuple[ParsedRow, FeedRow, int, str]],
    tally: Tally,
) -> None:
    columns = [getattr(Product, name) for name in PRODUCT_FIELDS]
    current = {
        row.id: row
        for row in session.execute(
            select(Product.id, Product.active, Product.feed_hash, *columns).where(
                Product.id.in_([product_id for *_, product_id, _ in to_compare])
            )
        )
    }
    for parsed, row, product_id, digest in to_compare:
        product = current[product_id]
        data = row_values(row)
        diff = {
            name: [getattr(product, name), value]
            for name, value in data.items()
            if getattr(product, name) != value
        }
        # A product a feed dropped (its hash cleared) comes back when a feed names it again;
        # one an admin took off sale stays off, whatever the feed says.
        if not product.active and product.feed_hash is None:
            diff["active"] = [False, True]
        if not diff:
            tally.unchanged += 1  # the same values sent another way: nothing to write
            continue
        tally.updated += 1
        tally.price_changes += "price_cents" in diff
        changed = {name: data.get(name, True) for name in diff}
        tally.changes.append(
            _change(record, parsed.row, row.sku, "update", product_id, changed, diff, digest)
        )


def _change(
    record: FeedImport,
    row: int,
    sku: str,
    action: str,
    product_id: int | None,
    data: dict[str, Any],
    diff: dict[str, Any],
    digest: str | None,
) -> dict[str, Any]:
    return {
        "import_id": record.id,
        "row": row,
        "sku": sku,
        "action": action,
        "product_id": product_id,
        "data": json.dumps(data, ensure_ascii=False),
        "diff": json.dumps(diff, ensure_ascii=False),
        "hash": digest,
    }


def stage_drops(session: Session, record: FeedImport, seen: set[str]) -> list[dict[str, Any]]:
    """A complete feed's drops: the partner's products on sale that the feed no longer names."""
    on_sale = session.execute(
        select(Product.id, Product.sku).where(
            Product.partner_id == record.partner_id, Product.active.is_(True)
        )
    )
    return [
        _change(record, 0, sku, "drop", product_id, {}, {"active": [True, False]}, None)
        for product_id, sku in on_sale
        if sku not in seen
    ]


def count_on_sale(session: Session, partner_id: int) -> int:
    query = select(func.count()).where(Product.partner_id == partner_id, Product.active.is_(True))
    return int(session.scalar(query) or 0)
