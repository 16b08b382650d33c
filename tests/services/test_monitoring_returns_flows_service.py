"""Returns analytics, the flows in a range: volume per day, cycle times, time in each state
and SLA compliance per team (services.monitoring.returns), from returns moved through real
transitions at known times."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

import pytest

from app.errors import ValidationError
from app.services.monitoring import range_problems, returns_analytics
from app.services.returns import LineRequest, create_return, fire_return_trigger
from tests.builders import make_paid_order, make_product, make_user, publish_new_version
from workflows.definitions import load_shipped

T = datetime(2026, 3, 1, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)
END = T + 7 * D


@pytest.fixture
def people(session, customer):
    staff = {role: make_user(session, role) for role in ("support", "warehouse", "finance")}
    return {"owner": customer, "system": None, **staff}


@pytest.fixture
def order(session, payments, customer):
    return make_paid_order(session, payments, customer, make_product(session), quantity=9)


def open_at(session, customer, order, at, reason="damaged"):
    return create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason=reason,
        description="",
        lines=[LineRequest(order.lines[0].id, 1)],
        now=at,
    ).id


def move(session, people, return_id, steps):
    """Fire (trigger, who, at, fields) in order."""
    for trigger, who, at, fields in steps:
        fire_return_trigger(
            session, return_id, trigger, actor=people[who], fields=fields,
            expected_version=None, now=at,
        )  # fmt: skip


@pytest.fixture
def traffic(session, people, customer, order):
    """A: the whole way to COMPLETED (store credit); B: rejected late; C: cancelled; D: opened
    the day before the range and still waiting; E: opened at the range's end; F: opened at
    its start and approved."""
    a = open_at(session, customer, order, T + H)
    move(session, people, a, [
        ("approve", "support", T + 3 * H, {}),
        ("ship", "owner", T + D + 3 * H, {"carrier": "DHL", "tracking_number": "1"}),
        ("receive", "warehouse", T + 2 * D + 3 * H, {}),
        ("start_inspection", "warehouse", T + 2 * D + 4 * H, {}),
        ("complete_inspection", "warehouse", T + 2 * D + 6 * H, {"condition": "new"}),
        ("decide", "support", T + 3 * D + 6 * H,
         {"disposition": "STORE_CREDIT", "amount_cents": 800}),
        ("process", "finance", T + 3 * D + 8 * H, {}),
        ("complete", "system", T + 4 * D + 8 * H, {}),
    ])  # fmt: skip
    b = open_at(session, customer, order, T + 2 * H)
    move(session, people, b, [("reject", "support", T + D + 4 * H, {"note": "no"})])
    c = open_at(session, customer, order, T + D)
    move(session, people, c, [("cancel", "owner", T + D + H, {})])
    open_at(session, customer, order, T - D)
    open_at(session, customer, order, END)
    f = open_at(session, customer, order, T)
    move(session, people, f, [("approve", "support", T + H, {})])


def test_it_counts_returns_opened_and_closed_per_day_with_the_range_edges(session, traffic):
    result = returns_analytics(session, start=T, end=END, now=END + 3 * D)
    assert [(d.day, d.opened, d.closed) for d in result.days] == [
        (date(2026, 3, 1), 3, 0),  # A, B and F (F at the very start)
        (date(2026, 3, 2), 1, 2),  # C opened; B and C closed
        (date(2026, 3, 3), 0, 0),
        (date(2026, 3, 4), 0, 0),
        (date(2026, 3, 5), 0, 1),  # A completed
        (date(2026, 3, 6), 0, 0),
        (date(2026, 3, 7), 0, 0),  # E, opened at the end, is the next range's
    ]
    assert (result.opened, result.closed) == (4, 3)
    assert result.last_day == date(2026, 3, 7)


def test_it_averages_the_cycle_time_of_returns_closed_in_the_range(session, traffic):
    result = returns_analytics(session, start=T, end=END, now=END + 3 * D)
    assert (result.cycle.count, result.cycle.average_seconds) == (3, (103 + 26 + 1) * 3600 // 3)
    assert [(o.key, o.label, o.count, o.average_seconds) for o in result.outcomes] == [
        ("CANCELLED", "Cancelled", 1, 3600),
        ("COMPLETED", "Completed", 1, 103 * 3600),
        ("REJECTED", "Rejected", 1, 26 * 3600),
    ]


def test_it_averages_the_time_spent_in_each_state_from_consecutive_events(session, traffic):
    result = returns_analytics(session, start=T, end=END, now=END + 3 * D)
    hours = {s.key: (s.count, s.average_seconds / 3600) for s in result.stages}
    assert hours == {
        "SUBMITTED": (4, 0),  # A, B, C, F: validated at once; D's left before the range
        "VALIDATING": (4, (2 + 26 + 1 + 1) / 4),  # D is still there: not a finished visit
        "APPROVED": (1, 24),  # F is still there
        "SHIPPING": (1, 24),
        "RECEIVED": (1, 1),
        "INSPECTING": (1, 2),
        "INSPECTED": (1, 24),
        "DISPOSITION": (1, 2),
        "PROCESSING": (1, 24),
    }
    assert [s.key for s in result.stages][:3] == ["SUBMITTED", "VALIDATING", "APPROVED"]
    assert result.stages[1].label == "Awaiting review"


def test_it_measures_sla_compliance_per_team_with_breaches_now(session, traffic):
    result = returns_analytics(session, start=T, end=END, now=END + 3 * D)
    teams = {t.team: (t.visits, t.on_time, t.breached_now) for t in result.teams}
    assert teams == {
        # VALIDATING: A, C, F on time, B 26 h (late), D open for 8 days at the range's end;
        # INSPECTED: A left at its due second, on time. Breached now: D and E.
        "support": (6, 4, 2),
        "warehouse": (3, 3, 0),  # SHIPPING, RECEIVED, INSPECTING
        "finance": (2, 2, 0),  # DISPOSITION and PROCESSING of a store-credit return
        "customer": (2, 2, 0),  # APPROVED: A shipped after a day, F still has time
    }
    assert [t.team for t in result.teams] == ["support", "warehouse", "finance", "customer"]
    assert result.teams[0].compliance == pytest.approx(100 * 4 / 6)


def test_it_measures_a_visit_still_open_at_now_when_the_range_is_not_over(session, customer, order):
    open_at(session, customer, order, T)
    on_time = returns_analytics(session, start=T, end=END, now=T + 24 * H)
    [support] = on_time.teams
    assert (support.visits, support.on_time, support.breached_now) == (1, 1, 0)
    late = returns_analytics(session, start=T, end=END, now=T + 24 * H + timedelta(seconds=1))
    [support] = late.teams
    assert (support.visits, support.on_time, support.breached_now) == (1, 0, 1)


def test_it_shows_nothing_for_an_empty_range(session, traffic):
    result = returns_analytics(session, start=T - 30 * D, end=T - 20 * D, now=END)
    assert (result.opened, result.closed, result.cycle.average_seconds) == (0, 0, None)
    assert len(result.days) == 10
    assert result.outcomes == result.stages == result.products == result.categories == ()
    # D waits past its due time; E (due a day after the range's end) does not yet.
    assert [(t.team, t.visits, t.breached_now) for t in result.teams] == [("support", 0, 1)]
    assert result.teams[0].compliance is None


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        (T, T, "must be on or after the first day"),
        (T, T - D, "must be on or after the first day"),
        (T, T + 367 * D, "must be at most 366 days after the first day"),
    ],
)
def test_it_refuses_a_backward_empty_or_too_long_range(session, start, end, problem):
    assert range_problems(start, end) == {"to": problem}
    with pytest.raises(ValidationError) as error:
        returns_analytics(session, start=start, end=end, now=T)
    assert error.value.fields == {"to": problem}


def test_it_accepts_a_range_of_366_days(session):
    result = returns_analytics(session, start=T, end=T + 366 * D, now=T)
    assert len(result.days) == 366
    assert result.opened == 0


def test_it_takes_each_visit_s_sla_from_the_version_the_return_was_on(
    session, people, customer, order
):
    data = copy.deepcopy(load_shipped("rma"))
    for state in data["states"]:
        if state["name"] == "VALIDATING":
            state["sla_hours"], state["label"] = 48, "Under review"
    old = open_at(session, customer, order, T)
    publish_new_version(session, data, make_user(session, "admin"))
    new = open_at(session, customer, order, T)
    for return_id in (old, new):
        move(session, people, return_id, [("approve", "support", T + 30 * H, {})])
    result = returns_analytics(session, start=T, end=END, now=END)
    support = next(t for t in result.teams if t.team == "support")
    assert (support.visits, support.on_time) == (2, 1)  # 30 h: late on 24 h, in time on 48 h
    assert result.stages[1].label == "Under review"  # the newest version's words
