"""Reading orders: a customer sees their own, staff see all; anyone else's is a 404."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from app.db import clean_text, contains, is_row_id
from app.errors import NotFound, ValidationError
from app.models.orders import Order, OrderStatus
from app.models.payments import Payment
from app.models.users import User
from app.services.pagination import Page, paginate


def list_orders(
    session: Session,
    viewer: User,
    *,
    status: str = "",
    q: str = "",
    customer_id: int | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page[Order]:
    """Newest first. Customers never see orders whose payment failed: they were not placed.
    Staff may narrow by status, by one customer, and by `q`: part of the order number or of
    the customer's username or name, any case."""
    query = select(Order).order_by(Order.created_at.desc(), Order.id.desc())
    if status and status not in set(OrderStatus):
        raise ValidationError({"status": f"must be one of {', '.join(OrderStatus)}"})
    if viewer.is_staff:
        if status:
            query = query.where(Order.status == status)
        if customer_id is not None:
            query = query.where(Order.customer_id == customer_id)
        if term := clean_text(q).strip():  # PostgreSQL refuses a NUL in a parameter
            query = query.where(_matching(term))
    else:
        query = query.where(
            Order.customer_id == viewer.id, Order.status != OrderStatus.PAYMENT_FAILED
        )
    return paginate(session, query, page=page, per_page=per_page)


def _matching(q: str) -> ColumnElement[bool]:
    """Orders whose number, or whose customer's username or name, contains `q`."""
    customers = select(User.id).where(or_(contains(User.username, q), contains(User.name, q)))
    return or_(contains(Order.number, q), Order.customer_id.in_(customers))


def get_order(session: Session, viewer: User, order_id: int) -> Order:
    """The order if the viewer may see it, else NotFound (never 'forbidden': no leak)."""
    order = session.get(Order, order_id) if is_row_id(order_id) else None
    if order is None or (not viewer.is_staff and order.customer_id != viewer.id):
        raise NotFound("no such order")
    if not viewer.is_staff and order.status == OrderStatus.PAYMENT_FAILED:
        raise NotFound("no such order")
    return order


def payment_for(session: Session, order_id: int) -> Payment | None:
    return session.scalars(select(Payment).where(Payment.order_id == order_id)).first()


def payments_for(session: Session, order_ids: list[int]) -> dict[int, Payment]:
    if not order_ids:
        return {}
    rows = session.scalars(select(Payment).where(Payment.order_id.in_(order_ids)))
    return {p.order_id: p for p in rows}
