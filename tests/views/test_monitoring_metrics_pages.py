"""GET /metrics: Prometheus text, request series by endpoint name, business series from the
database, the payment circuit, the optional bearer token, and multiprocess mode."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from app.db import Base, utcnow
from app.errors import PaymentError
from app.services.flash_sales import SaleItemInput, checkout_hold, create_sale, reserve
from app.services.monitoring import record_job_run
from app.services.orders import LineRequest, place_order
from app.services.returns import LineRequest as ReturnLine
from app.services.returns import create_return
from tests.builders import make_paid_order, make_partner, make_product, make_user, walk_return
from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
APPROVED, GATEWAY_ERROR = "4242424242424242", "4000000000000119"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(body: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape(client, headers=None) -> Samples:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.headers["Content-Type"] == TEXT_FORMAT
    return parse(response.get_data(as_text=True))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests(samples: Samples, endpoint: str, status: str, method: str = "GET") -> float:
    labels = {"endpoint": endpoint, "method": method, "status": status}
    return value(samples, "backroom_http_requests_total", **labels)


def test_it_serves_every_series_in_the_prometheus_text_format(client):
    client.get("/products")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == TEXT_FORMAT
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "backroom_http_requests",
        "backroom_http_request_duration_seconds",
        "backroom_orders",
        "backroom_returns",
        "backroom_refunds",
        "backroom_flash_sale_units_sold",
        "backroom_flash_sale_units_held",
        "backroom_payment_circuit_state",
        "backroom_payment_circuit_failures",
    } <= names


def test_it_counts_requests_by_endpoint_name_and_status_never_by_path(client, session):
    products = [make_product(session) for _ in range(2)]
    before = scrape(client)
    for product in products:
        assert client.get(f"/products/{product.id}").status_code == 200
    assert client.get("/products/999999").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)
    assert requests(after, "catalog.show", "200") - requests(before, "catalog.show", "200") == 2
    assert requests(after, "catalog.show", "404") - requests(before, "catalog.show", "404") == 1
    assert requests(after, "unknown", "404") - requests(before, "unknown", "404") == 1
    assert requests(after, "metrics.scrape", "200") >= 1
    endpoints = {dict(labels).get("endpoint", "") for _, labels in after}
    assert not [name for name in endpoints if "/" in name]


def test_it_observes_latency_per_endpoint_in_cumulative_buckets(client):
    name = "backroom_http_request_duration_seconds"
    before = scrape(client)
    for _ in range(3):
        client.get("/products")
    after = scrape(client)
    labels = {"endpoint": "catalog.index", "method": "GET"}
    count = value(after, f"{name}_count", **labels) - value(before, f"{name}_count", **labels)
    assert count == 3
    assert value(after, f"{name}_sum", **labels) > value(before, f"{name}_sum", **labels)
    assert value(after, f"{name}_bucket", le="+Inf", **labels) == value(
        after, f"{name}_count", **labels
    )
    buckets = [
        v
        for (n, lbl), v in after.items()
        if n == f"{name}_bucket" and {**dict(lbl), "le": ""} == {**labels, "le": ""}
    ]
    assert len(buckets) == 14  # 13 bounds and +Inf
    assert buckets == sorted(buckets)


def test_it_counts_made_up_methods_as_other(client):
    before = scrape(client)
    assert client.open("/products", method="BREW").status_code == 405
    after = scrape(client)
    delta = requests(after, "catalog.index", "405", "OTHER") + requests(
        after, "unknown", "405", "OTHER"
    )
    delta -= requests(before, "catalog.index", "405", "OTHER") + requests(
        before, "unknown", "405", "OTHER"
    )
    assert delta == 1
    assert not [labels for _, labels in after if ("method", "BREW") in labels]


def test_it_reports_orders_returns_and_refunds_from_the_database(app, client, session, customer):
    payments = app.extensions["backroom.payments"]
    before = scrape(client)
    product = make_product(session, price_cents=900, stock=10)
    order = make_paid_order(session, payments, customer, product, quantity=1)
    make_paid_order(session, payments, customer, product, quantity=1)
    record = create_return(session, customer=customer, order_id=order.id, reason="other",
                           description="", lines=[ReturnLine(order.lines[0].id, 1)],
                           now=utcnow())  # fmt: skip
    staff = {role: make_user(session, role) for role in ("support", "warehouse", "finance")}
    walk_return(session, record.id, staff, customer, until="process")
    after = scrape(client)
    paid = value(after, "backroom_orders", status="paid")
    assert paid - value(before, "backroom_orders", status="paid") == 2
    assert value(after, "backroom_orders", status="payment_failed") == 0
    returns = {dict(labels)["state"]: v for (n, labels), v in after.items()
               if n == "backroom_returns"}  # fmt: skip
    assert sum(returns.values()) == 1
    assert value(after, "backroom_refunds", status="pending") == 1
    assert value(after, "backroom_refunds", status="succeeded") == 0


def test_it_reports_flash_sale_units_sold_and_held(app, client, session, customer, admin):
    now = utcnow()
    product = make_product(session, stock=10)
    sale = create_sale(session, name="Doorbusters", starts_at=now - timedelta(minutes=1),
                       ends_at=now + timedelta(hours=1),
                       items=[SaleItemInput(product.id, 500, 5, 3)], now=now,
                       created_by=admin.id)  # fmt: skip
    assert value(scrape(client), "backroom_flash_sale_units_sold", sale_state="active") == 0

    def hold(quantity: int):  # type: ignore[no-untyped-def]
        return reserve(session, sale_id=sale.id, product_id=product.id, customer_id=customer.id,
                       quantity=quantity, now=utcnow(), ttl_seconds=600)  # fmt: skip

    bought = hold(2)
    hold(1)
    checkout_hold(session, app.extensions["backroom.payments"], hold_id=bought.id,
                  customer_id=customer.id, card_number=APPROVED, now=utcnow())  # fmt: skip
    after = scrape(client)
    assert value(after, "backroom_flash_sale_units_sold", sale_state="active") == 2
    assert value(after, "backroom_flash_sale_units_held") == 1


def test_it_shows_the_payment_circuit_opening(app, client, session, customer):
    breaker = app.extensions["backroom.payments"].breaker
    closed = scrape(client)
    assert value(closed, "backroom_payment_circuit_state", state="closed") == 1
    assert value(closed, "backroom_payment_circuit_state", state="open") == 0
    product = make_product(session, stock=10)
    for _ in range(3):  # PAYMENT_BREAKER_FAILURES' default
        with pytest.raises(PaymentError):
            place_order(session, app.extensions["backroom.payments"], customer_id=customer.id,
                        lines=[LineRequest(product.id, 1)], card_number=GATEWAY_ERROR)  # fmt: skip
    opened = scrape(client)
    assert value(opened, "backroom_payment_circuit_state", state="open") == 1
    assert value(opened, "backroom_payment_circuit_state", state="closed") == 0
    assert value(opened, "backroom_payment_circuit_state", state="half_open") == 0
    assert value(opened, "backroom_payment_circuit_failures") == 3
    breaker.reset()
    assert value(scrape(client), "backroom_payment_circuit_state", state="closed") == 1


def test_it_is_open_without_a_token(client):
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 200


def test_it_requires_the_metrics_token_when_one_is_set(make_app):
    client = make_app(metrics_token="s3cret-token").test_client()
    assert scrape(client, {"Authorization": "Bearer s3cret-token"})
    assert scrape(client, {"Authorization": "bearer s3cret-token"})  # the scheme is caseless
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.json is not None
    assert response.json["error"]["code"] == "unauthorized"
    assert set(response.json["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize(
    "header",
    [
        "Bearer wrong",
        "Bearer",
        "Bearer ",
        "Bearer s3cret-token-and-more",
        "Basic czNjcmV0LXRva2Vu",
        "s3cret-token",
        "Bearer s3cret\x00token",
        "Bearer s3cr\u00e9t-token",
        "Bearer \u2603",
        "Bearer \udcff",
        " " * 2000,
        "Bearer " + "x" * 10000,
    ],
)
def test_it_refuses_a_wrong_or_malformed_authorization_with_401(make_app, header):
    client = make_app(metrics_token="s3cret-token").test_client()
    response = client.get("/metrics", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_it_matches_a_token_with_non_ascii_characters_byte_for_byte(make_app):
    client = make_app(metrics_token="s\u00e9same").test_client()
    # A real server hands the UTF-8 bytes the client sent over decoded as latin-1.
    sent = "s\u00e9same".encode().decode("latin-1")
    assert client.get("/metrics", headers={"Authorization": f"Bearer {sent}"}).status_code == 200


SCRIPT = """
import sys
from pathlib import Path
from app import create_app
from app.config import Config

