"""Service-test fixtures: the payments a checkout needs, and gateways that misbehave."""

from __future__ import annotations

from typing import Any

import pytest

from app import build_payments
from app.config import Config
from app.db import Database
from app.payments import ChargeResult, Payments, SimulatedGateway


@pytest.fixture
def payments(db: Database) -> Payments:
    """The real simulated gateway and an in-memory breaker (3 failures, 30 s)."""
    return build_payments(Config(), db, None)


class Crash(Exception):
    """Stands for the process dying between the charge and the second transaction."""


class CrashingGateway:
    """Charges (or not) and then 'crashes', leaving the order pending_payment."""

    def __init__(self, real: SimulatedGateway, *, charge_first: bool) -> None:
        self.real = real
        self.charge_first = charge_first
        self.calls = 0

    def charge(self, **kwargs: Any) -> ChargeResult:
        self.calls += 1
        if self.charge_first:
            self.real.charge(**kwargs)
        raise Crash("the process died")

    def find_charge(self, idempotency_key: str) -> ChargeResult | None:
        return self.real.find_charge(idempotency_key)

    def refund(self, **kwargs: Any) -> str:
        return self.real.refund(**kwargs)


@pytest.fixture
def crashing(payments: Payments):
    """Payments whose gateway crashes after (charge_first=True) or before charging."""

    def build(*, charge_first: bool) -> Payments:
        assert isinstance(payments.gateway, SimulatedGateway)
        gateway = CrashingGateway(payments.gateway, charge_first=charge_first)
        return Payments(gateway=gateway, breaker=payments.breaker)

    return build
