"""GET /monitoring/returns and /monitoring/returns.csv: staff and admins see each section's
figures for the chosen days, download them, and get the form back with the problem when
the days make no sense; customers are refused; no customer is named."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from app.db import utcnow
from app.models.orders import Order
from app.services.returns import LineRequest, create_return, fire_return_trigger
from app.services.users import create_user
from tests.builders import make_paid_order, make_product, make_user
from tests.conftest import sign_in

T = datetime(2026, 3, 1, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)
MARCH = "/monitoring/returns?from=2026-03-01&to=2026-03-07"


def row(html: str, row_id: str) -> list[str]:
    """The cells of the table row `row_id`, as text."""
    found = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S)
    assert found, f"no row {row_id!r} on the page"
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", found.group(1), re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


def figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">(.*?)</', html, re.S)
    assert found, f"no figure {name!r} on the page"
    return found.group(1).strip()


def staff_client(app, session, role="support"):
    client = app.test_client()
    sign_in(client, make_user(session, role))
    return client


@pytest.fixture
def private(session):
    """A customer whose name and email must never show on these pages."""
    return create_user(session, username="zelda-q", password="password123", role="customer",
                       name="Zelda Quartermaine", email="zelda.q@private.example")  # fmt: skip


@pytest.fixture
def march(app, session, private):
    """In the week of 1-7 March: A opened on the 1st and rejected 26 h later (late for
    support's 24 h); B opened on the 2nd and approved after 2 h; C opened on the 8th
    (outside). A Kettle (Kitchen) is on every one, of an order of 3 placed on the 1st."""
    kettle = make_product(session, sku="KET-1", name="Kettle", category="Kitchen")
    order = make_paid_order(session, app.extensions["backroom.payments"], private, kettle, 3)
    session.execute(update(Order).where(Order.id == order.id).values(created_at=T))
    support = make_user(session, "support")

    def open_at(at, reason):
        return create_return(
            session, customer=private, order_id=order.id, reason=reason,
            description="ring Zelda after six", lines=[LineRequest(order.lines[0].id, 1)], now=at,
        ).id  # fmt: skip

    def fire(return_id, trigger, at, **fields):
        fire_return_trigger(session, return_id, trigger, actor=support, fields=fields,
                            expected_version=None, now=at)  # fmt: skip

    a = open_at(T + H, "damaged")
    fire(a, "reject", T + D + 3 * H, note="Zelda Quartermaine sent the wrong box")
    b = open_at(T + D, "defective")
    fire(b, "approve", T + D + 2 * H)
    open_at(T + 7 * D, "other")


@pytest.mark.parametrize("role", ["support", "warehouse", "finance", "admin"])
def test_staff_and_admins_see_every_section_for_the_chosen_days(app, session, march, role):
    html = staff_client(app, session, role).get(MARCH).get_data(as_text=True)
    assert "01 Mar 2026 to 07 Mar 2026" in html
    assert (figure(html, "opened"), figure(html, "closed")) == ("2", "1")
    assert figure(html, "cycle") == "26 h 0 min"  # A: opened to rejected
    # Support: A late, B on time; the customer: B, approved and not yet shipped, in time.
    assert figure(html, "sla") == "66.7%"
    assert row(html, "ra-day-2026-03-01") == ["Sun 01 Mar 2026", "1", "0"]
    assert row(html, "ra-day-2026-03-02") == ["Mon 02 Mar 2026", "1", "1"]
    assert row(html, "ra-outcome-REJECTED") == ["Rejected", "1", "26 h 0 min"]
    assert row(html, "ra-stage-VALIDATING") == ["Awaiting review", "2", "14 h 0 min"]
    # Past due today (months later): C, opened on the 8th, waits on support; B, approved on
    # the 2nd, waits for the customer's parcel.
    assert row(html, "ra-team-support") == ["Support", "2", "1", "50.0%", "1 late"]
    assert row(html, "ra-team-customer") == ["Customer", "1", "1", "100.0%", "1 late"]
    assert row(html, "ra-disposition-undecided") == ["Not decided yet", "2", "100.0%"]
    assert row(html, "ra-card-succeeded") == ["Succeeded", "0", "$0.00"]
    assert row(html, "ra-credit-return_store_credit")[1:] == ["0", "$0.00"]
    product = re.search(r'<tr class="ra-product">(.*?)</tr>', html, re.S)
    assert product
    assert re.sub(r"<[^>]+>|\s+", " ", product.group(1)).split() == [
        "KET-1", "Kettle", "Kitchen", "2", "3", "66.7%",  # B and C (A was rejected)
    ]  # fmt: skip
    assert "the units returned from those same orders" in html
    category = re.search(r'<tr class="ra-category">(.*?)</tr>', html, re.S)
    assert category
    assert re.findall(r">(\d+)<", category.group(1)) == ["1", "1", "0", "0", "0", "0", "0", "2"]


def test_the_chart_draws_a_bar_per_day_and_figure_without_inline_styles(app, session, march):
    response = staff_client(app, session).get(MARCH)
    html = response.get_data(as_text=True)
    assert len(re.findall(r'<rect class="ra-bar-opened"', html)) == 7
    assert '<title id="ra-chart-title">' in html
    assert "style=" not in html.split('<main id="main"')[1]
    assert "style-src 'self'" in response.headers["Content-Security-Policy"]


def test_it_shows_the_last_30_days_up_to_today_by_default(app, session):
    html = staff_client(app, session).get("/monitoring/returns").get_data(as_text=True)
    today = utcnow().date()
    first = today - timedelta(days=29)
    assert f'name="from" type="date" value="{first.isoformat()}"' in html
    assert f'name="to" type="date" value="{today.isoformat()}"' in html
    assert len(re.findall(r'<tr id="ra-day-', html)) == 30


def test_it_takes_30_days_up_to_the_last_day_given_alone(app, session):
    html = (
        staff_client(app, session).get("/monitoring/returns?to=2026-03-30").get_data(as_text=True)
    )
    assert "01 Mar 2026 to 30 Mar 2026" in html


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("from=2026-13-01&to=2026-03-07", "From must be a day written YYYY-MM-DD"),
        ("from=yesterday", "From must be a day written YYYY-MM-DD"),
        ("from=2026-03-01&to=%00", "To must be a day written YYYY-MM-DD"),
        ("to=0001-01-05", "To must be a day from 1970-01-01 to 9998-12-31"),
        ("from=9999-12-31&to=9999-12-31", "From must be a day from 1970-01-01 to 9998-12-31"),
        ("from=2026-03-08&to=2026-03-07", "To must be on or after the first day"),
        ("from=2025-01-01&to=2026-03-07", "To must be at most 366 days after the first day"),
    ],
)
def test_it_shows_the_form_with_the_problem_for_days_that_make_no_sense(
    app, session, query, problem
):
    client = staff_client(app, session)
    response = client.get(f"/monitoring/returns?{query}")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert problem in html
    assert 'id="ra-problems"' in html
    assert 'aria-invalid="true"' in html
    assert 'data-figure="opened"' not in html
    export = client.get(f"/monitoring/returns.csv?{query}")
    assert export.status_code == 422
    assert export.mimetype != "text/csv"


def test_it_exports_the_same_figures_as_a_csv_attachment(app, session, march):
    response = staff_client(app, session, "finance").get(
        "/monitoring/returns.csv?from=2026-03-01&to=2026-03-07"
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="returns-2026-03-01-to-2026-03-07.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    figures = {(s, i, m): v for s, i, m, v in rows[1:]}
    assert figures[("summary", "returns", "opened")] == "2"
    assert figures[("volume", "2026-03-02", "closed")] == "1"
    assert figures[("cycle time", "Rejected", "average hours")] == "26"
    assert figures[("sla", "support", "compliance %")] == "50"
    assert figures[("top product", "KET-1 Kettle", "units returned")] == "2"
    assert figures[("reason by category", "Kitchen", "damaged")] == "1"


def test_the_page_links_to_the_export_of_the_days_shown(app, session):
    html = staff_client(app, session).get(MARCH).get_data(as_text=True)
    assert 'href="/monitoring/returns.csv?from=2026-03-01&amp;to=2026-03-07"' in html


def test_customers_are_refused_and_visitors_sent_to_sign_in(app, session, customer):
    assert app.test_client().get(MARCH).status_code == 302
    client = app.test_client()
    sign_in(client, customer)
    assert client.get(MARCH).status_code == 403
    assert client.get("/monitoring/returns.csv").status_code == 403


def test_no_customer_name_email_or_words_reach_the_page_or_the_export(app, session, march):
    client = staff_client(app, session, "admin")
    for path in (MARCH, MARCH.replace("returns?", "returns.csv?")):
        body = client.get(path).get_data(as_text=True)
        for secret in ("zelda", "Zelda", "Quartermaine", "private.example", "wrong box"):
            assert secret not in body, (path, secret)
