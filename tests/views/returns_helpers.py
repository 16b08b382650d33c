"""Builders for the return page tests: a paid order, a return opened on it, staff per team,
small images, and the CSRF-carrying form posts a browser would send."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models.orders import Order
from app.models.returns import ReturnRequest
from app.models.users import User
from app.services.returns import LineRequest, create_return
from tests.builders import make_paid_order, make_product, make_user, walk_return

HX = {"HX-Request": "true"}
STAMP = re.compile(r'hx-get="/(?:staff/)?returns/\d+\?seen=([^"]+)"')


def make_team(session: Session) -> dict[str, User]:
    """One member of each staff team."""
    return {
        "support": make_user(session, "support", username="sam"),
        "warehouse": make_user(session, "warehouse", username="wes"),
        "finance": make_user(session, "finance", username="fran"),
    }


def paid_order(
    app: Flask,
    session: Session,
    customer: User,
    *,
    quantity: int = 2,
    price: int = 2500,
    name: str = "Teapot",
) -> Order:
    product = make_product(session, name=name, price_cents=price, stock=20)
    return make_paid_order(
        session, app.extensions["backroom.payments"], customer, product, quantity
    )


def open_return(
    app: Flask,
    session: Session,
    customer: User,
    *,
    quantity: int = 1,
    bought: int = 2,
    reason: str = "damaged",
    order: Order | None = None,
) -> ReturnRequest:
    """A return (now VALIDATING) of `quantity` units of a fresh paid order."""
    order = order or paid_order(app, session, customer, quantity=bought)
    return create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason=reason,
        description="The lid is cracked.",
        lines=[LineRequest(order.lines[0].id, quantity)],
        now=utcnow(),
    )


def refund_failed(
    app: Flask, session: Session, customer: User, team: dict[str, User]
) -> ReturnRequest:
    """A return decided as a refund, in processing, whose card refund failed: finance's
    queue offers to retry it."""
    record = open_return(app, session, customer)
    walk_return(session, record.id, team, customer, until="process", disposition="REFUND")
    session.execute(
        update(ReturnRequest).where(ReturnRequest.id == record.id).values(refund_status="failed")
    )
    session.commit()
    return record


def age(session: Session, record: ReturnRequest, *, hours: float, sla_hours: float) -> None:
    """Pretend the return entered its state `hours` ago with an SLA of `sla_hours`."""
    entered = utcnow() - timedelta(hours=hours)
    session.execute(
        update(ReturnRequest)
        .where(ReturnRequest.id == record.id)
        .values(state_entered_at=entered, sla_due_at=entered + timedelta(hours=sla_hours))
    )
    session.commit()


def post(client: FlaskClient, path: str, token: str, htmx: bool = False, **data: Any) -> Any:
    return client.post(path, data={"csrf_token": token, **data}, headers=HX if htmx else {})


def stamp_of(html: str) -> str:
    match = STAMP.search(html)
    assert match, "the live region must poll with its stamp"
    return match.group(1)
