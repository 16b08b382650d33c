"""What an import found, for people and for the partner: counts, rejected rows with their
reasons, the field-level diff, the rejected rows as a CSV to fix, and each feed's freshness."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.feeds import FeedChange, FeedImport, FeedRejection, Partner
from app.services.pagination import Page, paginate
from app.services.spreadsheets import csv_line, safe_cell

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection):
# such cells are written with a leading apostrophe, which shows as text.
CSV_BATCH = 1000
# A JSON feed may name new keys on every row: the download keeps the first this many.
MAX_CSV_COLUMNS = 200
# Polls in a row that must fail before a feed is flagged: one failure is retried soon.
STALE_AFTER_FAILURES = 3


@dataclass(frozen=True)
class RowError:
    row: int
    sku: str | None
    field: str
    message: str


def list_imports(
    session: Session, *, partner_id: int | None = None, page: int = 1, per_page: int = 20
) -> Page[FeedImport]:
    query = select(FeedImport).order_by(FeedImport.id.desc())
    if partner_id is not None:
        query = query.where(FeedImport.partner_id == partner_id)
    return paginate(session, query, page=page, per_page=per_page)


def latest_imports(session: Session) -> dict[int, FeedImport]:
    """Each partner's latest import, by partner id, in one query."""
    newest = select(func.max(FeedImport.id)).group_by(FeedImport.partner_id).scalar_subquery()
    found = session.scalars(select(FeedImport).where(FeedImport.id.in_(newest)))
    return {record.partner_id: record for record in found}


def import_errors(session: Session, import_id: int, *, limit: int) -> tuple[list[RowError], int]:
    """The first `limit` problems of the import's rejected rows (one per field), in row
    order, and how many problems there are in all."""
    errors: list[RowError] = []
    total = 0
    query = (
        select(FeedRejection.row, FeedRejection.sku, FeedRejection.problems)
        .where(FeedRejection.import_id == import_id)
        .order_by(FeedRejection.row)
    )
    for row, sku, problems in session.execute(query.execution_options(yield_per=CSV_BATCH)):
        for field, message in json.loads(problems):
            total += 1
            if len(errors) < limit:
                errors.append(RowError(row, sku, field, message))
    return errors, total


def list_rejections(
    session: Session, import_id: int, *, page: int = 1, per_page: int = 50
) -> Page[RowError]:
    """The rejected rows a page at a time, each problem a RowError."""
    query = (
        select(FeedRejection)
        .where(FeedRejection.import_id == import_id)
        .order_by(FeedRejection.row)
    )
    found = paginate(session, query, page=page, per_page=per_page)
    errors = [
        RowError(rejection.row, rejection.sku, field, message)
        for rejection in found.items
        for field, message in json.loads(rejection.problems)
    ]
    return Page(errors, found.total, found.page, found.per_page)


def list_changes(
    session: Session, import_id: int, *, page: int = 1, per_page: int = 50
) -> Page[dict[str, Any]]:
    """The staged changes a page at a time: sku, row, action and field -> [old, new]."""
    query = select(FeedChange).where(FeedChange.import_id == import_id).order_by(FeedChange.id)
    found = paginate(session, query, page=page, per_page=per_page)
    items = [
        {
            "row": change.row,
            "sku": change.sku,
            "action": change.action,
            "product_id": change.product_id,
            "diff": json.loads(change.diff) if change.action != "create" else {},
            "values": json.loads(change.data) if change.action == "create" else {},
        }
        for change in found.items
    ]
    return Page(items, found.total, found.page, found.per_page)


def rejected_rows_csv(session: Session, import_id: int) -> Iterator[str]:
    """The rejected rows as CSV text, a chunk at a time: the original columns (in the order
    first seen) and an `error` column, every cell safe to open in a spreadsheet."""
    query = (
        select(FeedRejection.problems, FeedRejection.cells)
        .where(FeedRejection.import_id == import_id)
        .order_by(FeedRejection.row)
    )
    columns: dict[str, None] = {}
    first_pass = select(FeedRejection.cells).where(FeedRejection.import_id == import_id)
    for (cells,) in session.execute(first_pass.execution_options(yield_per=CSV_BATCH)):
        for name in json.loads(cells):
            if len(columns) < MAX_CSV_COLUMNS:
                columns.setdefault(name)
    header = [*columns, "error"]
    yield csv_line([safe_cell(name) for name in header])
    for problems, cells in session.execute(query.execution_options(yield_per=CSV_BATCH)):
        values = json.loads(cells)
        reason = "; ".join(f"{field}: {message}" for field, message in json.loads(problems))
        yield csv_line(
            [safe_cell(str(values.get(name, ""))) for name in columns] + [safe_cell(reason)]
        )


@dataclass(frozen=True)
class Freshness:
    partner_id: int
    name: str
    last_success_at: datetime | None
    age_seconds: float | None
    stale: bool
    reason: str | None


def feed_freshness(partner: Partner, *, now: datetime) -> Freshness:
    """Is the partner's feed as fresh as expected? Stale when nothing has landed for longer
    than its `stale_after_minutes`, or when its last polls failed."""
    age = (now - partner.last_success_at).total_seconds() if partner.last_success_at else None
    limit = timedelta(minutes=partner.stale_after_minutes)
    reason = None
    if partner.poll_failures >= STALE_AFTER_FAILURES and partner.feed_url:
        reason = f"the last {partner.poll_failures} polls failed: {partner.last_poll_error}"
    elif age is None and now - partner.created_at > limit:
        reason = "no import has landed yet"
    elif age is not None and age > limit.total_seconds():
        reason = f"nothing has landed for {_duration(age)}"
    return Freshness(
        partner.id, partner.name, partner.last_success_at, age, reason is not None, reason
    )


def _duration(seconds: float) -> str:
    if seconds < 3600 * 2:
        return f"{int(seconds // 60)} minutes"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} hours"
    return f"{int(seconds // 86400)} days"


def feed_rows_by_outcome(session: Session) -> dict[str, int]:
    """Rows of every import that landed (dry runs excluded), by outcome."""
    names = ("created", "updated", "unchanged", "rejected", "dropped")
    sums = session.execute(
        select(*(func.coalesce(func.sum(getattr(FeedImport, name)), 0) for name in names)).where(
            FeedImport.status == "succeeded", FeedImport.dry_run.is_(False)
        )
    ).one()
    return {name: int(value) for name, value in zip(names, sums, strict=True)}
