"""GET /monitoring/dashboard: staff and admins see the cards, the sparklines, queues, sales,
jobs and feeds; it refreshes itself with htmx; its request figures agree with /metrics."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

import views.monitoring.dashboard as dashboard_view
from app.db import utcnow
from app.services.monitoring import record_job_state
from tests.builders import make_paid_order, make_partner, make_product, make_user
from tests.conftest import sign_in


def figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">(.*?)</', html, re.S)
    assert found, f"no figure {name!r} on the page"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def area(html: str, name: str) -> tuple[int, int]:
    """(succeeded, failed) in the last hour's row of area `name`."""
    row = re.search(rf'<tr data-area="{name}">(.*?)</tr>', html, re.S)
    assert row, f"no row for area {name!r}"
    ok, failed = re.findall(r'<td class="num[^"]*" data-label="[^"]+">(\d+)</td>', row.group(1))
    return int(ok), int(failed)


def staff_client(app, session, role="support"):
    client = app.test_client()
    sign_in(client, make_user(session, role))
    return client


@pytest.mark.parametrize("role", ["support", "warehouse", "finance", "admin"])
def test_staff_and_admins_open_the_dashboard(app, session, role):
    response = staff_client(app, session, role).get("/monitoring/dashboard")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Monitoring</h1>" in html
    for title in ("Orders and revenue", "Refunds", "Returns", "Error rate", "Latency", "Health"):
        assert title in html
    assert 'hx-trigger="every 5s"' in html
    assert 'href="/monitoring/returns"' in html
    assert ('href="/monitoring/logs"' in html) == (role == "admin")  # logs are for admins


def test_customers_and_strangers_are_kept_out(app, client, session):
    assert client.get("/monitoring/dashboard").status_code == 302  # to the login page
    customer = app.test_client()
    sign_in(customer, make_user(session, "customer"))
    assert customer.get("/monitoring/dashboard").status_code == 403


def test_a_refresh_sends_only_the_region_it_swaps(app, session):
    response = staff_client(app, session).get(
        "/monitoring/dashboard", headers={"HX-Request": "true"}
    )
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="dashboard"')
    assert "<html" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_it_shows_the_days_orders_and_revenue(app, session):
    customer = make_user(session, "customer")
    product = make_product(session, price_cents=1999, stock=20)
    payments = app.extensions["backroom.payments"]
    make_paid_order(session, payments, customer, product, quantity=2)
    html = staff_client(app, session).get("/monitoring/dashboard").get_data(as_text=True)
    assert figure(html, "revenue") == "$39.98"
    assert figure(html, "orders") == "1"
    assert figure(html, "paid") == "1"
    assert 'aria-label="Orders per minute over the last hour: now 1, peak 1"' in html


def requests_counted(client) -> dict[tuple[str, str], float]:
    """/metrics' request counters by (endpoint, status), summed over methods."""
    counted: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        for sample in family.samples:
            if sample.name == "backroom_http_requests_total":
                key = (sample.labels["endpoint"], sample.labels["status"])
                counted[key] = counted.get(key, 0.0) + sample.value
    return counted


def test_its_request_figures_agree_with_metrics(app, session):
    """Known traffic: 3 catalog pages and 2 unknown pages (404) between two looks at the
    dashboard and two scrapes of /metrics (the counters are the process's, so deltas)."""
    client = staff_client(app, session, "admin")
    before = client.get("/monitoring/dashboard").get_data(as_text=True)
    scraped = requests_counted(client)
    for _ in range(3):
        assert client.get("/products").status_code == 200
    for _ in range(2):
        assert client.get("/no-such-page").status_code == 404
    rescraped = requests_counted(client)
    html = client.get("/monitoring/dashboard").get_data(as_text=True)
    delta = {k: v - scraped.get(k, 0.0) for k, v in rescraped.items() if v != scraped.get(k)}
    assert delta[("unknown", "404")] == 2
    # The dashboard saw everything /metrics counted, plus the first look and the rescrape.
    seen = int(figure(html, "requests-5min")) - int(figure(before, "requests-5min"))
    assert seen == sum(delta.values()) + 2
    assert figure(html, "rate-4xx").endswith("· 2")
    assert figure(html, "rate-5xx") == "0.0% · 0"
    assert area(html, "catalog") == (area(before, "catalog")[0] + 3, 0)
    assert figure(html, "p95") != "\u2013"  # an en dash: no requests


