"""Team queues: membership, the SLA clock at its edge, counts (services.returns.queues)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.db import utcnow
from app.errors import NotFound
from app.models.returns import ReturnRequest
from app.services.returns import LineRequest, QueueFilters, create_return, list_queue, queue_counts
from tests.builders import make_paid_order, make_product, make_user, walk_return


@pytest.fixture
def order(session, payments, customer):
    return make_paid_order(session, payments, customer, make_product(session), quantity=5)


def open_one(session, customer, order, now):
    return create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason="other",
        description="",
        lines=[LineRequest(order.lines[0].id, 1)],
        now=now,
    )


def test_it_refuses_unknown_teams(session):
    for team in ("customer", "admin", ""):
        with pytest.raises(NotFound):
            list_queue(session, team, filters=QueueFilters(), now=utcnow())


def test_it_breaches_only_after_the_due_time(session, customer, order):
    start = utcnow() - timedelta(hours=24)
    record = open_one(session, customer, order, start)
    due = record.sla_due_at
    assert due == start + timedelta(hours=24)
    [at_due] = list_queue(session, "support", filters=QueueFilters(), now=due).items
    assert (at_due.breached, at_due.age_seconds) == (False, 24 * 3600)
    [late] = list_queue(
        session, "support", filters=QueueFilters(), now=due + timedelta(seconds=1)
    ).items
    assert late.breached
    [early] = list_queue(
        session, "support", filters=QueueFilters(), now=start - timedelta(hours=1)
    ).items
    assert early.age_seconds == 0  # a clock behind the record never shows a negative age


def test_it_has_no_sla_where_the_state_has_none(session, customer, order):
    record = open_one(session, customer, order, utcnow())
    session.execute(
        update(ReturnRequest).where(ReturnRequest.id == record.id).values(sla_due_at=None)
    )
    [item] = list_queue(
        session, "support", filters=QueueFilters(), now=utcnow() + timedelta(days=400)
    ).items
    assert item.breached is False


def test_it_counts_what_each_team_waits_on(session, customer, order):
    assert queue_counts(session) == {"support": 0, "warehouse": 0, "finance": 0}
    staff = {role: make_user(session, role) for role in ("support", "warehouse", "finance")}
    records = [open_one(session, customer, order, utcnow()) for _ in range(4)]
    walk_return(session, records[1].id, staff, customer, until="approve")
    walk_return(session, records[2].id, staff, customer, until="ship")
    walk_return(session, records[3].id, staff, customer, until="decide", disposition="REFUND")
    assert queue_counts(session) == {"support": 1, "warehouse": 1, "finance": 1}


def test_it_searches_case_insensitively_and_caps_the_term(session, customer, order):
    record = open_one(session, customer, order, utcnow())
    for term in (record.number.lower(), customer.username.upper(), order.number.lower()):
        found = list_queue(session, "support", filters=QueueFilters(search=term), now=utcnow())
        assert [i.record.id for i in found.items] == [record.id], term
    long = record.number + "x" * 200
    missing = list_queue(session, "support", filters=QueueFilters(search=long), now=utcnow())
    assert missing.total == 0


def test_totals_count_every_matching_return_beyond_the_page(session, customer, order):
    start = utcnow() - timedelta(hours=10)
    records = [open_one(session, customer, order, start + timedelta(minutes=i)) for i in range(5)]
    session.execute(
        update(ReturnRequest).where(ReturnRequest.id == records[0].id).values(reason="damaged")
    )
    everything = list_queue(session, "support", filters=QueueFilters(), now=utcnow(), per_page=2)
    assert (everything.total, everything.pages, len(everything.items)) == (5, 3, 2)
    second = list_queue(
        session, "support", filters=QueueFilters(), now=utcnow(), page=3, per_page=2
    )
    assert [i.record.id for i in second.items] == [records[4].id]
    filtered = QueueFilters(reason="other", older_than_hours=1)
    others = list_queue(session, "support", filters=filtered, now=utcnow(), per_page=2)
    assert others.total == 4
    term = QueueFilters(search=customer.username)
    searched = list_queue(session, "support", filters=term, now=utcnow(), page=2, per_page=2)
    assert (searched.total, len(searched.items)) == (5, 2)


def test_a_known_total_saves_the_count_only_when_nothing_is_filtered(session, customer, order):
    for _ in range(3):
        open_one(session, customer, order, utcnow())
    known = list_queue(
        session, "support", filters=QueueFilters(), now=utcnow(), per_page=2, total=42
    )
    assert known.total == 42  # trusted: no count was run
    filtered = QueueFilters(reason="other")
    counted = list_queue(session, "support", filters=filtered, now=utcnow(), per_page=2, total=99)
    assert counted.total == 3
