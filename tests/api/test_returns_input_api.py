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


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\x00",
        b'{"trigger": "approve"',
        b'{"trigger": NaN}',
        b"[" * 100_000,
        b'{"a":' * 3000,
        b"null",
        b"1e999999",
        b'{"trigger": "approve", "version": 1e999}',
    ],
)
def test_it_answers_garbage_bodies_without_a_5xx(client, crew, opened, raw):
    for url in (RETURNS, f"{RETURNS}/{opened['id']}/transitions"):
        response = post_raw(client, url, crew["customer"], raw)
        assert response.status_code in (400, 422), response.get_json()


@pytest.mark.parametrize(
    "query",
    [
        "?state=%00",
        "?state=" + "S" * 5000,
        "?page=1e3",
        "?per_page=%F0%9F%92%A5",
        "?page=99999999999999999999",
        "?q=%25%5F%5C",
        "?reason=';drop table returns;--",
    ],
)
def test_it_answers_odd_query_strings_without_a_5xx(client, crew, opened, query):
    for url in (RETURNS, "/api/v1/queues/support"):
        response = client.get(url + query, headers=crew["support"])
        assert response.status_code in (200, 422), (url, query, response.get_json())


def test_it_answers_odd_uploads_without_a_5xx(client, crew, opened):
    url = f"{RETURNS}/{opened['id']}/photos"
    oddities = [
        {"data": b"--x\r\nbroken multipart", "content_type": "multipart/form-data; boundary=x"},
        {"data": b"photo=abc", "content_type": "application/x-www-form-urlencoded"},
        {"data": b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "content_type": "image/png"},
        {"data": b"", "content_type": "multipart/form-data"},
    ]
    for kwargs in oddities:
        response = client.post(url, headers=crew["customer"], **kwargs)
        assert response.status_code in (400, 413, 415, 422), response.get_json()
    header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (10**5).to_bytes(4, "big") * 2
    bomb = header + b"\x08\x02\x00\x00\x00" + b"\0" * 64
    response = upload(client, crew["customer"], opened["id"], bomb, "bomb.png")
    assert response.status_code in (413, 415)


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
    assert "carrier" in assert_error(response, 422, "validation_error")["details"]["fields"]
