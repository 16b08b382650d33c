"""Store credit: a ledger of entries; the balance is always their sum."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import transaction
from app.errors import ValidationError
from app.models.credit import CreditEntry
from app.models.users import User


def credit_balance(session: Session, customer_id: int) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount_cents), 0)).where(
            CreditEntry.customer_id == customer_id
        )
    )
    return int(total or 0)


def list_credit_entries(session: Session, customer_id: int) -> list[CreditEntry]:
    return list(
        session.scalars(
            select(CreditEntry)
            .where(CreditEntry.customer_id == customer_id)
            .order_by(CreditEntry.created_at.desc(), CreditEntry.id.desc())
        )
    )


def lock_customer(session: Session, customer_id: int) -> None:
    """Serialise credit spending per customer (row lock on PostgreSQL; SQLite has one writer)."""
    session.execute(select(User.id).where(User.id == customer_id).with_for_update())


def add_credit_entry(
    session: Session,
    *,
    customer_id: int,
    amount_cents: int,
    reason: str,
    order_id: int | None = None,
    return_id: int | None = None,
    created_by: int | None = None,
) -> CreditEntry:
    """Append one entry inside the caller's transaction; a spend may not overdraw."""
    if amount_cents < 0:
        lock_customer(session, customer_id)
        if credit_balance(session, customer_id) + amount_cents < 0:
            raise ValidationError({"store_credit_cents": "is more than your store credit balance"})
    entry = CreditEntry(
        customer_id=customer_id,
        amount_cents=amount_cents,
        reason=reason,
        order_id=order_id,
        return_id=return_id,
        created_by=created_by,
    )
    session.add(entry)
    return entry


def grant_credit(
    session: Session, *, customer_id: int, amount_cents: int, reason: str, actor_id: int | None
) -> CreditEntry:
    """Give a customer store credit (goodwill, demo data). One transaction."""
    if amount_cents <= 0:
        raise ValidationError({"amount_cents": "must be a positive integer"})
    with transaction(session):
        return add_credit_entry(
            session,
            customer_id=customer_id,
            amount_cents=amount_cents,
            reason=reason,
            created_by=actor_id,
        )