data, requests = Path(sys.argv[1]), int(sys.argv[2])
settings = {"database_url": f"sqlite:///{data / 'metrics.db'}", "secret_key": "x",
            "testing": True, "data_dir": data, "upload_dir": data / "uploads",
            "scheduler_enabled": False, "redis_url": None}
client = create_app(settings, config=Config()).test_client()
for _ in range(requests):
    assert client.get("/products").status_code == 200
(data / sys.argv[3]).write_text(client.get("/metrics").get_data(as_text=True))
"""


@pytest.mark.slow
def test_it_merges_every_process_in_multiprocess_mode(tmp_path):
    """Two processes sharing PROMETHEUS_MULTIPROC_DIR, like two gunicorn workers: a scrape
    in either one counts the requests both served."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    engine = create_engine(f"sqlite:///{tmp_path / 'metrics.db'}")
    Base.metadata.create_all(engine)
    engine.dispose()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}

    def worker(requests: int, out: str) -> Samples:
        argv = [sys.executable, "-c", SCRIPT, str(tmp_path), str(requests), out]
        subprocess.run(argv, env=env, cwd=ROOT, check=True, timeout=120)
        return parse((tmp_path / out).read_text())

    first = worker(3, "first.txt")
    assert requests(first, "catalog.index", "200") == 3
    second = worker(2, "second.txt")
    assert requests(second, "catalog.index", "200") == 5
    assert requests(second, "metrics.scrape", "200") == 1  # the first process's scrape
    labels = {"endpoint": "catalog.index", "method": "GET"}
    assert value(second, "backroom_http_request_duration_seconds_count", **labels) == 5
    assert value(second, "backroom_payment_circuit_state", state="closed") == 1
    assert any(path.name.startswith("counter_") for path in shared.iterdir())


