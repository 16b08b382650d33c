"""A refund the gateway keeps failing: visible, retryable by finance, never paid twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.models.payments import GatewayCharge
from app.models.returns import OutboxMessage
from app.payments import GatewayFailure, PaymentBreaker, Payments
from app.services.returns import MAX_REFUND_ATTEMPTS
from jobs.returns import complete_returns, send_refunds
from tests.api.helpers import assert_error
from tests.api.returns_helpers import (
    RETURNS,
    bought,
    fire,
    job_context,
    make_crew,
    open_return,
    payments_of,
    walk,
)


class DownGateway:
    """A processor that fails every refund (and counts how often it was asked)."""

    def __init__(self) -> None:
        self.calls = 0

    def refund(self, **kwargs: Any) -> str:
        self.calls += 1
        raise GatewayFailure("processor unavailable")


def down_payments(fail_max: int) -> tuple[Payments, DownGateway]:
    gateway = DownGateway()
    breaker = PaymentBreaker(
        name="refunds-test", fail_max=fail_max, reset_seconds=30, failure_types=(GatewayFailure,)
    )
    return Payments(gateway=gateway, breaker=breaker), gateway


@pytest.fixture
def crew(session, customer):
    return make_crew(session, customer)


@pytest.fixture
def processing(client, session, app, customer, crew):
    order, _ = bought(session, app, customer, quantity=1, price_cents=4200)
    opened = open_return(client, crew["customer"], order)
    walk(client, crew, opened["id"], until="process")
    return opened


def refund_messages(session, return_id):
    session.expire_all()
    return session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.kind == "refund",
            OutboxMessage.idempotency_key.like(f"refund-{return_id}-%"),
        )
        .order_by(OutboxMessage.id)
    ).all()


def run_until_failed(session, app, payments):
    """Run the refund job once per allowed attempt, each time after the backoff has passed."""
    ctx = job_context(app, payments)
    now = utcnow()
    for _ in range(MAX_REFUND_ATTEMPTS):
        assert send_refunds(session, now, ctx) == 0
        assert send_refunds(session, now, ctx) == 0  # backing off: not attempted again yet
        now += timedelta(hours=1)
    return now


def show(client, crew, return_id, who="customer"):
    return client.get(f"{RETURNS}/{return_id}", headers=crew[who]).get_json()


def test_it_keeps_a_failing_refund_in_processing_marked_failed(
    client, session, app, crew, processing
):
    payments, gateway = down_payments(fail_max=100)
    run_until_failed(session, app, payments)
    assert gateway.calls == MAX_REFUND_ATTEMPTS
    body = show(client, crew, processing["id"])
    assert (body["state"], body["refund"]) == (
        "PROCESSING",
        {"status": "failed", "amount_cents": 4200, "reference": None},
    )
    [message] = refund_messages(session, processing["id"])
    assert (message.status, message.attempts, message.last_error) == (
        "failed",
        MAX_REFUND_ATTEMPTS,
        "processor unavailable",
    )
    assert complete_returns(session, utcnow(), job_context(app)) == 0
    assert [
        t["trigger"] for t in show(client, crew, processing["id"], "finance")["available_triggers"]
    ] == ["retry_refund"]
    assert show(client, crew, processing["id"], "support")["available_triggers"] == []
    queue = client.get("/api/v1/queues/finance", headers=crew["finance"]).get_json()
    assert [(r["id"], r["refund"]["status"]) for r in queue["items"]] == [
        (processing["id"], "failed")
    ]


def test_it_stops_calling_the_gateway_while_the_circuit_is_open(
    client, session, app, crew, processing
):
    payments, gateway = down_payments(fail_max=2)
    run_until_failed(session, app, payments)
    assert gateway.calls == 2  # then the breaker answered for the gateway
    assert payments.breaker.status().state == "open"
    [message] = refund_messages(session, processing["id"])
    assert message.status == "failed"
    assert show(client, crew, processing["id"])["refund"]["status"] == "failed"


def test_it_lets_finance_retry_a_failed_refund_which_then_pays_once(
    client, session, app, crew, processing
):
    payments, _ = down_payments(fail_max=100)
    now = run_until_failed(session, app, payments)
    version = show(client, crew, processing["id"])["version"]
    assert_error(fire(client, crew["support"], processing["id"], "retry_refund"), 403, "forbidden")
    assert_error(
        fire(client, crew["warehouse"], processing["id"], "retry_refund"), 403, "forbidden"
    )
    retried = fire(client, crew["finance"], processing["id"], "retry_refund")
    assert retried.status_code == 200
    body = retried.get_json()
    assert (body["state"], body["version"], body["refund"]["status"]) == (
        "PROCESSING",
        version + 1,
        "pending",
    )
    assert body["team"] == "finance"
    assert [m.status for m in refund_messages(session, processing["id"])] == ["failed", "pending"]
    again = fire(client, crew["finance"], processing["id"], "retry_refund")
    assert "refund_failed" in assert_error(again, 422, "validation_error")["details"]["guards"]

    ctx = job_context(app)  # the processor is back
    calls = payments_of(app).gateway.calls
    assert send_refunds(session, now, ctx) == 1
    assert send_refunds(session, now + timedelta(hours=2), ctx) == 0
    assert complete_returns(session, now, ctx) == 1
    assert payments_of(app).gateway.calls == calls + 1
    done = show(client, crew, processing["id"])
    assert (done["state"], done["refund"]["status"]) == ("COMPLETED", "succeeded")
    session.expire_all()
    refunds = session.scalars(select(GatewayCharge).where(GatewayCharge.kind == "refund")).all()
    assert [(r.amount_cents, r.reference) for r in refunds] == [(4200, done["refund"]["reference"])]
    assert_error(
        fire(client, crew["finance"], processing["id"], "retry_refund"), 409, "invalid_transition"
    )


def test_it_does_not_offer_a_retry_while_a_refund_is_pending(client, session, crew, processing):
    assert show(client, crew, processing["id"], "finance")["available_triggers"] == []
    response = fire(client, crew["finance"], processing["id"], "retry_refund")
    assert "refund_failed" in assert_error(response, 422, "validation_error")["details"]["guards"]
    assert len(refund_messages(session, processing["id"])) == 1
