"""Every scheduled job, called with an explicit `now`, twice: the second run changes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from app.db import utcnow
from app.models.catalog import Product
from app.models.monitoring import Heartbeat, JobRun, JobState, LogEvent, TrafficMinute
from app.models.orders import Order
from app.payments import Payments
from app.services.monitoring import SCHEDULER, record_job_run, record_job_state
from app.services.monitoring.traffic import BUCKETS, add_minutes
from app.services.orders import LineRequest, place_order
from jobs import schedule
from jobs.monitoring import beat_heartbeats, prune_job_runs, prune_logs, prune_request_minutes
from jobs.orders import reconcile_orders
from tests.builders import make_product
from tests.jobs import test_feeds_jobs as feeds_jobs
from tests.jobs import test_flash_sales_jobs as flash_jobs
from tests.jobs import test_returns_jobs as returns_jobs
from tests.services.conftest import Crash, CrashingGateway


def test_it_beats_the_scheduler_heartbeat_idempotently(session, ctx, client):
    assert client.get("/health").status_code == 503
    now = utcnow()
    assert beat_heartbeats(session, now, ctx) == 1
    assert beat_heartbeats(session, now, ctx) == 1
    session.expire_all()
    beats = session.scalars(select(Heartbeat)).all()
    assert [(b.name, b.beat_at, b.holder) for b in beats] == [(SCHEDULER, now, "test")]
    assert client.get("/health").status_code == 200


def test_it_moves_the_heartbeat_forward_on_each_beat(session, ctx):
    now = utcnow()
    beat_heartbeats(session, now - timedelta(minutes=1), ctx)
    beat_heartbeats(session, now, ctx)
    session.expire_all()
    assert session.get(Heartbeat, SCHEDULER).beat_at == now


def test_it_prunes_old_job_runs_once(session, ctx):
    now = utcnow()
    for days in (30, 8, 1):
        record_job_run(
            session,
            job_id="x.y",
            started_at=now - timedelta(days=days),
            duration_ms=1,
            handled=0,
            outcome="ok",
        )
    for job_id, days in (("gone.from_the_schedule", 8), ("still.scheduled", 0)):
        record_job_state(
            session,
            job_id=job_id,
            interval_seconds=5,
            started_at=now - timedelta(days=days),
            duration_ms=1.0,
            outcome="ok",
        )
    assert prune_job_runs(session, now, ctx) == 2
    assert prune_job_runs(session, now, ctx) == 0
    assert session.scalar(select(func.count()).select_from(JobRun)) == 1
    assert session.scalars(select(JobState.job_id)).all() == ["still.scheduled"]


def test_it_prunes_the_log_store_to_its_newest_lines_once(session, ctx):
    ctx = replace(ctx, config=replace(ctx.config, log_store_keep=1000))
    rows = [{"at": utcnow(), "level": "info", "message": f"line {n}"} for n in range(1003)]
    session.execute(insert(LogEvent), rows)
    session.commit()
    assert prune_logs(session, utcnow(), ctx) == 3
    assert prune_logs(session, utcnow(), ctx) == 0
    kept = session.scalars(select(LogEvent.message).order_by(LogEvent.id)).all()
    assert (len(kept), kept[0], kept[-1]) == (1000, "line 3", "line 1002")


def test_it_prunes_request_minutes_older_than_two_days_once(session, ctx):
    now = utcnow().replace(second=0, microsecond=0)
    add_minutes(
        session,
        [
            {"minute": minute, "area": "catalog", "status": "2xx", "count": 1, "seconds": 0.1}
            | dict.fromkeys(BUCKETS, 0)
            for minute in (now - timedelta(days=3), now - timedelta(days=1), now)
        ],
    )
    assert prune_request_minutes(session, now, ctx) == 1
    assert prune_request_minutes(session, now, ctx) == 0
    assert session.scalar(select(func.count()).select_from(TrafficMinute)) == 2


def leave_pending_order(session, ctx, customer, product, *, charged):
    crashing = Payments(
        gateway=CrashingGateway(ctx.payments.gateway, charge_first=charged),
        breaker=ctx.payments.breaker,
    )
    with pytest.raises(Crash):
        place_order(
            session,
            crashing,
            customer_id=customer.id,
            lines=[LineRequest(product.id, 2)],
            card_number="4242424242424242",
        )
    return session.scalars(select(Order).order_by(Order.id.desc())).first()


def test_it_reconciles_pending_orders_once(session, ctx, customer):
    product = make_product(session, stock=10)
    paid = leave_pending_order(session, ctx, customer, product, charged=True)
    unpaid = leave_pending_order(session, ctx, customer, product, charged=False)
    later = utcnow() + timedelta(seconds=ctx.config.order_pending_grace_seconds + 1)
    assert reconcile_orders(session, utcnow(), ctx) == 0
    assert reconcile_orders(session, later, ctx) == 2
    assert reconcile_orders(session, later, ctx) == 0
    session.expire_all()
    assert session.get(Order, paid.id).status == "paid"
    assert session.get(Order, unpaid.id).status == "payment_failed"
    assert session.get(Product, product.id).stock == 8


JOB_TESTS = {
    "monitoring.heartbeat": test_it_beats_the_scheduler_heartbeat_idempotently,
    "orders.reconcile": test_it_reconciles_pending_orders_once,
    "monitoring.prune_job_runs": test_it_prunes_old_job_runs_once,
    "monitoring.prune_logs": test_it_prunes_the_log_store_to_its_newest_lines_once,
    "monitoring.prune_traffic": test_it_prunes_request_minutes_older_than_two_days_once,
    "returns.send_refunds": returns_jobs.test_it_sends_a_refund_once_and_then_completes_it_once,
    "returns.complete": returns_jobs.test_it_sends_a_refund_once_and_then_completes_it_once,
    "returns.deliver_notices": returns_jobs.test_it_delivers_each_notice_once,
    "flash_sales.start": flash_jobs.test_it_starts_a_sale_at_its_start_and_only_once,
    "flash_sales.end": flash_jobs.test_it_ends_a_sale_at_its_end_and_gives_unsold_units_back_once,
    "flash_sales.expire_holds": flash_jobs.test_it_sweeps_expired_holds_once,
    "feeds.run_imports": feeds_jobs.test_it_runs_a_queued_import_once,
    "feeds.poll": feeds_jobs.test_it_polls_a_due_feed_once,
    "feeds.prune": feeds_jobs.test_it_clears_old_imports_details_once_and_keeps_their_counts,
}


def test_it_has_a_test_for_every_scheduled_job(ctx):
    jobs = schedule(ctx)
    assert {job.id for job in jobs} == set(JOB_TESTS)
    assert len({job.id for job in jobs}) == len(jobs)
    assert all(job.seconds > 0 for job in jobs)
    assert {job.id: job.func for job in jobs}["monitoring.heartbeat"] is beat_heartbeats