def test_metrics_export_the_operations_series(client):
    text = client.get("/metrics").get_data(as_text=True)
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {
        "backroom_refund_latency_seconds",
        "backroom_store_credit_issued_cents",
        "backroom_oversold_units",
        "backroom_job_runs",
        "backroom_job_last_success_age_seconds",
    } <= names
    assert 'backroom_oversold_units{kind="flash_sale"} 0.0' in text


def test_promtool_accepts_every_series_with_traffic_in_them(app, client, session):
    """`promtool check metrics` (Debian's prometheus package) lints the whole scrape: the
    request series, every business and operations family with values, the circuit."""
    promtool = shutil.which("promtool")
    need("promtool", promtool is not None, "apt-get install -y prometheus")
    assert promtool is not None
    staff = {role: make_user(session, role) for role in ("support", "warehouse", "finance")}
    customer, admin = make_user(session, "customer"), make_user(session, "admin")
    payments = app.extensions["backroom.payments"]
    order = make_paid_order(session, payments, customer, make_product(session, stock=20))
    opened = create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason="damaged",
        description="Cracked.",
        lines=[ReturnLine(order.lines[0].id, 1)],
        now=utcnow(),
    )
    walk_return(session, opened.id, staff, customer, until="process")
    make_partner(session, admin, name='Acme "West" \\ Co')  # a label value to escape
    record_job_run(
        session,
        job_id="returns.send_refunds",
        started_at=utcnow(),
        duration_ms=3.0,
        handled=1,
        outcome="ok",
    )
    for path in ("/products", "/no-such-page", "/health"):
        client.get(path)
    body = client.get("/metrics").get_data(as_text=True)
    assert 'partner="Acme \\"West\\" \\\\ Co"' in body
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
