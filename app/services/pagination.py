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
) -> Page[Any]:
    """Run `query` for one page and count the whole result. Items are the first column's
    entities, or (with `rows`) tuples of every selected column."""
    page = max(1, page)
    per_page = max(1, min(MAX_PER_PAGE, per_page))
    # One round trip: the window count rides along with the page's rows.
    found = session.execute(
        query.add_columns(func.count().over().label("_total"))
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    if found:
        items = [tuple(row[:-1]) if rows else row[0] for row in found]
        return Page(items, int(found[0][-1]), page, per_page)
    if page == 1:
        return Page([], 0, page, per_page)
    # Past the last page: the rows are gone but the total is still worth telling.
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return Page([], total, page, per_page)
