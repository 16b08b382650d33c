"""No input to the returns endpoints, however malformed, gets a 5xx (CONTRACT §3.1)."""

from __future__ import annotations

import random

import pytest

from tests.api.helpers import assert_error
from tests.api.returns_helpers import RETURNS, bought, make_crew, open_return, upload

ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**31,
    2**63,
    -(2**63),
    10**400,
    "",
    " ",
    "0",
    "1e9",
    "\x00",
    "💥" * 50,
    "x" * 20_000,
    [],
    [1],
    {},
    {"a": {"b": [None]}},
    float("inf"),
]
TRIGGERS = [
    "approve",
    "reject",
    "cancel",
    "ship",
    "decide",
    "complete",
    "retry_refund",
    "validate",
    "submit",
    "__init__",
    "to_COMPLETED",
    "trigger",
    "../admin",
]
FIELDS = [
    "note",
    "carrier",
    "tracking_number",
    "condition",
    "notes",
    "disposition",
    "amount_cents",
    "return_tracking",
    "version",
    "state",
    "owner_id",
]


@pytest.fixture
def crew(session, customer):
    return make_crew(session, customer)


@pytest.fixture
def opened(client, session, app, customer, crew):
    order, _ = bought(session, app, customer, quantity=3)
    body = open_return(client, crew["customer"], order)
    body["order"] = order
    return body


def post_raw(client, url, headers, raw):
    return client.post(url, data=raw, content_type="application/json", headers=headers)


def test_it_survives_odd_values_in_every_field_of_a_new_return(
    client, session, app, customer, crew
):
    order, _ = bought(session, app, customer, quantity=500, stock=500)  # never runs out
    template = {
        "order_id": order.id,
        "reason": "damaged",
        "description": "x",
        "lines": [{"order_line_id": order.lines[0].id, "quantity": 1}],
    }
    statuses = set()
    for key in template:
        for value in ODD_VALUES:
            for body in ({**template, key: value}, {**template, "lines": [{key: value}]}):
                response = client.post(RETURNS, json=body, headers=crew["customer"])
                statuses.add(response.status_code)
                assert response.status_code < 500, (key, value, response.get_json())
    assert statuses <= {201, 400, 404, 422}


def test_it_survives_odd_values_in_transitions(client, crew, opened):
    url = f"{RETURNS}/{opened['id']}/transitions"
    rng = random.Random(7)
    for who in ("support", "warehouse", "finance", "customer", "admin", "other"):
        for _ in range(60):
            body = {"trigger": rng.choice([*TRIGGERS, *ODD_VALUES[:6]])}
            for field in rng.sample(FIELDS, 3):
                body[field] = rng.choice(ODD_VALUES)
            response = client.post(url, json=body, headers=crew[who])
            assert response.status_code < 500, (who, body, response.get_json())
            assert response.status_code in (200, 403, 404, 409, 422), response.get_json()


NEW_RETURN_FIELDS = {"order_id", "reason", "description", "lines"}


@pytest.mark.parametrize(
    ("raw", "transition_field"),
    [
        (b"\xff\xfe\x00", None),
        (b'{"trigger": "approve"', None),
        (b'{"trigger": NaN}', "trigger"),
        (b"[" * 100_000, None),
        (b'{"a":' * 3000, None),
        (b"null", None),
        (b"1e999999", None),
        (b'{"trigger": "approve", "version": 1e999}', "version"),
    ],
)
def test_it_answers_garbage_bodies_without_a_5xx(client, crew, opened, raw, transition_field):
    """Not a JSON object: 400. An object (NaN and 1e999 parse as floats): 422 naming the
    fields a new return lacks, and the transition field of the wrong type."""
    created = post_raw(client, RETURNS, crew["customer"], raw)
    fired = post_raw(client, f"{RETURNS}/{opened['id']}/transitions", crew["customer"], raw)
    if transition_field is None:
        assert_error(created, 400, "bad_request")
        assert_error(fired, 400, "bad_request")
    else:
        error = assert_error(created, 422, "validation_error")
        assert set(error["details"]["fields"]) == NEW_RETURN_FIELDS
        error = assert_error(fired, 422, "validation_error")
        assert set(error["details"]["fields"]) == {transition_field}
    after = client.get(f"{RETURNS}/{opened['id']}", headers=crew["customer"]).get_json()
    assert (after["state"], after["version"]) == (opened["state"], opened["version"])


