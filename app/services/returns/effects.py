"""What a return's transitions do, by the names the workflow registry allows.

Each effect runs inside the transition's transaction. Money that leaves through the
gateway and messages to customers go to the outbox (executed by jobs, retried, never
doubled); everything else (ledger entries, stock, replacement orders) happens right here.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.logs import request_id_var
from app.models.orders import Order, OrderLine, OrderStatus
from app.models.payments import Payment, PaymentStatus
from app.models.returns import OutboxMessage, ReturnRequest
from app.services.catalog.stock import give_back_stock, take_stock
from app.services.credit import add_credit_entry
from app.services.returns.reads import state_of
from workflows.engine import Fired
from workflows.registry import Actor

RESELLABLE = frozenset({"new", "like_new"})
RESTOCKED_FOR = frozenset({"REFUND", "STORE_CREDIT", "REPLACEMENT"})
Effect = Callable[[Session, ReturnRequest, Fired, Actor, datetime], None]


def enqueue(
    session: Session, *, kind: str, key: str, payload: dict[str, Any], now: datetime
) -> None:
    """Record work for a job; the key makes a second enqueue of the same work impossible."""
    session.add(
        OutboxMessage(
            kind=kind,
            idempotency_key=key,
            payload=json.dumps(payload, sort_keys=True),
            status="pending",
            next_attempt_at=now,
            request_id=request_id_var.get(),
            created_at=now,
        )
    )


def notify_customer(
    session: Session, r: ReturnRequest, fired: Fired, actor: Actor, now: datetime
) -> None:
    note = fired.fields.get("note") or ""
    enqueue(
        session,
        kind="notification",
        key=f"notice-{r.id}-{r.version}",
        payload={"customer_id": r.customer_id, "return_id": r.id, "number": r.number,
                 "trigger": fired.trigger, "state": fired.dest, "note": note,
                 "words": state_of(session, r, fired.dest).notice},
        now=now,
    )  # fmt: skip


def record_shipment(
    session: Session, r: ReturnRequest, fired: Fired, actor: Actor, now: datetime
) -> None:
    r.carrier = fired.fields["carrier"]
    r.tracking_number = fired.fields["tracking_number"]


def record_inspection(
    session: Session, r: ReturnRequest, fired: Fired, actor: Actor, now: datetime
) -> None:
    r.condition = fired.fields["condition"]
    r.inspection_notes = fired.fields.get("notes") or ""


def record_disposition(
    session: Session, r: ReturnRequest, fired: Fired, actor: Actor, now: datetime
) -> None:
    r.disposition = fired.fields["disposition"]
    if r.disposition in ("REFUND", "STORE_CREDIT"):
        r.amount_cents = fired.fields.get("amount_cents", r.paid_cents)
    else:
        r.amount_cents = None


def card_part(amount_cents: int, charged_cents: int, refunded_cents: int) -> int:
    """How much of a refund of `amount_cents` goes back to the card: at most what the card
    was charged less what other returns of the order already refunded to it. The rest is
    paid as store credit (the part the order paid with credit, or more than is left)."""
    return min(amount_cents, max(0, charged_cents - refunded_cents))


def _card_refundable(session: Session, r: ReturnRequest) -> tuple[int, int, str | None]:
    """What the order's card was charged, what other returns refunded to it, and the
    charge reference (0, 0, None when the card was not charged)."""
    payment = session.scalars(select(Payment).where(Payment.order_id == r.order_id)).first()
    if payment is None or payment.status != PaymentStatus.SUCCEEDED or not payment.reference:
        return 0, 0, None
    refunded = session.scalar(
        select(func.coalesce(func.sum(ReturnRequest.amount_cents), 0)).where(
            ReturnRequest.order_id == r.order_id,
            ReturnRequest.id != r.id,
            ReturnRequest.disposition == "REFUND",
            ReturnRequest.refund_status.in_(("pending", "succeeded", "failed")),
        )
    )
    return payment.amount_cents, int(refunded or 0), payment.reference


def queue_refund(
    session: Session, r: ReturnRequest, fired: Fired, actor: Actor, now: datetime
) -> None:
    """Refund the decided amount: to the card through the gateway (outbox), and whatever the
    card cannot take back (the part paid with store credit) as store credit at once."""
    amount = r.amount_cents or 0
    charged, refunded, reference = _card_refundable(session, r)
    to_card = card_part(amount, charged, refunded)
    if amount - to_card > 0 and r.refund_status is None:
        add_credit_entry(session, customer_id=r.customer_id, amount_cents=amount - to_card,
                         reason="return_refund", order_id=r.order_id, return_id=r.id)  # fmt: skip
    if to_card == 0:
        r.refund_status, r.refund_reference = "succeeded", "store-credit"
        return
    attempt = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.kind == "refund", OutboxMessage.idempotency_key.like(f"refund-{r.id}-%")
        )
    )
    r.refund_status = "pending"
    enqueue(
        session,
        kind="refund",
        key=f"refund-{r.id}-{int(attempt or 0) + 1}",
        payload={"return_id": r.id, "amount_cents": to_card, "charge_reference": reference},
        now=now,
    )


def issue_store_credit(
    session: Session, r: ReturnRequest, fired: Fired, actor: Actor, now: datetime
) -> None:
    add_credit_entry(
        session, customer_id=r.customer_id, amount_cents=r.amount_cents or 0,
        reason="return_store_credit", order_id=r.order_id, return_id=r.id, created_by=actor.id,
    )  # fmt: skip
    r.refund_status, r.refund_reference = "succeeded", "store-credit"


def create_replacement_order(
    session: Session, r: ReturnRequest, fired: Fired, actor: Actor, now: datetime
) -> None:
    """A zero-priced order for the returned lines; stock is taken or the step is refused."""
    wanted: dict[int, int] = {}
    for line in r.lines:
        wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity
    short = take_stock(session, wanted)
    if short:
        raise Conflict("not enough stock for the replacement", code="insufficient_stock",
                       details={"product_ids": short})  # fmt: skip
    original = {line.id: line for line in session.get(Order, r.order_id).lines}  # type: ignore[union-attr]
    order = Order(
        number="BR-" + secrets.token_hex(4).upper(), customer_id=r.customer_id,
        status=OrderStatus.PAID, total_cents=0, store_credit_cents=0, kind="replacement",
        created_at=now, updated_at=now,
    )  # fmt: skip
    order.lines = [
        OrderLine(product_id=line.product_id, quantity=line.quantity, unit_price_cents=0,
                  product_name=original[line.order_line_id].product_name,
                  product_sku=original[line.order_line_id].product_sku)
        for line in r.lines
    ]  # fmt: skip
    session.add(order)
    session.flush()
    r.replacement_order_id = order.id
    r.outbound_tracking = fired.fields["tracking_number"]


def ship_back_to_customer(
    session: Session, r: ReturnRequest, fired: Fired, actor: Actor, now: datetime
) -> None:
    r.outbound_tracking = fired.fields["return_tracking"]


def restock_if_resellable(
    session: Session, r: ReturnRequest, fired: Fired, actor: Actor, now: datetime
) -> None:
    if r.restocked or r.condition not in RESELLABLE or r.disposition not in RESTOCKED_FOR:
        return
    quantities: dict[int, int] = {}
    for line in r.lines:
        quantities[line.product_id] = quantities.get(line.product_id, 0) + line.quantity
    give_back_stock(session, quantities)
    r.restocked = True


EFFECTS: dict[str, Effect] = {
    "notify_customer": notify_customer,
    "record_shipment": record_shipment,
    "record_inspection": record_inspection,
    "record_disposition": record_disposition,
    "queue_refund": queue_refund,
    "issue_store_credit": issue_store_credit,
    "create_replacement_order": create_replacement_order,
    "ship_back_to_customer": ship_back_to_customer,
    "restock_if_resellable": restock_if_resellable,
}
