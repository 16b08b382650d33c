"""Return jobs, each called twice with an explicit `now`: refunds, completion, notices."""

from __future__ import annotations

from sqlalchemy import func, select

from app.db import utcnow
from app.models.returns import Notice, OutboxMessage, ReturnRequest
from app.services.returns import LineRequest, create_return
from jobs.returns import complete_returns, deliver_notices, send_refunds
from tests.builders import make_paid_order, make_product, make_user, walk_return


def refund_in_processing(session, ctx, customer):
    product = make_product(session, stock=10, price_cents=2500)
    order = make_paid_order(session, ctx.payments, customer, product, quantity=2)
    record = create_return(
        session, customer=customer, order_id=order.id, reason="damaged", description="cracked",
        lines=[LineRequest(order.lines[0].id, 1)], now=utcnow(),
    )  # fmt: skip
    staff = {role: make_user(session, role) for role in ("support", "warehouse", "finance")}
    walk_return(session, record.id, staff, customer, until="process", disposition="REFUND")
    return record


def test_it_sends_a_refund_once_and_then_completes_it_once(session, ctx, customer):
    record = refund_in_processing(session, ctx, customer)
    now = utcnow()
    calls = ctx.payments.gateway.calls
    assert send_refunds(session, now, ctx) == 1
    assert send_refunds(session, now, ctx) == 0
    assert ctx.payments.gateway.calls == calls + 1
    assert complete_returns(session, now, ctx) == 1
    assert complete_returns(session, now, ctx) == 0
    session.expire_all()
    done = session.get(ReturnRequest, record.id)
    assert (done.state, done.refund_status) == ("COMPLETED", "succeeded")
    assert done.refund_reference.startswith("re_")


def test_it_delivers_each_notice_once(session, ctx, customer):
    refund_in_processing(session, ctx, customer)
    now = utcnow()
    pending = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "notification")
    )
    assert pending >= 3
    assert deliver_notices(session, now, ctx) == pending
    assert deliver_notices(session, now, ctx) == 0
    notices = session.scalars(select(Notice).where(Notice.customer_id == customer.id))
    subjects = [n.subject for n in notices]
    assert any("was approved" in s for s in subjects)
