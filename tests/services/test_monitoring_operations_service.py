"""`read_operations_metrics`: refund latency, store credit issued, oversold units and job
runs, each checked against traffic made by the test."""

from __future__ import annotations

from datetime import timedelta

from app.db import transaction, utcnow
from app.models.returns import OutboxMessage
from app.services.credit import grant_credit
from app.services.monitoring import read_operations_metrics, record_job_run
from tests.builders import make_product, make_user


def operations(session, now):
    session.expire_all()
    return read_operations_metrics(session, now=now)


def test_it_is_all_zero_on_an_empty_database(session):
    ops = operations(session, utcnow())
    assert (ops.refund_latency.count, ops.refund_latency.seconds) == (0, 0.0)
    assert ops.store_credit_issued_cents == {}
    assert ops.oversold_units == {"stock": 0, "flash_sale": 0}
    assert ops.job_runs == {}


def test_it_sums_the_time_from_decision_to_money_moved_of_done_refunds(session):
    decided = utcnow() - timedelta(minutes=10)
    with transaction(session):
        for key, seconds, status in (("a", 30, "done"), ("b", 90, "done"), ("c", 5, "pending")):
            session.add(
                OutboxMessage(
                    kind="refund",
                    idempotency_key=f"refund-{key}",
                    payload="{}",
                    status=status,
                    created_at=decided,
                    done_at=decided + timedelta(seconds=seconds) if status == "done" else None,
                )
            )
        session.add(
            OutboxMessage(
                kind="notification",
                idempotency_key="notice-a",
                payload="{}",
                status="done",
                created_at=decided,
                done_at=decided + timedelta(seconds=999),
            )
        )
    ops = operations(session, utcnow())
    assert (ops.refund_latency.count, ops.refund_latency.seconds) == (2, 120.0)


def test_it_sums_store_credit_issued_by_reason_and_leaves_spending_out(session):
    customer = make_user(session, "customer")
    admin = make_user(session, "admin")
    grant_credit(
        session, customer_id=customer.id, amount_cents=500, reason="goodwill", actor_id=admin.id
    )
    grant_credit(
        session, customer_id=customer.id, amount_cents=250, reason="goodwill", actor_id=admin.id
    )
    grant_credit(
        session, customer_id=customer.id, amount_cents=100, reason="demo", actor_id=admin.id
    )
    assert operations(session, utcnow()).store_credit_issued_cents == {"goodwill": 750, "demo": 100}


def test_it_counts_no_oversold_units_when_stock_is_sold_out(session):
    make_product(session, stock=0)
    assert operations(session, utcnow()).oversold_units == {"stock": 0, "flash_sale": 0}


def test_it_counts_job_runs_by_outcome_and_the_last_successs_age(session):
    now = utcnow()
    for minutes, outcome in ((10, "ok"), (4, "ok"), (1, "error")):
        record_job_run(
            session,
            job_id="returns.send_refunds",
            started_at=now - timedelta(minutes=minutes),
            duration_ms=5,
            handled=1,
            outcome=outcome,
        )
    ops = operations(session, now)
    assert ops.job_runs == {("returns.send_refunds", "ok"): 2, ("returns.send_refunds", "error"): 1}
    assert ops.job_last_success_age_seconds == {"returns.send_refunds": 240.0}
