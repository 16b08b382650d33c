"""The list shape of CONTRACT §3.1: items, total, page, per_page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def paginate(
    session: Session,
    query: Select[*tuple[Any, ...]],
    *,
    page: int,
    per_page: int,
    rows: bool = False,
    count_query: Select[*tuple[Any, ...]] | None = None,
    total: int | None = None,
) -> Page[Any]:
    """Run `query` for one page and count the whole result. Items are the first column's
    entities, or (with `rows`) tuples of every selected column. `count_query`, when given,
    selects the same rows more cheaply (without joins that cannot drop any) for the count;
    `total`, when the caller already knows it, replaces the count."""
    page = max(1, page)
    per_page = max(1, min(MAX_PER_PAGE, per_page))
    # Two queries on purpose: a window count (count(*) over ()) would make the database
    # build and sort every matching row to return one page; a plain count uses the index.
    found = session.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
    if page == 1 and len(found) < per_page:
        total = len(found)  # everything fits on the first page: no need to count
    elif total is None:
        counting = query if count_query is None else count_query
        counted = session.scalar(
            select(func.count()).select_from(counting.order_by(None).subquery())
        )
        total = int(counted or 0)
    items = [tuple(row) if rows else row[0] for row in found]
    return Page(items, total, page, per_page)
