"""The simulated gateway: CONTRACT's test cards, and idempotency by key like a real processor."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models.payments import GatewayCharge
from app.payments import GatewayFailure, SimulatedGateway
from app.payments.gateway import CARD_APPROVED, CARD_DECLINED, CARD_PROCESSING_ERROR, luhn_ok


@pytest.fixture
def gateway(db):
    return SimulatedGateway(db.sessions)


def charges(session):
    session.expire_all()
    return session.scalars(select(GatewayCharge).order_by(GatewayCharge.id)).all()


def test_it_approves_the_approved_test_card(gateway, session):
    result = gateway.charge(amount_cents=1999, card_number=CARD_APPROVED, idempotency_key="k1")
    assert result.approved
    assert result.reference.startswith("ch_")
    assert (result.amount_cents, result.decline_reason) == (1999, None)
    [row] = charges(session)
    assert (row.kind, row.status, row.card_last4, row.reference) == (
        "charge",
        "succeeded",
        "4242",
        result.reference,
    )


def test_it_declines_the_declined_test_card_as_an_answer(gateway, session):
    result = gateway.charge(amount_cents=500, card_number=CARD_DECLINED, idempotency_key="k1")
    assert not result.approved
    assert (result.reference, result.decline_reason) == (None, "card_declined")
    assert [r.status for r in charges(session)] == ["declined"]


def test_it_fails_on_the_processing_error_card_and_records_nothing(gateway, session):
    with pytest.raises(GatewayFailure):
        gateway.charge(amount_cents=500, card_number=CARD_PROCESSING_ERROR, idempotency_key="k1")
    assert charges(session) == []
    assert gateway.calls == 1


def test_it_approves_any_other_card(gateway):
    assert gateway.charge(
        amount_cents=1, card_number="5555555555554444", idempotency_key="k"
    ).approved


def test_it_answers_a_repeated_key_with_the_first_result(gateway, session):
    first = gateway.charge(amount_cents=700, card_number=CARD_APPROVED, idempotency_key="same")
    again = gateway.charge(amount_cents=999, card_number=CARD_DECLINED, idempotency_key="same")
    assert again == first
    assert len(charges(session)) == 1
    assert gateway.calls == 2


def test_it_tells_what_it_knows_of_a_key(gateway):
    assert gateway.find_charge("unknown") is None
    charged = gateway.charge(amount_cents=300, card_number=CARD_APPROVED, idempotency_key="k")
    assert gateway.find_charge("k") == charged


def test_it_refunds_once_per_key(gateway, session):
    charge = gateway.charge(amount_cents=800, card_number=CARD_APPROVED, idempotency_key="c")
    first = gateway.refund(amount_cents=300, charge_reference=charge.reference, idempotency_key="r")
    again = gateway.refund(amount_cents=300, charge_reference=charge.reference, idempotency_key="r")
    assert first.startswith("re_")
    assert again == first
    assert [(r.kind, r.amount_cents) for r in charges(session)] == [
        ("charge", 800),
        ("refund", 300),
    ]


def test_it_simulates_network_latency(db):
    slow = SimulatedGateway(db.sessions, latency_seconds=0.01)
    assert slow.charge(amount_cents=1, card_number=CARD_APPROVED, idempotency_key="k").approved
    assert slow.refund(amount_cents=1, charge_reference="ch_x", idempotency_key="r").startswith(
        "re_"
    )


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        (CARD_APPROVED, True),
        (CARD_DECLINED, True),
        ("4242424242424241", False),
        ("79927398713", True),
    ],
)
def test_it_checks_card_numbers_with_luhn(number, valid):
    assert luhn_ok(number) is valid
