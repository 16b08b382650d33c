"""An order's money as it moved, for its page: the card payment, store credit spent on it
(and given back if the payment failed), and for each of its returns the refund to the card,
the store credit issued and the replacement sent; then a net line (paid - refunded = kept)
so finance can reconcile the order from its page alone.

Read only. One query per kind of row (the order with its lines and payment, its customer,
returns, credit entries, refund messages, replacement orders, what a replacement replaces),
whatever the number of returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased, lazyload

from app.models.credit import CreditEntry
from app.models.orders import Order
from app.models.payments import Payment, PaymentStatus
from app.models.returns import OutboxMessage, ReturnRequest
from app.models.users import User
from app.services.orders.reads import get_order
from app.services.returns.reads import state_labels
from app.services.users import Person, people_by_id

# An outbox refund message's status, as the refund's: `done` means the gateway took it.
REFUND_STATUS = {"pending": "pending", "done": "succeeded", "failed": "failed"}
CARD_PAYMENT = "card_payment"
CREDIT_USED = "credit_used"
CREDIT_RESTORED = "credit_restored"
CARD_REFUND = "card_refund"
CREDIT_ISSUED = "credit_issued"
REPLACEMENT = "replacement"
# Lines written at the same instant read in the order money moves: paid, then given back.
KINDS = (CARD_PAYMENT, CREDIT_USED, CREDIT_RESTORED, CARD_REFUND, CREDIT_ISSUED, REPLACEMENT)


@dataclass(frozen=True)
class ReturnRef:
    """One of the order's returns, as a line of its page."""

    id: int
    number: str
    state: str
    state_label: str
    disposition: str | None
    amount_cents: int | None
    created_at: datetime


@dataclass(frozen=True)
class MoneyLine:
    """One movement of money (or goods, for a replacement). `amount_cents` is signed: what
    the shop received is positive, what went back to the customer negative. `counted` says
    whether it is part of the net: a pending or failed charge or refund is not."""

    kind: str
    at: datetime
    amount_cents: int
    counted: bool
    status: str | None = None
    done_at: datetime | None = None
    card_last4: str = ""
    reference: str | None = None
    error: str | None = None
    return_id: int | None = None
    return_number: str | None = None
    order_id: int | None = None
    order_number: str | None = None


@dataclass(frozen=True)
class Replaces:
    """What a replacement order stands in for: the return and the order it came from."""

    return_id: int
    return_number: str
    order_id: int
    order_number: str


@dataclass(frozen=True)
class OrderDetails:
    """An order's page: the order, who placed it, its returns and its money, oldest first."""

    order: Order
    customer: Person
    payment: Payment | None
    returns: list[ReturnRef]
    lines: list[MoneyLine]
    replaces: Replaces | None = None

    def total(self, *kinds: str, counted: bool = True) -> int:
        """The magnitude of the lines of `kinds` that are (or, counted=False, are not yet)
        part of the net."""
        return sum(
            abs(line.amount_cents)
            for line in self.lines
            if line.kind in kinds and line.counted is counted
        )

    @property
    def card_charged_cents(self) -> int:
        return self.total(CARD_PAYMENT)

    @property
    def credit_spent_cents(self) -> int:
        """Store credit spent on the order, less what a failed payment gave back."""
        return self.total(CREDIT_USED) - self.total(CREDIT_RESTORED)

    @property
    def card_refunded_cents(self) -> int:
        return self.total(CARD_REFUND)

    @property
    def credit_issued_cents(self) -> int:
        return self.total(CREDIT_ISSUED)

    @property
    def paid_cents(self) -> int:
        """Charged to the card and spent in store credit."""
        return self.card_charged_cents + self.credit_spent_cents

    @property
    def refunded_cents(self) -> int:
        """Refunds the card took back and store credit issued for returns."""
        return self.card_refunded_cents + self.credit_issued_cents

    @property
    def pending_refund_cents(self) -> int:
        return sum(
            -line.amount_cents
            for line in self.lines
            if line.kind == CARD_REFUND and line.status == "pending"
        )

    @property
    def kept_cents(self) -> int:
        return self.paid_cents - self.refunded_cents


def describe_order(session: Session, viewer: User, order_id: int) -> OrderDetails:
    """The order with everything its page shows, if the viewer may see it (a customer their
    own, staff any); NotFound otherwise. Reads only."""
    order = get_order(session, viewer, order_id)
    payment = order.payment  # loaded with the order
    records = list(
        session.scalars(
            select(ReturnRequest)
            .where(ReturnRequest.order_id == order.id)
            .options(lazyload(ReturnRequest.lines), lazyload(ReturnRequest.photos))
            # The outbox settles refunds with Core updates: never a stale copy of a return.
            .execution_options(populate_existing=True)
            .order_by(ReturnRequest.created_at, ReturnRequest.id)
        )
    )
    lines = _payment_lines(order, payment)
    lines += _credit_lines(session, order, records)
    lines += _refund_lines(session, records)
    lines += _replacement_lines(session, records)
    lines.sort(key=lambda line: (line.at, KINDS.index(line.kind)))
    return OrderDetails(
        order=order,
        customer=people_by_id(session, [order.customer_id])[order.customer_id],
        payment=payment,
        returns=_return_refs(session, records),
        lines=lines,
        replaces=_replaces(session, order) if order.kind == "replacement" else None,
    )


