"""A return as one viewer sees it: its state label, its history with who did each step,
and what that viewer may do next (and what guards may look at: `subject_of`, `actor_of`).
An action that moves money carries where it goes (`Payout`), so its confirmation can say
"Refund $59.00 to the card ending 4242".

Lists of returns are described in a fixed number of queries (one for every event of every
return on the page, one engine per workflow version, two for the payouts of decided
refunds), never one query per return.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.payments import Payment, PaymentStatus
from app.models.returns import ReturnEvent, ReturnRequest
from app.models.users import User
from app.services.returns.effects import card_part
from app.services.users import Person
from app.services.workflows import RMA, load_engine
from workflows.engine import Available, Engine
from workflows.registry import SYSTEM, Actor
from workflows.schema import StateSpec


def subject_of(record: ReturnRequest) -> dict[str, Any]:
    """What guards may look at."""
    return {
        "owner_id": record.customer_id,
        "disposition": record.disposition,
        "refund_status": record.refund_status,
        "max_amount_cents": record.paid_cents,
        "condition": record.condition,
    }


def actor_of(user: User | None) -> Actor:
    return SYSTEM if user is None else Actor(user.id, user.role)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str  # the username, or "system"
    role: str
    trigger: str
    source: str | None
    dest: str
    data: dict[str, Any]
    person: Person | None = None  # who, as pages name them (`display_name`); None: the system


# The effects that move a decided amount, and the disposition each belongs to.
MONEY_EFFECTS = {"queue_refund": "REFUND", "issue_store_credit": "STORE_CREDIT"}


@dataclass(frozen=True)
class Payout:
    """Where the decided amount of a return goes when its refund or store credit is issued
    (what `effects.queue_refund` and `issue_store_credit` will do, read beforehand)."""

    disposition: str  # REFUND or STORE_CREDIT
    amount_cents: int
    to_card_cents: int  # a refund: the part the card can take back; the rest is store credit
    card_last4: str  # the card the order was paid with ("" when none is known)

    @property
    def credit_cents(self) -> int:
        return self.amount_cents - self.to_card_cents


@dataclass(frozen=True)
class Offer(Available):
    """A trigger the viewer may fire now; `payout` when firing it pays the return out."""

    payout: Payout | None = None


@dataclass(frozen=True)
class ReturnDetails:
    record: ReturnRequest
    state_label: str
    terminal: bool
    history: list[HistoryEntry]
    triggers: list[Offer]
    # How the state shows, from the return's own workflow version: its spec (tone, step,
    # notice, guidance), and that version's milestones with the states' steps.
    state: StateSpec
    milestones: tuple[str, ...]
    step_of: dict[str, str]


def describe_return(session: Session, viewer: User, record: ReturnRequest) -> ReturnDetails:
    """`record` (which the caller already checked `viewer` may see) with its history and
    the triggers `viewer` may fire now. Read only."""
    return describe_returns(session, viewer, [record])[0]


def describe_returns(
    session: Session,
    viewer: User,
    records: Sequence[ReturnRequest],
    *,
    with_history: bool = True,
) -> list[ReturnDetails]:
    """Like `describe_return`, for a page of returns, in the given order. Read only.
    Without `with_history` (queue rows show none) the events are not read."""
    history = _histories(session, records) if with_history else {}
    engines: dict[int, Engine] = {}
    who = actor_of(viewer)
    offered: list[tuple[Engine, list[Available]]] = []
    for record in records:
        engine = engines.get(record.workflow_version)
        if engine is None:
            engine = engines[record.workflow_version] = load_engine(
                session, RMA, record.workflow_version
            )
        offered.append((engine, engine.available(record.state, who, subject_of(record))))
    payouts = _payouts(session, [r for r, (e, a) in zip(records, offered, strict=True) if a])
    described = []
    for record, (engine, available) in zip(records, offered, strict=True):
        state = engine.state(record.state)
        definition = engine.definition
        payout = payouts.get(record.id)
        described.append(
            ReturnDetails(
                record=record,
                state_label=state.label,
                terminal=state.terminal,
                history=history.get(record.id, []),
                triggers=[_offer(engine, record, a, payout) for a in available],
                state=state,
                milestones=definition.steps,
                step_of={s.name: s.step for s in definition.states if s.step},
            )
        )
    return described


def _histories(session: Session, records: Sequence[ReturnRequest]) -> dict[int, list[HistoryEntry]]:
    """Every event of `records`, oldest first, with who did it: one query."""
    history: dict[int, list[HistoryEntry]] = {record.id: [] for record in records}
    if records:
        rows = session.execute(
            select(ReturnEvent, User.username, User.name)
            .outerjoin(User, User.id == ReturnEvent.actor_id)
            .where(ReturnEvent.return_id.in_(list(history)))
            .order_by(ReturnEvent.id)
        ).all()
        for event, username, name in rows:
            person = Person(username, name or "") if username is not None else None
            history[event.return_id].append(
                HistoryEntry(
                    at=event.at,
                    actor=person.username if person else "system",
                    role=event.actor_role,
                    trigger=event.trigger,
                    source=event.from_state,
                    dest=event.to_state,
                    data=json.loads(event.data or "{}"),
                    person=person,
                )
            )
    return history


def _offer(
    engine: Engine, record: ReturnRequest, available: Available, payout: Payout | None
) -> Offer:
    """`available` with the payout, when a variant of it from this state has the effect
    that pays out the return's disposition."""
    pays = payout is not None and any(
        MONEY_EFFECTS.get(effect) == payout.disposition
        for spec in engine.definition.transitions
        if spec.trigger == available.trigger and record.state in spec.source
        for effect in spec.effects
    )
    return Offer(
        available.trigger, available.dest, available.label, available.confirm, available.fields,
        payout=payout if pays else None,
    )  # fmt: skip


