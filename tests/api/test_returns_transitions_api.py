"""POST /api/v1/returns/<id>/transitions: who may move a return, from where, with what."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.models.returns import OutboxMessage, ReturnEvent, ReturnRequest
from tests.api.helpers import assert_error
from tests.api.returns_helpers import RETURNS, bought, fire, make_crew, open_return, walk

ROLES = ("customer", "support", "warehouse", "finance")


@pytest.fixture
def crew(session, customer):
    return make_crew(session, customer)


@pytest.fixture
def opened(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    return open_return(client, crew["customer"], order)


def reload(session, return_id):
    session.expire_all()
    return session.get(ReturnRequest, return_id)


def events_of(session, return_id):
    session.expire_all()
    return list(
        session.scalars(select(ReturnEvent.trigger).where(ReturnEvent.return_id == return_id))
    )


# (walk until, disposition, trigger, fields, who may fire it)
STEPS = [
    (None, "REFUND", "approve", {}, {"support"}),
    (None, "REFUND", "reject", {"note": "outside policy"}, {"support"}),
    (None, "REFUND", "cancel", {}, {"customer", "support"}),
    ("approve", "REFUND", "ship", {"carrier": "UPS", "tracking_number": "1Z"}, {"customer"}),
    ("ship", "REFUND", "receive", {}, {"warehouse"}),
    ("receive", "REFUND", "start_inspection", {}, {"warehouse"}),
    ("start_inspection", "REFUND", "complete_inspection", {"condition": "used"}, {"warehouse"}),
    ("complete_inspection", "REFUND", "decide", {"disposition": "REFUND"}, {"support"}),
    ("decide", "REFUND", "process", {}, {"finance"}),
    ("decide", "STORE_CREDIT", "process", {}, {"finance"}),
    ("decide", "REPLACEMENT", "process", {}, {"warehouse"}),
    ("decide", "REPAIR", "process", {}, {"warehouse"}),
    ("process", "REPLACEMENT", "complete", {"tracking_number": "OUT-1"}, {"warehouse"}),
    ("process", "REJECT", "complete", {"return_tracking": "OUT-2"}, {"warehouse"}),
]


@pytest.mark.parametrize(
    ("until", "disposition", "trigger", "fields", "allowed"),
    STEPS,
    ids=[f"{s[2]}-{s[1]}" for s in STEPS],
)
def test_it_refuses_each_trigger_to_the_wrong_roles_and_lets_the_right_one_fire_it(
    client, session, crew, opened, until, disposition, trigger, fields, allowed
):
    if until:
        walk(client, crew, opened["id"], until=until, disposition=disposition)
    before = reload(session, opened["id"])
    state, version = before.state, before.version
    for who in sorted(set(ROLES) - allowed):
        assert_error(fire(client, crew[who], opened["id"], trigger, **fields), 403, "forbidden")
    stranger = fire(client, crew["other"], opened["id"], trigger, **fields)
    assert_error(stranger, 404, "not_found")
    after = reload(session, opened["id"])
    assert (after.state, after.version) == (state, version)
    who = sorted(allowed)[0]
    response = fire(client, crew[who], opened["id"], trigger, **fields)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["state"] != state
    assert body["version"] == version + 1
    assert body["events"][-1]["trigger"] == trigger
    assert events_of(session, opened["id"])[-1] == trigger


@pytest.mark.parametrize(
    ("until", "who", "trigger", "fields"),
    [
        (None, "warehouse", "receive", {}),
        (None, "customer", "ship", {"carrier": "DHL", "tracking_number": "1"}),
        (None, "support", "decide", {"disposition": "REFUND"}),
        (None, "support", "validate", {}),
        (None, "admin", "complete", {"tracking_number": "1"}),
        ("approve", "support", "approve", {}),
        ("ship", "customer", "cancel", {}),
        ("ship", "support", "cancel", {"note": "too late"}),
        ("process", "finance", "process", {}),
    ],
)
def test_it_refuses_a_trigger_from_the_wrong_state_with_409(
    client, session, crew, opened, until, who, trigger, fields
):
    if until:
        walk(client, crew, opened["id"], until=until)
    version = reload(session, opened["id"]).version
    response = fire(client, crew[who], opened["id"], trigger, **fields)
    error = assert_error(response, 409, "invalid_transition")
    assert error["details"]["trigger"] == trigger
    assert reload(session, opened["id"]).version == version


@pytest.mark.parametrize("trigger", ["fly", "APPROVE", "x" * 60, "submit", "retry_refund"])
def test_it_refuses_an_unknown_or_unavailable_trigger_with_409(client, crew, opened, trigger):
    assert_error(fire(client, crew["admin"], opened["id"], trigger), 409, "invalid_transition")


def test_it_refuses_closed_returns_every_trigger(client, session, crew, opened):
    assert fire(client, crew["customer"], opened["id"], "cancel").status_code == 200
    body = client.get(f"{RETURNS}/{opened['id']}", headers=crew["admin"]).get_json()
    assert (body["state"], body["terminal"], body["available_triggers"]) == (
        "CANCELLED",
        True,
        [],
    )
    for trigger in ("approve", "cancel", "ship"):
        assert_error(fire(client, crew["admin"], opened["id"], trigger), 409, "invalid_transition")


CONDITIONS = "must be one of new, like_new, used, damaged, defective"
DISPOSITIONS = "must be one of REFUND, REPLACEMENT, REPAIR, REJECT, STORE_CREDIT"
NOT_CENTS = "must be a whole number of cents"
REQUIRED = "is required"
INSPECT = ("start_inspection", "warehouse", "complete_inspection")
DECIDE = ("complete_inspection", "support", "decide")
BAD_FIELDS = [
    (None, "support", "reject", {}, {"note": REQUIRED}),
    (None, "support", "reject", {"note": "   "}, {"note": REQUIRED}),
    (None, "support", "approve", {"note": 5}, {"note": "must be text"}),
    (
        None,
        "support",
        "approve",
        {"note": "x" * 2001},
        {"note": "must have at most 2000 characters"},
    ),
    ("approve", "customer", "ship", {}, {"carrier": REQUIRED, "tracking_number": REQUIRED}),
    (
        "approve",
        "customer",
        "ship",
        {"carrier": "D", "tracking_number": [1]},
        {"tracking_number": "must be text"},
    ),
    (*INSPECT, {}, {"condition": REQUIRED}),
    (*INSPECT, {"condition": "meh"}, {"condition": CONDITIONS}),
    (*INSPECT, {"condition": ["new"]}, {"condition": CONDITIONS}),
    (*DECIDE, {}, {"disposition": REQUIRED}),
    (*DECIDE, {"disposition": "refund"}, {"disposition": DISPOSITIONS}),
    (*DECIDE, {"disposition": "REFUND", "amount_cents": "ten"}, {"amount_cents": NOT_CENTS}),
    (*DECIDE, {"disposition": "REFUND", "amount_cents": 1.5}, {"amount_cents": NOT_CENTS}),
    (*DECIDE, {"disposition": "REFUND", "amount_cents": True}, {"amount_cents": NOT_CENTS}),
    (
        *DECIDE,
        {"disposition": "REFUND", "amount_cents": -5},
        {"amount_cents": "must be zero or more"},
    ),
    (
        *DECIDE,
        {"disposition": "REFUND", "amount_cents": 2**70},
        {"amount_cents": "must be at most 2147483647"},
    ),
]


@pytest.mark.parametrize(("until", "who", "trigger", "fields", "problems"), BAD_FIELDS)
def test_it_names_each_missing_or_malformed_field_with_422(
    client, session, crew, opened, until, who, trigger, fields, problems
):
    if until:
        walk(client, crew, opened["id"], until=until)
    before = reload(session, opened["id"])
    response = fire(client, crew[who], opened["id"], trigger, **fields)
    error = assert_error(response, 422, "validation_error")
    assert error["details"]["fields"] == problems
    after = reload(session, opened["id"])
    assert (after.state, after.version) == (before.state, before.version)


@pytest.mark.parametrize(
    ("disposition", "fields", "problems"),
    [
        ("REPLACEMENT", {}, {"tracking_number": "is required"}),
        ("REPAIR", {}, {"return_tracking": "is required"}),
        ("REJECT", {"tracking_number": "X"}, {"return_tracking": "is required"}),
    ],
)
def test_it_needs_the_outbound_tracking_to_complete_goods(
    client, session, crew, opened, disposition, fields, problems
):
    walk(client, crew, opened["id"], until="process", disposition=disposition)
    error = assert_error(
        fire(client, crew["warehouse"], opened["id"], "complete", **fields), 422, "validation_error"
    )
    assert error["details"]["fields"] == problems
    assert reload(session, opened["id"]).state == "PROCESSING"


def test_it_refuses_an_amount_above_what_was_paid_naming_the_guard(
    client, session, app, customer, crew
):
    order, _ = bought(session, app, customer, quantity=3, price_cents=1999)
    opened = open_return(client, crew["customer"], order, quantity=2)
    walk(client, crew, opened["id"], until="complete_inspection")
    response = fire(
        client, crew["support"], opened["id"], "decide", disposition="REFUND", amount_cents=3999
    )
    error = assert_error(response, 422, "validation_error")
    assert set(error["details"]["guards"]) == {"amount_within_paid"}
    assert "3998 cents" in error["details"]["guards"]["amount_within_paid"]
    assert reload(session, opened["id"]).state == "INSPECTED"
    exact = fire(
        client, crew["support"], opened["id"], "decide", disposition="REFUND", amount_cents=3998
    )
    assert exact.status_code == 200
    assert (exact.get_json()["amount_cents"], exact.get_json()["state"]) == (3998, "DISPOSITION")


def test_it_refuses_an_amount_for_goods_dispositions(client, session, crew, opened):
    walk(client, crew, opened["id"], until="complete_inspection")
    response = fire(
        client, crew["support"], opened["id"], "decide", disposition="REPAIR", amount_cents=100
    )
    error = assert_error(response, 422, "validation_error")
    assert "REFUND and STORE_CREDIT" in error["details"]["guards"]["amount_within_paid"]


@pytest.mark.parametrize(
    ("disposition", "amount", "expected"),
    [
        ("REFUND", None, 2500),
        ("STORE_CREDIT", None, 2500),
        ("REFUND", 1200, 1200),
        ("REFUND", "800", 800),
        ("REPLACEMENT", None, None),
    ],
)
def test_it_defaults_the_amount_to_what_was_paid_for_the_returned_lines(
    client, session, crew, opened, disposition, amount, expected
):
    body = walk(
        client, crew, opened["id"], until="decide", disposition=disposition, amount_cents=amount
    )
    assert (body["disposition"], body["amount_cents"]) == (disposition, expected)
    assert body["team"] == ("finance" if disposition in ("REFUND", "STORE_CREDIT") else "warehouse")


def test_it_refuses_a_stale_version_with_409(client, session, crew, opened):
    assert opened["version"] == 2
    approved = fire(client, crew["support"], opened["id"], "approve", version=2)
    assert approved.status_code == 200
    assert approved.get_json()["version"] == 3
    late = fire(client, crew["customer"], opened["id"], "cancel", version=2)
    error = assert_error(late, 409, "stale_version")
    assert error["details"]["version"] == 3
    assert reload(session, opened["id"]).state == "APPROVED"
    assert fire(client, crew["customer"], opened["id"], "cancel", version=3).status_code == 200


@pytest.mark.parametrize("version", ["2", True, 0, -1, 1.0, 2**63, [2], {"v": 2}])
def test_it_refuses_a_version_that_is_not_a_positive_integer(
    client, session, crew, opened, version
):
    error = assert_error(
        fire(client, crew["support"], opened["id"], "approve", version=version),
        422,
        "validation_error",
    )
    assert set(error["details"]["fields"]) == {"version"}
    assert reload(session, opened["id"]).state == "VALIDATING"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"trigger": ""},
        {"trigger": "   "},
        {"trigger": 5},
        {"trigger": None},
        {"trigger": ["approve"]},
        {"trigger": "a" * 61},
    ],
)
def test_it_needs_a_trigger_name(client, crew, opened, body):
    response = client.post(
        f"{RETURNS}/{opened['id']}/transitions", json=body, headers=crew["support"]
    )
    assert set(assert_error(response, 422, "validation_error")["details"]["fields"]) == {"trigger"}


@pytest.mark.parametrize("raw", ["", "[]", "nope", '"approve"', "[" * 5000])
def test_it_refuses_a_body_that_is_not_an_object(client, crew, opened, raw):
    response = client.post(
        f"{RETURNS}/{opened['id']}/transitions",
        data=raw,
        content_type="application/json",
        headers=crew["support"],
    )
    assert_error(response, 400, "bad_request")


def test_it_answers_a_missing_return_with_404(client, crew):
    for path in ("999999", "2147483648", "99999999999999999999999"):
        response = client.post(
            f"{RETURNS}/{path}/transitions", json={"trigger": "approve"}, headers=crew["support"]
        )
        assert_error(response, 404, "not_found")
    assert_error(
        client.post(f"{RETURNS}/1/transitions", json={"trigger": "approve"}), 401, "unauthorized"
    )


def test_it_ignores_keys_that_are_not_fields_of_the_trigger(client, session, crew, opened):
    response = fire(
        client,
        crew["support"],
        opened["id"],
        "approve",
        state="COMPLETED",
        disposition="REFUND",
        customer_id=999,
        note="ok",
    )
    body = response.get_json()
    assert (body["state"], body["disposition"], body["customer_id"]) == (
        "APPROVED",
        None,
        opened["customer_id"],
    )
    assert body["events"][-1]["data"] == {"note": "ok"}


def test_it_tells_the_customer_with_the_note(client, session, crew, opened):
    fire(client, crew["support"], opened["id"], "reject", note="  No receipt.  ")
    body = client.get(f"{RETURNS}/{opened['id']}", headers=crew["customer"]).get_json()
    assert (body["state"], body["terminal"]) == ("REJECTED", True)
    assert body["events"][-1]["data"] == {"note": "No receipt."}
    session.expire_all()
    notices = session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "notification").order_by(OutboxMessage.id)
    ).all()
    last = json.loads(notices[-1].payload)
    assert (last["return_id"], last["state"], last["note"]) == (
        opened["id"],
        "REJECTED",
        "No receipt.",
    )


def test_it_lets_support_cancel_an_approved_return_but_not_the_warehouse(
    client, session, crew, opened
):
    walk(client, crew, opened["id"], until="approve")
    assert_error(fire(client, crew["warehouse"], opened["id"], "cancel"), 403, "forbidden")
    response = fire(client, crew["support"], opened["id"], "cancel", note="customer phoned")
    assert response.get_json()["state"] == "CANCELLED"
    assert response.get_json()["events"][-1]["actor"] == crew.user("support").username


def test_it_lets_an_admin_do_any_step(client, session, crew, opened):
    for trigger, fields in [
        ("approve", {}),
        ("ship", {"carrier": "DHL", "tracking_number": "A1"}),
        ("receive", {}),
        ("start_inspection", {}),
        ("complete_inspection", {"condition": "new"}),
        ("decide", {"disposition": "REPAIR"}),
        ("process", {}),
        ("complete", {"return_tracking": "B2"}),
    ]:
        response = fire(client, crew["admin"], opened["id"], trigger, **fields)
        assert response.status_code == 200, (trigger, response.get_json())
    body = response.get_json()
    assert (body["state"], body["outbound_tracking"]) == ("COMPLETED", "B2")
    assert {e["role"] for e in body["events"][2:]} == {"admin"}


def test_it_does_not_let_people_complete_a_refund_before_the_gateway_did(
    client, session, crew, opened
):
    walk(client, crew, opened["id"], until="process")
    for who, status, code in [
        ("admin", 422, "validation_error"),
        ("warehouse", 422, "validation_error"),
        ("finance", 403, "forbidden"),
    ]:
        response = fire(client, crew[who], opened["id"], "complete", tracking_number="X")
        assert_error(response, status, code)
    assert reload(session, opened["id"]).state == "PROCESSING"
