"""The returns outbox when someone else got there first, and the notices it renders."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text, update

from app.db import Database, utcnow
from app.models.returns import OutboxMessage, ReturnRequest
from app.payments import GatewayFailure, Payments
from app.services.returns import (
    MAX_REFUND_ATTEMPTS,
    LineRequest,
    complete_settled_returns,
    create_return,
    execute_refunds,
    render_notice,
)
from tests.builders import make_paid_order, make_product, make_user, walk_return


class RacedGateway:
    """Another worker finishes the message while this one waits for the gateway."""

    def __init__(self, db: Database, *, fail: bool) -> None:
        self.db = db
        self.fail = fail

    def refund(self, **kwargs: Any) -> str:
        with self.db.session() as other:
            other.execute(text("UPDATE outbox SET status = 'done' WHERE kind = 'refund'"))
            other.commit()
        if self.fail:
            raise GatewayFailure("timeout")
        return "re_raced"


@pytest.fixture
def processing(session, payments, customer):
    product = make_product(session, price_cents=900)
    order = make_paid_order(session, payments, customer, product, quantity=1)
    record = create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason="other",
        description="",
        lines=[LineRequest(order.lines[0].id, 1)],
        now=utcnow(),
    )
    staff = {role: make_user(session, role) for role in ("support", "warehouse", "finance")}
    walk_return(session, record.id, staff, customer, until="process")
    return record


def refund_status(session, return_id):
    session.expire_all()
    return session.get(ReturnRequest, return_id).refund_status


def test_it_leaves_a_refund_another_worker_settled_alone(db, session, payments, processing):
    raced = Payments(gateway=RacedGateway(db, fail=False), breaker=payments.breaker)
    assert execute_refunds(session, raced, now=utcnow()) == 0
    assert refund_status(session, processing.id) == "pending"  # the other worker's to write


def test_it_does_not_fail_a_refund_another_worker_settled(db, session, payments, processing):
    session.execute(update(OutboxMessage).values(attempts=MAX_REFUND_ATTEMPTS - 1))
    session.commit()
    raced = Payments(gateway=RacedGateway(db, fail=True), breaker=payments.breaker)
    assert execute_refunds(session, raced, now=utcnow()) == 0
    assert refund_status(session, processing.id) == "pending"
    session.expire_all()
    message = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "refund")).one()
    assert (message.status, message.attempts, message.last_error) == (
        "done",
        MAX_REFUND_ATTEMPTS,
        "timeout",
    )


def test_it_skips_a_settled_return_that_cannot_complete(session, payments, customer):
    product = make_product(session)
    order = make_paid_order(session, payments, customer, product, quantity=1)
    record = create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason="other",
        description="",
        lines=[LineRequest(order.lines[0].id, 1)],
        now=utcnow(),
    )
    session.execute(
        update(ReturnRequest).where(ReturnRequest.id == record.id).values(refund_status="succeeded")
    )
    session.commit()
    assert complete_settled_returns(session, now=utcnow()) == 0
    session.expire_all()
    assert session.get(ReturnRequest, record.id).state == "VALIDATING"


def test_it_words_each_notice_for_the_customer():
    subject, body = render_notice({"number": "RMA-1", "state": "APPROVED", "note": "Use box"})
    assert subject == "Your return RMA-1 was approved: please ship the items back"
    assert body == subject + ".\n\nNote from our team: Use box"
    assert render_notice({"number": "RMA-2", "state": "INSPECTING"}) == (
        "Your return RMA-2 was updated",
        "Your return RMA-2 was updated.",
    )