def _payment_lines(order: Order, payment: Payment | None) -> list[MoneyLine]:
    if payment is None or payment.status == PaymentStatus.NOT_REQUIRED:
        return []
    settled = payment.status != PaymentStatus.PENDING
    return [
        MoneyLine(
            kind=CARD_PAYMENT, at=payment.created_at, amount_cents=payment.amount_cents,
            counted=payment.status == PaymentStatus.SUCCEEDED, status=payment.status,
            done_at=payment.updated_at if settled else None, card_last4=payment.card_last4,
            reference=payment.reference, error=payment.error,
        )
    ]  # fmt: skip


def _credit_lines(session: Session, order: Order, records: list[ReturnRequest]) -> list[MoneyLine]:
    """Credit spent at checkout (negative entries), given back when the payment failed, and
    issued for a return (the part of a refund the card cannot take, or credit chosen)."""
    numbers = {r.id: r.number for r in records}
    wanted = CreditEntry.order_id == order.id
    if numbers:
        wanted = or_(wanted, CreditEntry.return_id.in_(numbers))
    entries = session.scalars(select(CreditEntry).where(wanted).order_by(CreditEntry.id))
    lines = []
    for entry in entries:
        if entry.return_id is not None:
            kind, amount = CREDIT_ISSUED, -entry.amount_cents
        elif entry.amount_cents < 0:
            kind, amount = CREDIT_USED, -entry.amount_cents
        else:
            kind, amount = CREDIT_RESTORED, -entry.amount_cents
        lines.append(
            MoneyLine(
                kind=kind, at=entry.created_at, amount_cents=amount, counted=True,
                status=entry.reason, return_id=entry.return_id,
                return_number=numbers.get(entry.return_id or 0),
            )
        )  # fmt: skip
    return lines


def _refund_lines(session: Session, records: list[ReturnRequest]) -> list[MoneyLine]:
    """Each refund sent to the gateway (an outbox message; a retry is a new one). Messages
    are keyed `refund-<return id>-<attempt>`, so the keys find them without the payload."""
    by_id = {r.id: r for r in records}
    if not by_id:
        return []
    messages = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.kind == "refund",
            or_(*(OutboxMessage.idempotency_key.like(f"refund-{rid}-%") for rid in by_id)),
        )
        .order_by(OutboxMessage.id)
    )
    lines = []
    for message in messages:
        payload = json.loads(message.payload)
        record = by_id[int(payload["return_id"])]  # the key named it: one of these returns
        status = REFUND_STATUS.get(message.status, message.status)
        lines.append(
            MoneyLine(
                kind=CARD_REFUND, at=message.created_at,
                amount_cents=-int(payload["amount_cents"]), counted=status == "succeeded",
                status=status, done_at=message.done_at,
                reference=record.refund_reference if status == "succeeded" else None,
                error=message.last_error, return_id=record.id, return_number=record.number,
            )
        )  # fmt: skip
    return lines


def _replacement_lines(session: Session, records: list[ReturnRequest]) -> list[MoneyLine]:
    sent = {r.replacement_order_id: r for r in records if r.replacement_order_id}
    if not sent:
        return []
    orders = session.execute(
        select(Order.id, Order.number, Order.created_at, Order.total_cents).where(
            Order.id.in_(sent)
        )
    )
    return [
        MoneyLine(
            kind=REPLACEMENT, at=row.created_at, amount_cents=0, counted=False,
            return_id=sent[row.id].id, return_number=sent[row.id].number,
            order_id=row.id, order_number=row.number,
        )
        for row in orders
    ]  # fmt: skip


def _return_refs(session: Session, records: list[ReturnRequest]) -> list[ReturnRef]:
    labels = {v: state_labels(session, v) for v in {r.workflow_version for r in records}}
    return [
        ReturnRef(
            id=r.id, number=r.number, state=r.state,
            state_label=labels[r.workflow_version].get(r.state, r.state),
            disposition=r.disposition, amount_cents=r.amount_cents, created_at=r.created_at,
        )
        for r in records
    ]  # fmt: skip


def _replaces(session: Session, order: Order) -> Replaces | None:
    original = aliased(Order)
    row = session.execute(
        select(ReturnRequest.id, ReturnRequest.number, original.id, original.number)
        .join(original, original.id == ReturnRequest.order_id)
        .where(ReturnRequest.replacement_order_id == order.id)
    ).first()
    return Replaces(*row) if row is not None else None
