"""The payment gateway seam and the simulated gateway behind CONTRACT's test cards.

A gateway answers a charge with a `ChargeResult` (approved or declined: both are business
answers) or raises `GatewayFailure` (the processor failed: only these count toward the
circuit breaker). Calls are idempotent by key, like real processors.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Protocol, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction, utcnow
from app.models.payments import GatewayCharge

CARD_APPROVED = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_PROCESSING_ERROR = "4000000000000119"


class GatewayFailure(Exception):
    """The processor failed (error, timeout): the outcome of the call is not a decision."""


@dataclass(frozen=True)
class ChargeResult:
    approved: bool
    reference: str | None
    amount_cents: int
    decline_reason: str | None = None


class Gateway(Protocol):
    def charge(self, *, amount_cents: int, card_number: str, idempotency_key: str) -> ChargeResult:
        """Charge a card once per key; a repeat with the same key returns the first result."""
        ...

    def find_charge(self, idempotency_key: str) -> ChargeResult | None:
        """What the processor knows of a key, or None if it never saw it."""
        ...

    def refund(self, *, amount_cents: int, charge_reference: str, idempotency_key: str) -> str:
        """Refund (part of) a charge once per key; returns the refund reference."""
        ...


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class SimulatedGateway:
    """A processor simulation that remembers charges in its own table, like a real one would.

    4242… approves, 4000…0002 declines, 4000…0119 fails with a processing error; any other
    number approves if it passes the Luhn check and is declined otherwise. A repeated
    idempotency key answers the first result. `latency_seconds` simulates network time.
    """

    def __init__(self, sessions: sessionmaker[Session], *, latency_seconds: float = 0.0) -> None:
        self._sessions = sessions
        self.latency_seconds = latency_seconds
        self.calls = 0

    def charge(self, *, amount_cents: int, card_number: str, idempotency_key: str) -> ChargeResult:
        self.calls += 1
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        if card_number == CARD_PROCESSING_ERROR:
            raise GatewayFailure("processing error at the payment processor")
        # No look-up first: a repeated key fails the unique insert and answers the original.
        approved = card_number != CARD_DECLINED and luhn_ok(card_number)
        return self._store(
            {
                "kind": "charge",
                "idempotency_key": idempotency_key,
                "reference": f"ch_{secrets.token_hex(8)}",
                "status": "succeeded" if approved else "declined",
                "amount_cents": amount_cents,
                "card_last4": card_number[-4:],
            }
        )

    def find_charge(self, idempotency_key: str) -> ChargeResult | None:
        with self._sessions() as session:
            row = session.connection().execute(_FIND, {"key": idempotency_key}).first()
            return None if row is None else _result(row.status, row.reference, row.amount_cents)

    def refund(self, *, amount_cents: int, charge_reference: str, idempotency_key: str) -> str:
        self.calls += 1
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        result = self._store(
            {
                "kind": "refund",
                "idempotency_key": idempotency_key,
                "reference": f"re_{secrets.token_hex(8)}",
                "status": "succeeded",
                "amount_cents": amount_cents,
                "card_last4": "",
            }
        )
        assert result.reference is not None
        return result.reference

    def _store(self, row: dict[str, object]) -> ChargeResult:
        session = self._sessions()
        try:
            with transaction(session):
                session.connection().execute(_INSERT, {**row, "created_at": utcnow()})
            return _result(str(row["status"]), str(row["reference"]), int(row["amount_cents"]))  # type: ignore[call-overload]
        except IntegrityError:
            # A repeat (or a concurrent call) with the same key: answer what was recorded.
            known = self.find_charge(str(row["idempotency_key"]))
            assert known is not None
            return known
        finally:
            session.close()


_charges = cast(Table, GatewayCharge.__table__)
_INSERT = insert(_charges)
_FIND = select(_charges.c.status, _charges.c.reference, _charges.c.amount_cents).where(
    _charges.c.idempotency_key == bindparam("key")
)


def _result(status: str, reference: str, amount_cents: int) -> ChargeResult:
    approved = status == "succeeded"
    return ChargeResult(
        approved=approved,
        reference=reference if approved else None,
        amount_cents=amount_cents,
        decline_reason=None if approved else "card_declined",
    )