def _payouts(session: Session, records: Sequence[ReturnRequest]) -> dict[int, Payout]:
    """The payouts of the decided refunds and store credits among `records` (those not paid
    out yet, or whose refund failed), by return id: two queries however many there are.

    A refund's card part is `effects.card_part`, the rule `queue_refund` pays by."""
    due = [
        r
        for r in records
        if r.disposition in MONEY_EFFECTS.values()
        and r.amount_cents is not None
        and r.refund_status in (None, "failed")
    ]
    orders = {r.order_id for r in due if r.disposition == "REFUND"}
    cards: dict[int, tuple[int, str]] = {}
    refunded: dict[int, list[tuple[int, int]]] = {order_id: [] for order_id in orders}
    if orders:
        for order_id, status, charged, last4, reference in session.execute(
            select(Payment.order_id, Payment.status, Payment.amount_cents, Payment.card_last4,
                   Payment.reference).where(Payment.order_id.in_(orders))
        ):  # fmt: skip
            if status == PaymentStatus.SUCCEEDED and reference:
                cards[order_id] = (charged, last4 or "")
        for order_id, return_id, given in session.execute(
            select(ReturnRequest.order_id, ReturnRequest.id, ReturnRequest.amount_cents).where(
                ReturnRequest.order_id.in_(orders),
                ReturnRequest.disposition == "REFUND",
                ReturnRequest.refund_status.in_(("pending", "succeeded", "failed")),
            )
        ):
            refunded[order_id].append((return_id, given or 0))
    payouts: dict[int, Payout] = {}
    for r in due:
        amount = r.amount_cents or 0
        to_card, last4 = 0, ""
        if r.disposition == "REFUND" and r.order_id in cards:
            paid, last4 = cards[r.order_id]
            others = sum(cents for rid, cents in refunded[r.order_id] if rid != r.id)
            to_card = card_part(amount, paid, others)
        payouts[r.id] = Payout(r.disposition or "", amount, to_card, last4)
    return payouts
