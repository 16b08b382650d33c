"""Payments: a gateway interface, the simulated gateway (test cards), the circuit breaker."""

from __future__ import annotations

from dataclasses import dataclass

from app.payments.breaker import BreakerOpen, PaymentBreaker
from app.payments.gateway import ChargeResult, Gateway, GatewayFailure, SimulatedGateway


@dataclass
class Payments:
    """What checkout and refunds need: a gateway and the breaker that guards it."""

    gateway: Gateway
    breaker: PaymentBreaker


__all__ = [
    "BreakerOpen",
    "ChargeResult",
    "Gateway",
    "GatewayFailure",
    "PaymentBreaker",
    "Payments",
    "SimulatedGateway",
]