@pytest.mark.parametrize(
    ("query", "bad_field"),
    [
        ("?state=%00", None),
        ("?state=" + "S" * 5000, None),
        ("?page=1e3", "page"),
        ("?per_page=%F0%9F%92%A5", "per_page"),
        ("?page=99999999999999999999", "page"),
        ("?q=%25%5F%5C", None),
        ("?reason=';drop table returns;--", None),
    ],
)
def test_it_answers_odd_query_strings_without_a_5xx(client, crew, opened, query, bad_field):
    """Odd filter values are plain values (a list, maybe empty); paging that is not a
    positive integer is a 422 naming it."""
    for url in (RETURNS, "/api/v1/queues/support"):
        response = client.get(url + query, headers=crew["support"])
        if bad_field is None:
            assert response.status_code == 200, (url, query, response.get_json())
            assert set(response.get_json()) == {"items", "total", "page", "per_page"}
        else:
            error = assert_error(response, 422, "validation_error")
            assert set(error["details"]["fields"]) == {bad_field}, (url, query)


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        # multipart without a `photo` part: the field is missing
        (b"--x\r\nbroken multipart", "multipart/form-data; boundary=x", 422, "validation_error"),
        (b"", "multipart/form-data", 422, "validation_error"),
        # not multipart at all: CONTRACT §3.1 and §3.4, 415
        (b"photo=abc", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png", 415, "unsupported_media_type"),
    ],
)
def test_it_answers_odd_uploads_without_a_5xx(
    client, crew, opened, data, content_type, status, code
):
    url = f"{RETURNS}/{opened['id']}/photos"
    response = client.post(url, headers=crew["customer"], data=data, content_type=content_type)
    error = assert_error(response, status, code)
    if status == 422:
        assert set(error["details"]["fields"]) == {"photo"}
    assert photos_of(client, crew, opened) == []


def test_it_answers_a_decompression_bomb_as_unreadable_with_415(client, crew, opened):
    header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (10**5).to_bytes(4, "big") * 2
    bomb = header + b"\x08\x02\x00\x00\x00" + b"\0" * 64
    response = upload(client, crew["customer"], opened["id"], bomb, "bomb.png")
    assert_error(response, 415, "unsupported_media_type")
    assert photos_of(client, crew, opened) == []


def photos_of(client, crew, opened):
    return client.get(f"{RETURNS}/{opened['id']}", headers=crew["customer"]).get_json()["photos"]


def test_it_refuses_nul_characters_in_text_it_would_store(client, session, app, customer, crew):
    order, _ = bought(session, app, customer)
    body = {
        "order_id": order.id,
        "reason": "other",
        "description": "a\x00b",
        "lines": [{"order_line_id": order.lines[0].id, "quantity": 1}],
    }
    response = client.post(RETURNS, json=body, headers=crew["customer"])
    error = assert_error(response, 422, "validation_error")
    assert error["details"]["fields"] == {"description": "must not contain NUL characters"}
    opened = open_return(client, crew["customer"], order)
    url = f"{RETURNS}/{opened['id']}/transitions"
    note = client.post(url, json={"trigger": "approve", "note": "\x00"}, headers=crew["support"])
    assert assert_error(note, 422, "validation_error")["details"]["fields"] == {
        "note": "must not contain NUL characters"
    }
    client.post(url, json={"trigger": "approve"}, headers=crew["support"])
    ship = {"trigger": "ship", "carrier": "DHL\x00", "tracking_number": "1"}
    response = client.post(url, json=ship, headers=crew["customer"])
    assert assert_error(response, 422, "validation_error")["details"]["fields"] == {
        "carrier": "must not contain NUL characters"
    }