def test_instrumentation_off_counts_nothing(make_app, session):
    app = make_app(instrumentation=False)
    client = staff_client(app, session, "admin")
    scraped = requests_counted(client)
    for _ in range(3):
        client.get("/products")
    html = client.get("/monitoring/dashboard").get_data(as_text=True)
    assert figure(html, "requests-5min") == "0"
    assert requests_counted(client) == scraped


def test_it_shows_queues_with_breaches_jobs_and_feeds(app, session):
    now = utcnow()
    record_job_state(
        session,
        job_id="flash_sales.start",
        interval_seconds=1,
        started_at=now - timedelta(minutes=5),
        duration_ms=3.0,
        outcome="ok",
    )
    record_job_state(
        session,
        job_id="returns.send_refunds",
        interval_seconds=5,
        started_at=now,
        duration_ms=8.0,
        outcome="error",
        error="GatewayFailure: timeout",
    )
    admin = make_user(session, "admin")
    partner, _key = make_partner(session, admin, name="Acme Supplies")
    html = staff_client(app, session, "admin").get("/monitoring/dashboard").get_data(as_text=True)
    stale = re.search(r'<tr data-job="flash_sales.start">(.*?)</tr>', html, re.S)
    assert stale
    assert "Stale: missed two runs" in stale.group(1)
    failed = re.search(r'<tr data-job="returns.send_refunds">(.*?)</tr>', html, re.S)
    assert failed
    assert "Failed" in failed.group(1)
    assert "GatewayFailure: timeout" in failed.group(1)
    assert f'data-partner="{partner.id}"' in html
    assert "Acme Supplies" in html
    assert "nothing landed yet" in html
    assert '<tr data-team="support">' in html
    # Links keep their ids across refreshes, so keyboard focus survives the 5 s swap.
    assert 'id="dash-queue-support"' in html
    assert f'id="dash-partner-{partner.id}"' in html
    assert "Circuit closed" in html


def test_the_health_card_names_each_check(app, session):
    html = staff_client(app, session).get("/monitoring/dashboard").get_data(as_text=True)
    assert 'data-check="database"' in html
    assert 'data-check="scheduler"' in html
    assert "Not ready" in html  # no scheduler beats in a test
    assert "no heartbeat yet" in html


def test_screens_share_one_read_for_a_moment(make_app, session):
    """With the cache on, a second look within the moment shows the same snapshot; once it
    has passed, a new order shows."""
    app = make_app(dashboard_cache_seconds=60)
    client = staff_client(app, session, "admin")
    first = client.get("/monitoring/dashboard").get_data(as_text=True)
    payments = app.extensions["backroom.payments"]
    make_paid_order(session, payments, make_user(session, "customer"), make_product(session))
    assert figure(client.get("/monitoring/dashboard").get_data(as_text=True), "orders") == figure(
        first, "orders"
    )
    app.extensions["backroom.dashboard"].expires = 0.0  # the moment has passed
    again = client.get("/monitoring/dashboard").get_data(as_text=True)
    assert int(figure(again, "orders")) == int(figure(first, "orders")) + 1


def test_it_shows_how_long_this_web_process_has_been_up(app, session, monkeypatch):
    monkeypatch.setattr(dashboard_view, "STARTED", time.time() - 2 * 3600 - 5 * 60 - 3)
    html = staff_client(app, session).get("/monitoring/dashboard").get_data(as_text=True)
    assert figure(html, "uptime") == "2 h 5 min"
