"""GET /monitoring/logs (page and htmx partial), following a request id to every line it
caused (the request's own and the later outbox job's), what the page masks, the exports,
and who may open it."""

from __future__ import annotations

import csv
import io
import json
import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from app.db import utcnow
from app.logs import request_id_var
from app.models.users import User
from app.services.monitoring import flush_log_store
from app.services.returns import LineRequest, create_return
from jobs import JobContext, schedule
from jobs.runner import run_job
from tests.builders import make_paid_order, make_product, make_user, walk_return
from tests.conftest import bearer, sign_in
from tests.views.conftest import HX, add_to_cart, checkout_key, text

DECLINED = "4000000000000002"
log = logging.getLogger("backroom.test.pages")
LINK = re.compile(r'href="(/monitoring/logs\?request_id=([^"]+))"')


@pytest.fixture(autouse=True)
def _info_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


@pytest.fixture
def admin_client(app: Flask, admin: User) -> FlaskClient:
    client = app.test_client()
    sign_in(client, admin)
    return client


def logged(message: str, *args: object, request_id: str = "-", **extra: object) -> None:
    token = request_id_var.set(request_id)
    try:
        log.info(message, *args, extra=extra)
    finally:
        request_id_var.reset(token)


def test_it_shows_the_newest_lines_with_a_link_from_each_request_id(admin_client):
    logged("first line", request_id="req-a")
    logged("second line", request_id="req-b")
    flush_log_store()
    response = admin_client.get("/monitoring/logs")
    html = text(response)
    assert response.status_code == 200
    assert "<h1>Logs</h1>" in html
    assert html.index("second line") < html.index("first line")
    assert 'href="/monitoring/logs?request_id=req-a"' in html
    assert "20,000" in html  # how many lines are kept


def test_it_filters_by_level_text_and_request_id(admin_client):
    logged("GET /products 200", request_id="req-a")
    log.warning("the gateway is slow")
    flush_log_store()
    warnings = text(admin_client.get("/monitoring/logs?level=warning"))
    assert "the gateway is slow" in warnings
    assert "GET /products 200" not in warnings
    assert '<option value="warning" selected>' in warnings
    found = text(admin_client.get("/monitoring/logs?q=PRODUCTS"))
    assert "GET /products 200" in found
    assert "the gateway is slow" not in found
    assert 'value="PRODUCTS"' in found
    none = text(admin_client.get("/monitoring/logs?request_id=nobody"))
    assert "No lines match" in none


def test_it_answers_htmx_with_the_table_alone(admin_client):
    logged("a line for htmx")
    flush_log_store()
    response = admin_client.get("/monitoring/logs?q=htmx", headers=HX)
    html = text(response)
    assert html.lstrip().startswith('<section id="logs-table"')
    assert "a line for htmx" in html
    assert "<html" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_it_pages_with_the_filters_kept(admin_client):
    for n in range(55):
        logged("paged line %s", n, request_id="req-p")
    flush_log_store()
    html = text(admin_client.get("/monitoring/logs?request_id=req-p"))
    assert "Page 1 of 2" in html
    assert "paged line 54" in html
    assert "paged line 4<" not in html
    assert "/monitoring/logs?page=2&amp;request_id=req-p" in html
    second = text(admin_client.get("/monitoring/logs?request_id=req-p&page=2"))
    assert "paged line 0" in second
    assert "paged line 5<" not in second
    assert "nothing on page 9" in text(admin_client.get("/monitoring/logs?request_id=req-p&page=9"))
    assert admin_client.get("/monitoring/logs?page=x").status_code == 422
    small = text(admin_client.get("/monitoring/logs?request_id=req-p&per_page=10"))
    assert "Page 1 of 6" in small


def test_it_masks_secrets_and_personal_data_on_the_page(admin_client):
    logged(
        "paid with 4242-4242-4242-4242 by casey.doe@example.com using bk_c2VjcmV0a2V5 "
        "and password=hunter22",
        path="/x?email=casey.doe@example.com",
    )
    flush_log_store()
    html = text(admin_client.get("/monitoring/logs"))
    assert "paid with ***4242 by c***@example.com using bk_*** and password=***" in html
    for secret in ("4242-4242-4242-4242", "casey.doe@", "c2VjcmV0a2V5", "hunter22"):
        assert secret not in html
    csv_text = admin_client.get("/monitoring/logs.csv").get_data(as_text=True)
    assert "***4242" in csv_text
    assert "hunter22" not in csv_text
    assert "casey.doe" not in csv_text


