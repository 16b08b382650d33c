"""Stock moves by conditional atomic updates only: never below zero, never lost.

The statements are built once: they run on every order, and building SQLAlchemy
statements per call costs more than executing them.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from app.models.catalog import Product

_products = cast(Table, Product.__table__)
_TAKE = (
    update(_products)
    .where(_products.c.id == bindparam("pid"), _products.c.stock >= bindparam("qty"))
    .values(stock=_products.c.stock - bindparam("qty"))
)
_GIVE_BACK = (
    update(_products)
    .where(_products.c.id == bindparam("pid"))
    .values(stock=_products.c.stock + bindparam("qty"))
)


def take_stock(session: Session, wanted: dict[int, int]) -> list[int]:
    """Decrement stock for each product, in id order, only where enough is left.

    Runs inside the caller's transaction. Returns the products that were short; the caller
    must then roll back. Id order keeps concurrent multi-line carts from deadlocking on
    PostgreSQL, where each conditional update also takes the row lock.
    """
    conn = session.connection()
    short = []
    for pid in sorted(wanted):
        if conn.execute(_TAKE, {"pid": pid, "qty": wanted[pid]}).rowcount != 1:
            short.append(pid)
    return short


def give_back_stock(session: Session, quantities: dict[int, int]) -> None:
    """Return units to stock inside the caller's transaction (a failed or cancelled sale)."""
    conn = session.connection()
    for pid in sorted(quantities):
        conn.execute(_GIVE_BACK, {"pid": pid, "qty": quantities[pid]})
