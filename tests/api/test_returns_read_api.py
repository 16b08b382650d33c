"""GET /api/v1/returns and /returns/<id>: who sees what, filters, pages, next steps."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from tests.api.helpers import assert_error
from tests.api.returns_helpers import RETURNS, bought, fire, make_crew, open_return, walk
from tests.conftest import bearer, sign_in


@pytest.fixture
def crew(session, customer):
    return make_crew(session, customer)


def triggers(body):
    return sorted(t["trigger"] for t in body["available_triggers"])


def test_it_lists_a_customers_own_returns_newest_first(client, session, app, customer, crew):
    order, _ = bought(session, app, customer, quantity=3)
    first = open_return(client, crew["customer"], order)
    second = open_return(client, crew["customer"], order)
    their_order, _ = bought(session, app, crew.user("other"))
    theirs = open_return(client, crew["other"], their_order)
    response = client.get(RETURNS, headers=crew["customer"])
    assert response.status_code == 200
    body = response.get_json()
    assert (body["total"], body["page"], body["per_page"]) == (2, 1, 20)
    assert [r["id"] for r in body["items"]] == [second["id"], first["id"]]
    assert body["items"][0]["events"][0]["actor"] == "casey"
    assert [r["id"] for r in client.get(RETURNS, headers=crew["other"]).get_json()["items"]] == [
        theirs["id"]
    ]


def test_it_lists_every_return_to_staff_and_filters_by_state(client, session, app, customer, crew):
    order, _ = bought(session, app, customer, quantity=3)
    waiting = open_return(client, crew["customer"], order)
    approved = open_return(client, crew["customer"], order)
    assert fire(client, crew["support"], approved["id"], "approve").status_code == 200
    their_order, _ = bought(session, app, crew.user("other"))
    theirs = open_return(client, crew["other"], their_order)
    for who in ("support", "warehouse", "finance", "admin"):
        body = client.get(RETURNS, headers=crew[who]).get_json()
        assert {r["id"] for r in body["items"]} == {waiting["id"], approved["id"], theirs["id"]}
    body = client.get(f"{RETURNS}?state=APPROVED", headers=crew["support"]).get_json()
    assert ([r["id"] for r in body["items"]], body["total"]) == ([approved["id"]], 1)
    assert client.get(f"{RETURNS}?state=NOPE", headers=crew["support"]).get_json()["items"] == []
    mine = client.get(f"{RETURNS}?state=VALIDATING", headers=crew["customer"]).get_json()
    assert [r["id"] for r in mine["items"]] == [waiting["id"]]


def test_it_pages_the_list(client, session, app, customer, crew):
    order, _ = bought(session, app, customer, quantity=3)
    ids = [open_return(client, crew["customer"], order)["id"] for _ in range(3)]
    body = client.get(f"{RETURNS}?page=2&per_page=2", headers=crew["customer"]).get_json()
    assert (body["total"], body["page"], body["per_page"]) == (3, 2, 2)
    assert [r["id"] for r in body["items"]] == [ids[0]]
    past = client.get(f"{RETURNS}?page=9&per_page=2", headers=crew["customer"]).get_json()
    assert (past["items"], past["total"]) == ([], 3)
    capped = client.get(f"{RETURNS}?per_page=1000", headers=crew["customer"]).get_json()
    assert capped["per_page"] == 100
    for bad in ("page=0", "per_page=x", "page=99999999999"):
        assert_error(
            client.get(f"{RETURNS}?{bad}", headers=crew["customer"]), 422, "validation_error"
        )


def test_it_needs_a_signed_in_caller(client):
    assert_error(client.get(RETURNS), 401, "unauthorized")
    assert_error(client.get(f"{RETURNS}/1"), 401, "unauthorized")
    assert_error(client.get(RETURNS, headers={"Authorization": "Bearer nope"}), 401, "unauthorized")


def test_it_shows_a_return_to_its_owner_and_staff_only(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    opened = open_return(client, crew["customer"], order)
    url = f"{RETURNS}/{opened['id']}"
    for who in ("customer", "support", "warehouse", "finance", "admin"):
        response = client.get(url, headers=crew[who])
        assert response.status_code == 200
        assert response.get_json()["id"] == opened["id"]
    hidden = client.get(url, headers=crew["other"])
    missing = client.get(f"{RETURNS}/{opened['id'] + 1000}", headers=crew["other"])
    assert_error(hidden, 404, "not_found")
    assert hidden.get_json() == missing.get_json()


@pytest.mark.parametrize("path", ["0", "99999999999999999999", "-1", "abc", "1.5"])
def test_it_answers_impossible_ids_with_404(client, crew, path):
    assert_error(client.get(f"{RETURNS}/{path}", headers=crew["support"]), 404, "not_found")


def test_it_works_with_a_token_from_the_api_and_with_a_browser_session(
    client, session, app, customer, crew
):
    order, _ = bought(session, app, customer)
    opened = open_return(client, bearer(client, customer), order)
    browser = app.test_client()
    sign_in(browser, customer)
    response = browser.get(f"{RETURNS}/{opened['id']}")
    assert response.status_code == 200
    assert response.get_json()["number"] == opened["number"]


def test_it_lists_what_each_caller_may_do_next(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    opened = open_return(client, crew["customer"], order)
    url = f"{RETURNS}/{opened['id']}"
    seen = {
        who: triggers(client.get(url, headers=crew[who]).get_json())
        for who in ("customer", "support", "warehouse", "finance", "admin")
    }
    assert seen == {
        "customer": ["cancel"],
        "support": ["approve", "cancel", "reject"],
        "warehouse": [],
        "finance": [],
        "admin": ["approve", "cancel", "reject"],
    }
    assert fire(client, crew["support"], opened["id"], "approve").status_code == 200
    seen = {
        who: triggers(client.get(url, headers=crew[who]).get_json())
        for who in ("customer", "support", "warehouse", "finance")
    }
    assert seen == {
        "customer": ["cancel", "ship"],
        "support": ["cancel"],
        "warehouse": [],
        "finance": [],
    }
    ship = next(
        t
        for t in client.get(url, headers=crew["customer"]).get_json()["available_triggers"]
        if t["trigger"] == "ship"
    )
    assert ship["dest"] == "SHIPPING"
    assert [(f["name"], f["type"], f["required"]) for f in ship["fields"]] == [
        ("carrier", "string", True),
        ("tracking_number", "string", True),
    ]


def test_it_offers_the_decision_fields_with_their_choices(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    opened = open_return(client, crew["customer"], order)
    walk(client, crew, opened["id"], until="complete_inspection")
    body = client.get(f"{RETURNS}/{opened['id']}", headers=crew["support"]).get_json()
    [decide] = body["available_triggers"]
    fields = {f["name"]: f for f in decide["fields"]}
    assert fields["disposition"]["choices"] == [
        "REFUND",
        "REPLACEMENT",
        "REPAIR",
        "REJECT",
        "STORE_CREDIT",
    ]
    assert (fields["disposition"]["required"], fields["amount_cents"]["required"]) == (True, False)
    assert fields["amount_cents"]["type"] == "money"
    owner_view = client.get(f"{RETURNS}/{opened['id']}", headers=crew["customer"]).get_json()
    assert triggers(owner_view) == []


def test_it_records_who_did_each_step_with_times_and_data(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    opened = open_return(client, crew["customer"], order)
    body = walk(client, crew, opened["id"], until="complete_inspection")
    events = body["events"]
    assert [e["trigger"] for e in events] == [
        "submit",
        "validate",
        "approve",
        "ship",
        "receive",
        "start_inspection",
        "complete_inspection",
    ]
    assert [e["actor"] for e in events] == [
        "casey",
        "system",
        crew.user("support").username,
        "casey",
        *[crew.user("warehouse").username] * 3,
    ]
    assert events[3]["data"] == {"carrier": "DHL", "tracking_number": "JD014600006281"}
    assert events[-1]["data"] == {"condition": "like_new"}
    assert all(e["to"] == n["from"] for e, n in itertools.pairwise(events))
    times = [datetime.fromisoformat(e["at"]) for e in events]
    assert times == sorted(times)
    assert all(t.utcoffset() is not None for t in times)
    assert (body["carrier"], body["tracking_number"], body["condition"]) == (
        "DHL",
        "JD014600006281",
        "like_new",
    )
    assert (body["state"], body["version"], body["team"]) == ("INSPECTED", 7, "support")
    assert datetime.fromisoformat(body["sla_due_at"]) > datetime.fromisoformat(
        body["state_entered_at"]
    )