def test_it_follows_a_declined_checkout_from_its_request_id_to_its_lines(
    app, client, session, customer, admin_client
):
    token = sign_in(client, customer)
    product = make_product(session, stock=5)
    add_to_cart(client, token, product)
    declined = client.post(
        "/cart/checkout",
        data={
            "card_number": DECLINED,
            "idempotency_key": checkout_key(client),
            "csrf_token": token,
        },
    )
    assert declined.status_code == 402
    request_id = declined.headers["X-Request-ID"]
    logged("unrelated line", request_id="someone-else")
    flush_log_store()
    everything = text(admin_client.get("/monitoring/logs?level=warning&q=checkout"))
    assert "POST /cart/checkout 402" not in everything  # an access line is info
    links = {rid: href for href, rid in LINK.findall(text(admin_client.get("/monitoring/logs")))}
    assert request_id in links
    followed = text(admin_client.get(links[request_id]))
    assert "POST /cart/checkout 402" in followed
    assert "unrelated line" not in followed
    assert f"Every line of request <code>{request_id}</code>" in followed


def test_requests_are_followed_into_the_outbox_jobs_they_caused(make_app, session, customer, admin):
    app = make_app(access_log="all")  # the API's 200s get an access line too
    payments = app.extensions["backroom.payments"]
    product = make_product(session, stock=10, price_cents=2500)
    order = make_paid_order(session, payments, customer, product, quantity=1)
    record = create_return(
        session, customer=customer, order_id=order.id, reason="damaged", description="cracked",
        lines=[LineRequest(order.lines[0].id, 1)], now=utcnow(),
    )  # fmt: skip
    staff = {role: make_user(session, role) for role in ("support", "warehouse", "finance")}
    walk_return(session, record.id, staff, customer, until="complete_inspection")
    api = app.test_client()

    def fire(role: str, trigger: str, **fields: str) -> str:
        response = api.post(
            f"/api/v1/returns/{record.id}/transitions",
            json={"trigger": trigger, **fields},
            headers=bearer(api, staff[role]),
        )
        assert response.status_code == 200, response.json
        return response.headers["X-Request-ID"]

    decided = fire("support", "decide", disposition="REFUND")  # queues a notice
    processed = fire("finance", "process")  # queues the refund
    ctx = JobContext(config=app.config["BACKROOM"], db=app.extensions["backroom.db"],
                     payments=payments, holder="test")  # fmt: skip
    jobs = {job.id: job for job in schedule(ctx)}
    assert run_job(ctx, jobs["returns.send_refunds"]) == 1
    assert run_job(ctx, jobs["returns.deliver_notices"]) >= 1
    flush_log_store()
    browser = app.test_client()
    sign_in(browser, admin)
    refund = text(browser.get(f"/monitoring/logs?request_id={processed}"))
    assert f"POST /api/v1/returns/{record.id}/transitions 200" in refund
    assert f"refund sent for {record.number}" in refund
    assert "job <code>returns.send_refunds</code>" in refund
    assert "email to customer" not in refund
    notice = text(browser.get(f"/monitoring/logs?request_id={decided}"))
    assert f"POST /api/v1/returns/{record.id}/transitions 200" in notice
    assert f"email to customer {customer.id}: Your return {record.number}" in notice
    assert "job <code>returns.deliver_notices</code>" in notice
    assert "refund sent" not in notice


def test_it_exports_the_filtered_lines_as_csv_and_json_lines(admin_client):
    logged('=HYPERLINK("http://evil.example")', request_id="req-x")
    logged("+1 more", request_id="req-x")
    logged("not this one", request_id="req-y")
    flush_log_store()
    response = admin_client.get("/monitoring/logs.csv?request_id=req-x")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="backroom-logs.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["message"] for row in rows] == ["'+1 more", '\'=HYPERLINK("http://evil.example")']
    jsonl = admin_client.get("/monitoring/logs.jsonl?request_id=req-x&level=info")
    assert jsonl.mimetype == "application/x-ndjson"
    parsed = [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()]
    assert [p["message"] for p in parsed] == ["+1 more", '=HYPERLINK("http://evil.example")']
    assert {p["request_id"] for p in parsed} == {"req-x"}
    page = text(admin_client.get("/monitoring/logs?request_id=req-x"))
    assert 'href="/monitoring/logs.csv?request_id=req-x"' in page


def test_it_says_when_the_store_is_off(make_app, admin):
    app = make_app(log_store=False)
    browser = app.test_client()
    sign_in(browser, admin)
    html = text(browser.get("/monitoring/logs"))
    assert "The log store is off" in html


@pytest.mark.parametrize(
    "path", ["/monitoring/logs", "/monitoring/logs.csv", "/monitoring/logs.jsonl"]
)
def test_it_is_for_admins_only(client, customer, session: Session, path):
    anonymous = client.get(path)
    assert anonymous.status_code == 302
    assert "/login" in anonymous.headers["Location"]
    sign_in(client, customer)
    assert client.get(path).status_code == 403
    support = make_user(session, "support", username="sam")
    other = client.application.test_client()
    sign_in(other, support)
    assert other.get(path).status_code == 403
