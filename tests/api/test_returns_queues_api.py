"""GET /api/v1/queues/<team>: what each team waits on, oldest first, with SLA clocks."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from app.db import utcnow
from app.models.returns import ReturnRequest
from tests.api.helpers import assert_error
from tests.api.returns_helpers import bought, fire, make_crew, open_return, walk

QUEUES = "/api/v1/queues"

# name: (walk until, disposition); None: just opened (VALIDATING)
SETUPS = {
    "validating": (None, "REFUND"),
    "approved": ("approve", "REFUND"),
    "shipping": ("ship", "REFUND"),
    "received": ("receive", "REFUND"),
    "inspecting": ("start_inspection", "REFUND"),
    "inspected": ("complete_inspection", "REFUND"),
    "decided_refund": ("decide", "REFUND"),
    "decided_credit": ("decide", "STORE_CREDIT"),
    "decided_replacement": ("decide", "REPLACEMENT"),
    "decided_repair": ("decide", "REPAIR"),
    "decided_reject": ("decide", "REJECT"),
    "processing_refund": ("process", "REFUND"),
    "processing_credit": ("process", "STORE_CREDIT"),
    "processing_replacement": ("process", "REPLACEMENT"),
    "processing_repair": ("process", "REPAIR"),
    "processing_reject": ("process", "REJECT"),
}
WAITING = {
    "support": {"validating", "inspected"},
    "warehouse": {
        "shipping",
        "received",
        "inspecting",
        "decided_replacement",
        "decided_repair",
        "decided_reject",
        "processing_replacement",
        "processing_repair",
        "processing_reject",
    },
    "finance": {"decided_refund", "decided_credit", "processing_refund", "processing_credit"},
}


@pytest.fixture
def crew(session, customer):
    return make_crew(session, customer)


@pytest.fixture
def returns(client, session, app, customer, crew):
    """One return in every state that matters, plus a cancelled one; name -> id."""
    order, _ = bought(session, app, customer, quantity=len(SETUPS) + 1, stock=50)
    ids = {}
    for name, (until, disposition) in SETUPS.items():
        opened = open_return(client, crew["customer"], order)
        if until:
            walk(client, crew, opened["id"], until=until, disposition=disposition)
        ids[name] = opened["id"]
    cancelled = open_return(client, crew["customer"], order)
    fire(client, crew["customer"], cancelled["id"], "cancel")
    ids["cancelled"] = cancelled["id"]
    return ids


def set_clock(session, return_id, *, entered_hours_ago, due_hours_ago=None):
    now = utcnow()
    values = {"state_entered_at": now - timedelta(hours=entered_hours_ago)}
    if due_hours_ago is not None:
        values["sla_due_at"] = now - timedelta(hours=due_hours_ago)
    session.execute(update(ReturnRequest).where(ReturnRequest.id == return_id).values(**values))


def queue(client, crew, team, who=None, query=""):
    response = client.get(f"{QUEUES}/{team}{query}", headers=crew[who or team])
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("team", ["support", "warehouse", "finance"])
def test_it_lists_exactly_what_each_team_waits_on(client, crew, returns, team):
    body = queue(client, crew, team, query="?per_page=100")
    names = {name for name, rid in returns.items() if rid in {r["id"] for r in body["items"]}}
    assert names == WAITING[team]
    assert body["total"] == len(WAITING[team])
    assert {r["team"] for r in body["items"]} == {team}


def test_it_leaves_approved_and_closed_returns_out_of_every_queue(client, crew, returns):
    listed = set()
    for team in ("support", "warehouse", "finance"):
        listed |= {r["id"] for r in queue(client, crew, team, "admin", "?per_page=100")["items"]}
    assert returns["approved"] not in listed
    assert returns["cancelled"] not in listed
    assert len(listed) == sum(len(names) for names in WAITING.values())


def test_it_lists_the_oldest_first_with_age_and_sla(client, session, crew, returns):
    set_clock(session, returns["inspected"], entered_hours_ago=30, due_hours_ago=6)
    set_clock(session, returns["validating"], entered_hours_ago=2)
    body = queue(client, crew, "support")
    first, second = body["items"]
    assert (first["id"], second["id"]) == (returns["inspected"], returns["validating"])
    assert 30 * 3600 - 5 <= first["age_seconds"] <= 30 * 3600 + 60
    assert 2 * 3600 - 5 <= second["age_seconds"] <= 2 * 3600 + 60
    assert (first["breached"], second["breached"]) == (True, False)
    assert datetime.fromisoformat(first["sla_due_at"]) < utcnow()
    assert datetime.fromisoformat(second["sla_due_at"]) > utcnow()
    assert first["customer"] == "casey"
    assert first["order_number"].startswith("BR-")
    assert [t["trigger"] for t in first["available_triggers"]] == ["decide"]


def test_it_filters_the_support_queue(client, session, app, crew, returns):
    their_order, _ = bought(session, app, crew.user("other"))
    theirs = open_return(client, crew["other"], their_order)
    set_clock(session, returns["inspected"], entered_hours_ago=10)

    def ids(query):
        return {r["id"] for r in queue(client, crew, "support", query=query)["items"]}

    assert ids("?state=INSPECTED") == {returns["inspected"]}
    assert ids("?state=VALIDATING") == {returns["validating"], theirs["id"]}
    assert ids("?older_than_hours=5") == {returns["inspected"]}
    assert ids("?older_than_hours=0") == {returns["validating"], returns["inspected"], theirs["id"]}
    assert ids(f"?q={theirs['number'].lower()}") == {theirs["id"]}
    assert ids(f"?q={crew.user('other').username}") == {theirs["id"]}
    assert ids("?reason=damaged&state=VALIDATING") == {returns["validating"], theirs["id"]}
    assert ids("?reason=other") == set()
    assert ids("?q=nobody-is-called-this") == set()


def test_it_pages_a_queue(client, crew, returns):
    body = queue(client, crew, "warehouse", query="?per_page=4&page=3")
    assert (body["total"], body["page"], body["per_page"]) == (len(WAITING["warehouse"]), 3, 4)
    assert len(body["items"]) == len(WAITING["warehouse"]) - 8
    everything = queue(client, crew, "warehouse", query="?per_page=100")["items"]
    assert [r["id"] for r in everything[8:]] == [r["id"] for r in body["items"]]


@pytest.mark.parametrize(
    "query",
    [
        "?older_than_hours=x",
        "?older_than_hours=-1",
        "?older_than_hours=9999999",
        "?older_than_hours=1.5",
        "?older_than_hours=%D9%A1",
        "?page=0",
        "?per_page=-3",
    ],
)
def test_it_refuses_malformed_filters_with_422(client, crew, query):
    response = client.get(f"{QUEUES}/support{query}", headers=crew["support"])
    assert_error(response, 422, "validation_error")


def test_it_shows_a_queue_only_to_its_team_and_admins(client, crew, returns):
    for team in ("support", "warehouse", "finance"):
        for who in ("customer", "support", "warehouse", "finance"):
            response = client.get(f"{QUEUES}/{team}", headers=crew[who])
            if who == team:
                assert response.status_code == 200
            else:
                assert_error(response, 403, "forbidden")
        assert client.get(f"{QUEUES}/{team}", headers=crew["admin"]).status_code == 200
        assert_error(client.get(f"{QUEUES}/{team}"), 401, "unauthorized")


@pytest.mark.parametrize("team", ["customer", "admin", "nope", "SUPPORT", "x" * 300])
def test_it_answers_unknown_teams_with_404(client, crew, team):
    assert_error(client.get(f"{QUEUES}/{team}", headers=crew["admin"]), 404, "not_found")


def test_it_moves_a_return_between_queues_as_it_advances(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    opened = open_return(client, crew["customer"], order)

    def where():
        return [
            team
            for team in ("support", "warehouse", "finance")
            if opened["id"] in {r["id"] for r in queue(client, crew, team)["items"]}
        ]

    assert where() == ["support"]
    walk(client, crew, opened["id"], until="approve")
    assert where() == []
    walk_rest = ["ship", "receive", "start_inspection", "complete_inspection", "decide"]
    expected = [["warehouse"], ["warehouse"], ["warehouse"], ["support"], ["finance"]]
    for trigger, teams in zip(walk_rest, expected, strict=True):
        fields = {
            "ship": {"carrier": "DHL", "tracking_number": "1"},
            "complete_inspection": {"condition": "used"},
            "decide": {"disposition": "STORE_CREDIT"},
        }.get(trigger, {})
        who = {"ship": "customer", "decide": "support"}.get(trigger, "warehouse")
        assert fire(client, crew[who], opened["id"], trigger, **fields).status_code == 200
        assert where() == teams, trigger
