"""Returns analytics, the cohorts of a range: the returns opened in it (dispositions, reasons
by category, card refunds and store credit) and the orders placed in it (the most returned
products with their return rate), and the CSV export (services.monitoring.returns)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.db import utcnow
from app.models.orders import Order
from app.models.returns import ReturnRequest
from app.services.credit import add_credit_entry
from app.services.monitoring import returns_analytics, returns_analytics_csv
from app.services.returns import LineRequest, create_return, execute_refunds, fire_return_trigger
from tests.builders import make_paid_order, make_product, make_user, walk_return


@pytest.fixture
def staff(session):
    return {role: make_user(session, role) for role in ("support", "warehouse", "finance")}


def open_return(session, customer, order, quantity, reason):
    return create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason=reason,
        description="please call me on my private number",
        lines=[LineRequest(order.lines[0].id, quantity)],
        now=utcnow(),
    ).id


def decide(session, staff, customer, return_id, disposition, amount, *, until="process"):
    walk_return(session, return_id, staff, customer, until="complete_inspection")
    fields = {"disposition": disposition, "amount_cents": amount} if amount else {}
    fields.setdefault("disposition", disposition)
    fire_return_trigger(session, return_id, "decide", actor=staff["support"], fields=fields,
                        expected_version=None, now=utcnow())  # fmt: skip
    if until == "process":
        role = "finance" if disposition in ("REFUND", "STORE_CREDIT") else "warehouse"
        fire_return_trigger(session, return_id, "process", actor=staff[role], fields={},
                            expected_version=None, now=utcnow())  # fmt: skip


@pytest.fixture
def cohort(session, payments, customer, staff):
    """Kettle (Kitchen) x4, Mug (Kitchen) x5 and Lamp (Home) x4 sold now, Lamp x3 sold ten
    days ago; seven returns opened now (see each test)."""
    kettle = make_product(session, sku="KET-1", name="Kettle", category="Kitchen")
    mug = make_product(session, sku="MUG-1", name="Mug", category="Kitchen", price_cents=500)
    lamp = make_product(session, sku="LMP-1", name="Lamp", category="Home", price_cents=2000)
    kettles = make_paid_order(session, payments, customer, kettle, quantity=4)
    mugs = make_paid_order(session, payments, customer, mug, quantity=5)
    lamps = make_paid_order(session, payments, customer, lamp, quantity=4)
    old = make_paid_order(session, payments, customer, lamp, quantity=3)
    session.execute(
        update(Order).where(Order.id == old.id).values(created_at=utcnow() - timedelta(days=10))
    )
    r1 = open_return(session, customer, kettles, 2, "damaged")
    decide(session, staff, customer, r1, "REFUND", 1500)
    execute_refunds(session, payments, now=utcnow() + timedelta(seconds=1))  # succeeded
    r2 = open_return(session, customer, mugs, 1, "defective")
    decide(session, staff, customer, r2, "REFUND", 500)  # pending
    # What queue_refund books when part of the order was paid with store credit.
    add_credit_entry(session, customer_id=customer.id, amount_cents=200, reason="return_refund",
                     order_id=mugs.id, return_id=r2)  # fmt: skip
    session.commit()
    r3 = open_return(session, customer, mugs, 1, "changed_mind")
    decide(session, staff, customer, r3, "STORE_CREDIT", 400)
    r4 = open_return(session, customer, lamps, 1, "damaged")
    decide(session, staff, customer, r4, "REPLACEMENT", None, until="decide")
    open_return(session, customer, kettles, 1, "wrong_item")  # undecided
    open_return(session, customer, old, 1, "damaged")  # undecided
    r7 = open_return(session, customer, kettles, 1, "defective")
    decide(session, staff, customer, r7, "REFUND", 1000)
    # The gateway refused it for good (the outbox's own tests drive that path).
    session.execute(
        update(ReturnRequest).where(ReturnRequest.id == r7).values(refund_status="failed")
    )
    session.commit()
    now = utcnow()
    return returns_analytics(
        session, start=now - timedelta(hours=1), end=now + timedelta(hours=1), now=now
    )


def test_it_breaks_the_returns_opened_down_by_disposition(cohort):
    assert [(d.key, d.label, d.count) for d in cohort.dispositions] == [
        ("REFUND", "Refund", 3),
        ("REPLACEMENT", "Replacement", 1),
        ("STORE_CREDIT", "Store credit", 1),
        ("", "Not decided yet", 2),
    ]
    assert cohort.opened == 7


def test_it_ranks_products_by_units_returned_with_the_return_rate(cohort):
    rows = [(p.sku, p.name, p.category, p.units_returned, p.units_sold) for p in cohort.products]
    assert rows == [
        ("KET-1", "Kettle", "Kitchen", 4, 4),
        ("MUG-1", "Mug", "Kitchen", 2, 5),
        ("LMP-1", "Lamp", "Home", 1, 4),  # the return of the order of ten days ago is not
    ]
    assert [p.rate for p in cohort.products] == [100.0, 40.0, 25.0]


def place_at(session, payments, customer, product, quantity, at):
    order = make_paid_order(session, payments, customer, product, quantity=quantity)
    session.execute(update(Order).where(Order.id == order.id).values(created_at=at))
    return order


def opened_at(session, customer, order, quantity, at):
    return_id = open_return(session, customer, order, quantity, "damaged")
    session.execute(
        update(ReturnRequest).where(ReturnRequest.id == return_id).values(created_at=at)
    )
    return return_id


def test_it_compares_the_units_sold_in_the_range_with_the_units_returned_from_those_orders(
    session, payments, customer
):
    """The range is the day before yesterday. Vase: 4 sold in it, 1 returned in it and 2
    today (after the range); 5 sold the week before and returned in the range do not count.
    Bowl: everything sold the week before came back in the range, nothing sold in it."""
    now = utcnow()
    start, end = now - timedelta(days=2), now - timedelta(days=1)
    vase = make_product(session, sku="VAS-1", name="Vase", category="Home", stock=20)
    bowl = make_product(session, sku="BWL-1", name="Bowl", category="Home", stock=20)
    in_range = place_at(session, payments, customer, vase, 4, start + timedelta(hours=1))
    before = place_at(session, payments, customer, vase, 5, start - timedelta(days=7))
    old_bowls = place_at(session, payments, customer, bowl, 3, start - timedelta(days=7))
    opened_at(session, customer, in_range, 1, start + timedelta(hours=2))
    open_return(session, customer, in_range, 2, "damaged")  # today: after the range ended
    opened_at(session, customer, before, 5, start + timedelta(hours=3))
    opened_at(session, customer, old_bowls, 3, start + timedelta(hours=3))
    session.commit()
    result = returns_analytics(session, start=start, end=end, now=now)
    assert [(p.sku, p.units_returned, p.units_sold, p.rate) for p in result.products] == [
        ("VAS-1", 3, 4, 75.0),
    ]


def test_it_leaves_out_rejected_returns_and_never_passes_a_hundred_percent(
    session, payments, customer, staff
):
    """A unit rejected and returned again counts once: 2 of 2 returned is 100%, not 150%."""
    cup = make_product(session, sku="CUP-1", name="Cup", category="Kitchen")
    order = make_paid_order(session, payments, customer, cup, quantity=2)
    rejected = open_return(session, customer, order, 1, "changed_mind")
    fire_return_trigger(session, rejected, "reject", actor=staff["support"],
                        fields={"note": "outside the policy"}, expected_version=None,
                        now=utcnow())  # fmt: skip
    open_return(session, customer, order, 2, "damaged")
    session.commit()
    now = utcnow()
    result = returns_analytics(session, start=now - timedelta(hours=1), end=now, now=now)
    [cups] = result.products
    assert (cups.units_returned, cups.units_sold, cups.rate) == (2, 2, 100.0)


def test_it_keeps_the_ten_most_returned_products_of_the_orders_in_the_range(
    session, payments, customer
):
    for n in range(12):
        product = make_product(session, sku=f"P-{n:02d}", stock=20)
        order = make_paid_order(session, payments, customer, product, quantity=n + 1)
        if n == 11:  # the most returned, but sold before the range
            session.execute(
                update(Order)
                .where(Order.id == order.id)
                .values(created_at=utcnow() - timedelta(days=5))
            )
        open_return(session, customer, order, n + 1, "other")
    make_paid_order(session, payments, customer, make_product(session, sku="KEPT"), quantity=9)
    now = utcnow()
    result = returns_analytics(session, start=now - timedelta(hours=1), end=now, now=now)
    assert [p.sku for p in result.products] == [f"P-{n:02d}" for n in range(10, 0, -1)]
    assert {(p.units_sold, p.rate) for p in result.products[:1]} == {(11, 100.0)}


def test_it_counts_reasons_per_product_category(cohort):
    categories = {c.category: (c.returns, {k: v for k, v in c.reasons.items() if v})
                  for c in cohort.categories}  # fmt: skip
    assert categories == {
        "Kitchen": (5, {"damaged": 1, "defective": 2, "changed_mind": 1, "wrong_item": 1}),
        "Home": (2, {"damaged": 2}),
    }
    assert [c.category for c in cohort.categories] == ["Kitchen", "Home"]
    assert next(iter(cohort.categories[0].reasons)) == "damaged"  # every reason, in form order


def test_it_totals_card_refunds_by_status_and_store_credit_by_reason(cohort):
    assert [(r.key, r.count, r.cents) for r in cohort.card_refunds] == [
        ("succeeded", 1, 1500),
        ("pending", 1, 300),  # 500 decided, 200 of it as store credit
        ("failed", 1, 1000),
    ]
    assert [(c.key, c.count, c.cents) for c in cohort.store_credit] == [
        ("return_store_credit", 1, 400),
        ("return_refund", 1, 200),
    ]


def test_it_exports_one_figure_a_row_for_a_spreadsheet(cohort):
    rows = list(csv.reader(io.StringIO(returns_analytics_csv(cohort))))
    assert rows[0] == ["section", "item", "measure", "value"]
    figures = {(s, i, m): v for s, i, m, v in rows[1:]}
    assert figures[("summary", "returns", "opened")] == "7"
    assert figures[("disposition", "Not decided yet", "returns")] == "2"
    assert figures[("top product", "MUG-1 Mug", "return rate %")] == "40"
    assert figures[("top product", "KET-1 Kettle", "units sold")] == "4"
    assert figures[("top product", "LMP-1 Lamp", "units returned")] == "1"
    assert figures[("reason by category", "Kitchen", "defective")] == "2"
    assert figures[("card refund", "Pending", "amount $")] == "3.00"
    assert figures[("store credit", "Refund the card could not take back", "amount $")] == "2.00"
    assert figures[("range", "first day", "date")] == cohort.start.date().isoformat()


def test_it_defuses_cells_a_spreadsheet_would_run_as_formulas(session, payments, customer):
    product = make_product(session, sku="=1+1", name="@SUM(A1)", category="-cmd")
    order = make_paid_order(session, payments, customer, product, quantity=1)
    open_return(session, customer, order, 1, "other")
    now = utcnow()
    result = returns_analytics(session, start=now - timedelta(hours=1), end=now, now=now)
    rows = list(csv.reader(io.StringIO(returns_analytics_csv(result))))
    assert ["top product", "'=1+1 @SUM(A1)", "category", "'-cmd"] in rows
    assert ["reason by category", "'-cmd", "other", "1"] in rows
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_it_names_no_customer_in_the_figures_or_the_export(session, payments, cohort):
    text = returns_analytics_csv(cohort) + repr(cohort)
    assert "casey" not in text  # the customer's username
    assert "example.com" not in text
    assert "private number" not in text
