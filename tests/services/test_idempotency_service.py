"""Idempotency keys: claim before the work, keep the answer, release transient failures."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.errors import Conflict, ValidationError
from app.models.idempotency import IdempotencyRecord
from app.services.idempotency import StoredResponse, claim_key, request_hash, store_response

PAYLOAD = {"lines": [{"product_id": 1, "quantity": 2}], "payment": {"card_number": "4242"}}


def claim(session, user, key="k1", payload=PAYLOAD, scope="orders"):
    return claim_key(session, user_id=user.id, scope=scope, key=key, payload=payload)


def test_it_lets_the_first_request_go_ahead(session, customer):
    record_id, stored = claim(session, customer)
    assert stored is None
    record = session.get(IdempotencyRecord, record_id)
    assert (record.key, record.scope, record.status_code) == ("k1", "orders", None)


def test_it_refuses_a_repeat_while_the_first_is_in_flight(session, customer):
    claim(session, customer)
    with pytest.raises(Conflict) as caught:
        claim(session, customer)
    assert caught.value.code == "idempotency_in_progress"


def test_it_gives_back_the_kept_answer(session, customer):
    record_id, _ = claim(session, customer)
    store_response(session, record_id, status=201, body='{"id": 1}')
    again_id, stored = claim(session, customer)
    assert again_id is None
    assert stored == StoredResponse(201, '{"id": 1}')


def test_it_refuses_the_key_with_another_payload(session, customer):
    record_id, _ = claim(session, customer)
    store_response(session, record_id, status=201, body="{}")
    with pytest.raises(Conflict) as caught:
        claim(session, customer, payload={**PAYLOAD, "store_credit_cents": 1})
    assert caught.value.code == "idempotency_key_reused"


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_it_releases_the_key_after_a_transient_failure(session, customer, status):
    record_id, _ = claim(session, customer)
    store_response(session, record_id, status=status, body="{}")
    assert session.scalars(select(IdempotencyRecord)).all() == []
    new_id, stored = claim(session, customer)
    assert (new_id is not None, stored) == (True, None)


@pytest.mark.parametrize("status", [201, 402, 404, 409, 422])
def test_it_keeps_answers_that_are_not_transient(session, customer, status):
    record_id, _ = claim(session, customer)
    store_response(session, record_id, status=status, body="{}")
    assert claim(session, customer)[1] == StoredResponse(status, "{}")


def test_it_keeps_keys_apart_by_user_and_scope(session, customer, admin):
    claim(session, customer)
    assert claim(session, admin)[1] is None
    assert claim(session, customer, scope="checkout")[1] is None


@pytest.mark.parametrize("key", ["", "k" * 256, "a\x00b"])
def test_it_refuses_an_unusable_key(session, customer, key):
    with pytest.raises(ValidationError) as caught:
        claim(session, customer, key=key)
    assert set(caught.value.fields) == {"Idempotency-Key"}


def test_it_hashes_equal_payloads_equally_whatever_the_key_order():
    assert request_hash({"a": 1, "b": [1, 2]}) == request_hash({"b": [1, 2], "a": 1})
    assert request_hash({"a": 1}) != request_hash({"a": 2})


def test_it_lets_a_retry_take_over_a_key_whose_request_died(session, customer):
    from datetime import timedelta

    from sqlalchemy import update

    from app.db import utcnow
    from app.models.idempotency import IdempotencyRecord

    first, _ = claim_key(session, user_id=customer.id, scope="orders", key="k-dead", payload={})
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == first)
        .values(created_at=utcnow() - timedelta(minutes=10))
    )
    session.commit()
    again, stored = claim_key(
        session, user_id=customer.id, scope="orders", key="k-dead", payload={}
    )
    assert (again, stored) == (first, None)
    with pytest.raises(Conflict, match="in progress"):
        claim_key(session, user_id=customer.id, scope="orders", key="k-dead", payload={})
