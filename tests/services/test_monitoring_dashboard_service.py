"""`read_dashboard` and the per-minute traffic behind it: each figure checked against
traffic the test makes (orders, refunds, returns, queues, live sales, jobs, requests)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import app.services.monitoring.traffic as traffic_module
from app.db import Base, Database, transaction, utcnow
from app.errors import PaymentDeclined
from app.models.returns import OutboxMessage, ReturnRequest
from app.services.credit import grant_credit
from app.services.flash_sales import SaleItemInput, checkout_hold, create_sale, reserve
from app.services.monitoring import read_dashboard, record_job_state
from app.services.monitoring.traffic import Traffic, read_traffic, status_kind
from app.services.orders import LineRequest, place_order
from app.services.returns import LineRequest as ReturnLine
from app.services.returns import (
    complete_settled_returns,
    create_return,
    execute_refunds,
    fire_return_trigger,
)
from tests.builders import make_paid_order, make_partner, make_product, make_user, walk_return

APPROVED, DECLINED = "4242424242424242", "4000000000000002"


def board(session, now=None):
    session.expire_all()
    return read_dashboard(session, now=now or utcnow())


def staff(session):
    return {role: make_user(session, role) for role in ("support", "warehouse", "finance")}


# --- traffic ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [(200, "2xx"), (101, "2xx"), (304, "3xx"), (404, "4xx"), (429, "429"), (503, "5xx")],
)
def test_it_files_each_status_under_its_kind_with_429_apart(code, kind):
    assert status_kind(code) == kind


def test_it_counts_requests_per_minute_by_status_and_area_from_every_process(session):
    now = datetime(2026, 12, 6, 15, 30, 20, tzinfo=UTC)
    at = now.timestamp()
    web1, web2 = Traffic(), Traffic()
    for _ in range(6):
        web1.record("catalog", 200, 0.003, at)
    web2.record("catalog", 200, 0.003, at)  # the same minute from another process: summed
    web2.record("orders", 503, 0.2, at)
    web2.record("users", 429, 0.001, at)
    web1.record("catalog", 404, 0.002, at - 120)  # two minutes ago
    web1.record("catalog", 200, 0.002, at - 3600)  # more than an hour ago: not drawn
    assert web1.flush(session) == 3
    assert web2.flush(session) == 3
    assert web1.flush(session) == 0  # nothing pending any more
    traffic = read_traffic(session, now=now)
    recent = traffic.last_5_minutes
    assert recent.by_status == {"2xx": 7, "3xx": 0, "4xx": 1, "429": 1, "5xx": 1}
    assert (recent.total, recent.failed) == (10, 3)
    assert recent.rate("5xx") == pytest.approx(0.1)
    assert recent.rate("4xx", "429", "5xx") == pytest.approx(0.3)
    assert traffic.per_minute[-1] == (9, 2)
    assert traffic.per_minute[-3] == (1, 1)
    assert sum(total for total, _ in traffic.per_minute) == 10
    assert [(a.area, a.ok, a.failed) for a in traffic.areas] == [
        ("catalog", 7, 1),
        ("orders", 0, 1),
        ("users", 0, 1),
    ]


def test_it_reads_percentiles_from_the_metrics_buckets_as_prometheus_does(session):
    now = datetime(2026, 12, 6, 15, 30, 20, tzinfo=UTC)
    traffic = Traffic()
    for _ in range(90):
        traffic.record("catalog", 200, 0.004, now.timestamp())  # bucket (2.5 ms, 5 ms]
    for _ in range(10):
        traffic.record("catalog", 200, 0.3, now.timestamp())  # bucket (250 ms, 500 ms]
    traffic.flush(session)
    window = read_traffic(session, now=now).last_5_minutes
    assert window.quantile(0.5) == pytest.approx(0.0025 + 0.0025 * 50 / 90)
    assert window.quantile(0.95) == pytest.approx(0.25 + 0.25 * 5 / 10)
    assert window.seconds == pytest.approx(90 * 0.004 + 10 * 0.3)


def test_it_draws_the_p95_of_each_minute_and_sums_the_hour(session):
    now = datetime(2026, 12, 6, 15, 30, 20, tzinfo=UTC)
    traffic = Traffic()
    for _ in range(20):
        traffic.record("catalog", 200, 0.004, now.timestamp())  # this minute: fast
        traffic.record("catalog", 200, 0.4, now.timestamp() - 600)  # 10 minutes ago: slow
    traffic.record("orders", 500, 0.002, now.timestamp() - 1800)  # half an hour ago
    traffic.flush(session)
    report = read_traffic(session, now=now)
    assert report.p95_per_minute[-1] == pytest.approx(0.0025 + 0.0025 * 19 / 20)
    assert report.p95_per_minute[-11] == pytest.approx(0.25 + 0.25 * 19 / 20)
    assert report.p95_per_minute[-31] == pytest.approx(0.001 + 0.0015 * 0.95)
    assert report.p95_per_minute[0] is None  # no requests that minute
    assert (report.last_5_minutes.total, report.last_hour.total) == (20, 41)
    assert report.last_hour.rate("5xx") == pytest.approx(1 / 41)
    assert report.last_hour.by_status["5xx"] == 1


def test_the_slowest_bucket_reads_as_its_lower_bound_and_no_traffic_as_none(session):
    now = datetime(2026, 12, 6, 15, 30, 20, tzinfo=UTC)
    assert read_traffic(session, now=now).last_5_minutes.quantile(0.99) is None
    assert read_traffic(session, now=now).last_5_minutes.rate("5xx") is None
    traffic = Traffic()
    traffic.record("catalog", 200, 30.0, now.timestamp())
    traffic.flush(session)
    assert read_traffic(session, now=now).last_5_minutes.quantile(0.99) == 10.0


class BrokenSession:
    def get_bind(self):
        raise RuntimeError("database is gone")


def test_counts_a_failed_write_could_not_store_are_kept_for_the_next_one(session):
    now = datetime(2026, 12, 6, 15, 30, 20, tzinfo=UTC)
    traffic = Traffic()
    traffic.record("catalog", 200, 0.003, now.timestamp())
    with pytest.raises(RuntimeError):
        traffic.flush(BrokenSession())  # type: ignore[arg-type]
    traffic.record("catalog", 200, 0.003, now.timestamp())
    assert traffic.flush(session) == 1
    assert read_traffic(session, now=now).last_5_minutes.total == 2


# --- business cards --------------------------------------------------------------------


def test_it_is_empty_and_calm_on_an_empty_shop(session):
    dashboard = board(session)
    assert (dashboard.sales.orders, dashboard.sales.revenue_cents) == (0, 0)
    assert dashboard.refunds.average_seconds is None
    assert (dashboard.returns.opened, dashboard.returns.open_now) == (0, 0)
    assert [(b.team, b.waiting, b.breached) for b in dashboard.backlogs] == [
        ("support", 0, 0),
        ("warehouse", 0, 0),
        ("finance", 0, 0),
    ]
    assert dashboard.orders_per_minute == [0] * 60
    assert dashboard.live_sales == []
    assert dashboard.feeds == []


def test_it_counts_orders_and_the_revenue_of_paid_ones_in_the_last_24_hours(session, payments):
    customer = make_user(session, "customer")
    product = make_product(session, price_cents=1250, stock=50)
    make_paid_order(session, payments, customer, product, quantity=2)
    make_paid_order(session, payments, customer, product, quantity=1)
    with pytest.raises(PaymentDeclined):
        place_order(
            session,
            payments,
            customer_id=customer.id,
            lines=[LineRequest(product.id, 1)],
            card_number=DECLINED,
        )
    dashboard = board(session)
    assert dashboard.sales.orders == 3
    assert dashboard.sales.paid == 2
    assert dashboard.sales.revenue_cents == 3 * 1250
    assert dashboard.sales.payment_failed == 1
    assert dashboard.orders_per_minute[-1] == 3
    assert sum(dashboard.orders_per_minute) == 3
    tomorrow = board(session, utcnow() + timedelta(hours=25))
    assert (tomorrow.sales.orders, tomorrow.orders_per_minute) == (0, [0] * 60)


def open_return(session, customer, order):
    return create_return(
        session,
        order_id=order.id,
        customer=customer,
        lines=[ReturnLine(order.lines[0].id, 1)],
        reason="damaged",
        description="Broken on arrival.",
        now=utcnow(),
    )


def test_it_counts_refunds_done_their_amount_and_time_and_returns_completed(session, payments):
    team = staff(session)
    customer = make_user(session, "customer")
    product = make_product(session, price_cents=2000, stock=50)
    refunded = open_return(session, customer, make_paid_order(session, payments, customer, product))
    waiting = open_return(session, customer, make_paid_order(session, payments, customer, product))
    credited = open_return(session, customer, make_paid_order(session, payments, customer, product))
    walk_return(session, refunded.id, team, customer, until="process")
    walk_return(session, credited.id, team, customer, until="process", disposition="STORE_CREDIT")
    queued = board(session)
    assert (queued.refunds.done, queued.refunds.waiting) == (0, 1)
    assert queued.refunds.store_credit_cents == 2000
    assert queued.returns.opened == 3
    decided_at = session.scalars(
        select(OutboxMessage.created_at).where(OutboxMessage.kind == "refund")
    ).one()
    sent_at = decided_at + timedelta(seconds=90)  # the gateway answers 90 s after the decision
    assert execute_refunds(session, payments, now=sent_at) == 1
    assert complete_settled_returns(session, now=sent_at) == 2
    dashboard = board(session, sent_at)
    assert dashboard.refunds.done == 1
    assert dashboard.refunds.amount_cents == 2000
    assert dashboard.refunds.waiting == 0
    assert dashboard.refunds.average_seconds == pytest.approx(90)
    assert dashboard.returns.completed == 2
    assert dashboard.returns.open_now == 1  # `waiting` is still with support
    assert sum(dashboard.returns_per_minute) == 3  # opened a minute and a half before
    assert waiting.state == "VALIDATING"


def test_store_credit_granted_by_hand_counts_and_spending_does_not(session):
    customer, admin = make_user(session, "customer"), make_user(session, "admin")
    grant_credit(
        session, customer_id=customer.id, amount_cents=700, reason="goodwill", actor_id=admin.id
    )
    assert board(session).refunds.store_credit_cents == 700


def test_it_shows_each_teams_backlog_with_breaches_and_the_oldest_wait(session, payments):
    customer = make_user(session, "customer")
    product = make_product(session, stock=50)
    late = open_return(session, customer, make_paid_order(session, payments, customer, product))
    open_return(session, customer, make_paid_order(session, payments, customer, product))
    now = utcnow()
    with transaction(session):
        record = session.get(ReturnRequest, late.id)
        assert record is not None
        record.sla_due_at = now - timedelta(hours=1)
        record.state_entered_at = now - timedelta(hours=30)
    support = board(session, now).backlogs[0]
    assert (support.team, support.waiting, support.breached) == ("support", 2, 1)
    assert support.oldest_seconds == pytest.approx(30 * 3600, abs=5)


def test_it_shows_live_sales_with_units_held_sold_and_still_available(session, payments):
    admin = make_user(session, "admin")
    buyer, holder = make_user(session, "customer"), make_user(session, "customer")
    product = make_product(session, stock=100)
    now = utcnow()
    sale = create_sale(
        session,
        name="Midnight madness",
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        items=[SaleItemInput(product.id, sale_price_cents=500, quantity=10, per_customer_limit=5)],
        now=now,
        created_by=admin.id,
    )
    hold = {"sale_id": sale.id, "product_id": product.id, "now": now, "ttl_seconds": 600}
    bought = reserve(session, customer_id=buyer.id, quantity=3, **hold)
    checkout_hold(
        session, payments, hold_id=bought.id, customer_id=buyer.id, card_number=APPROVED, now=now
    )
    reserve(session, customer_id=holder.id, quantity=2, **hold)
    [live] = board(session, now).live_sales
    assert (live.name, live.held, live.sold, live.available) == ("Midnight madness", 2, 3, 5)
    assert board(session, now + timedelta(minutes=11)).live_sales[0].held == 0  # hold expired


def test_job_health_shows_each_jobs_last_run_and_flags_one_that_missed_two_runs(session):
    now = utcnow()
    record_job_state(
        session,
        job_id="returns.send_refunds",
        interval_seconds=5,
        started_at=now - timedelta(seconds=3),
        duration_ms=12.0,
        outcome="ok",
    )
    record_job_state(
        session,
        job_id="flash_sales.start",
        interval_seconds=1,
        started_at=now - timedelta(seconds=60),
        duration_ms=2.0,
        outcome="ok",
    )
    record_job_state(
        session,
        job_id="orders.reconcile",
        interval_seconds=30,
        started_at=now - timedelta(seconds=10),
        duration_ms=40.0,
        outcome="error",
        error="OperationalError: locked",
    )
    jobs = {job.job_id: job for job in board(session, now).jobs}
    assert not jobs["returns.send_refunds"].stale
    assert jobs["returns.send_refunds"].duration_ms == 12.0
    assert jobs["flash_sales.start"].stale
    assert jobs["flash_sales.start"].age_seconds == pytest.approx(60)
    assert (jobs["orders.reconcile"].outcome, jobs["orders.reconcile"].error) == (
        "error",
        "OperationalError: locked",
    )
    record_job_state(
        session,
        job_id="orders.reconcile",
        interval_seconds=30,
        started_at=now,
        duration_ms=5.0,
        outcome="ok",
    )
    session.expire_all()
    again = {job.job_id: job for job in board(session, now).jobs}
    assert (again["orders.reconcile"].outcome, again["orders.reconcile"].error) == ("ok", None)


def test_it_lists_each_partners_feed_freshness(session):
    admin = make_user(session, "admin")
    partner, _key = make_partner(session, admin)
    [feed] = board(session).feeds
    assert (feed.partner_id, feed.stale, feed.age_seconds) == (partner.id, False, None)


def test_a_web_process_writes_its_counts_from_a_thread_every_few_seconds(tmp_path, caplog):
    database = Database(f"sqlite:///{tmp_path / 'traffic.db'}")
    try:
        traffic = Traffic()
        traffic.start_flushing(database, 0.05)
        traffic.start_flushing(database, 0.05)  # once per process: the second does nothing
        with caplog.at_level(logging.WARNING, logger="backroom.monitoring"):
            traffic.record("catalog", 200, 0.003)  # no table yet: kept, and said
            deadline = time.monotonic() + 5
            while "could not write request counts" not in caplog.text:
                assert time.monotonic() < deadline, "the writer never tried"
                time.sleep(0.02)
        Base.metadata.create_all(database.engine)
        traffic.record("catalog", 200, 0.003)
        session = database.session()
        try:
            deadline = time.monotonic() + 5
            while read_traffic(session, now=utcnow()).last_5_minutes.total < 2:
                assert time.monotonic() < deadline, "the counts never landed"
                time.sleep(0.05)
                session.rollback()  # a new read transaction sees what the writer committed
        finally:
            session.close()
    finally:
        database.dispose()


def test_replacement_orders_sent_for_returns_are_not_sales(session, payments):
    team = staff(session)
    customer = make_user(session, "customer")
    product = make_product(session, price_cents=1500, stock=50)
    opened = open_return(session, customer, make_paid_order(session, payments, customer, product))
    before = board(session)
    walk_return(session, opened.id, team, customer, until="process", disposition="REPLACEMENT")
    record = fire_return_trigger(
        session,
        opened.id,
        "complete",
        actor=team["warehouse"],
        fields={"tracking_number": "1Z999"},
        expected_version=None,
        now=utcnow(),
    )
    assert record.replacement_order_id is not None  # a replacement order was written
    after = board(session)
    assert (after.sales.orders, after.sales.paid, after.sales.revenue_cents) == (
        before.sales.orders,
        before.sales.paid,
        before.sales.revenue_cents,
    )
    assert after.orders_per_minute == before.orders_per_minute


def test_every_process_writes_its_counts_in_one_order(session, monkeypatch):
    """Upserts of the same rows in different orders deadlock on PostgreSQL: rows are written
    sorted by (minute, area, status), whatever order the requests came in."""
    written: list[list[tuple[object, object, object]]] = []

    def capture(session, rows):
        written.append([(row["minute"], row["area"], row["status"]) for row in rows])

    monkeypatch.setattr(traffic_module, "add_minutes", capture)
    at = datetime(2026, 12, 6, 15, 30, 20, tzinfo=UTC).timestamp()
    traffic = Traffic()
    for area, code, when in (("users", 200, at), ("catalog", 503, at), ("catalog", 200, at - 60)):
        traffic.record(area, code, 0.01, when)
    traffic.flush(session)
    [rows] = written
    assert rows == sorted(rows)
    assert [area for _, area, _ in rows] == ["catalog", "catalog", "users"]
