"""The allowlist a workflow definition may name: roles, teams, field types, guards, effects.

Definitions are data an admin edits, so they can only *name* behaviour; the behaviour lives
here. A guard is a pure predicate over (subject, actor, fields) that answers None when the
transition may happen, or a sentence saying why not. An effect is a named outcome the engine
hands back to the service that fired the trigger; the service performs it in the same
transaction (or records it in an outbox for a job).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ROLES = frozenset({"owner", "customer", "support", "warehouse", "finance", "admin", "system"})
TEAMS = frozenset({"customer", "support", "warehouse", "finance"})
FIELD_TYPES = frozenset({"string", "text", "integer", "money", "choice"})
# Subject attributes a state's team may depend on (see schema: `team` as a mapping).
TEAM_KEYS = frozenset({"disposition"})

MONEY_DISPOSITIONS = frozenset({"REFUND", "STORE_CREDIT"})
GOODS_DISPOSITIONS = frozenset({"REPLACEMENT", "REPAIR", "REJECT"})

Subject = Mapping[str, Any]
Fields = Mapping[str, Any]


@dataclass(frozen=True)
class Actor:
    """Who fires a trigger. `system` is the scheduler or a service acting on its own."""

    id: int | None
    role: str

    @property
    def is_system(self) -> bool:
        return self.role == "system"


SYSTEM = Actor(id=None, role="system")


@dataclass(frozen=True)
class Guard:
    name: str
    description: str
    check: Callable[[Subject, Actor, Fields], str | None]
    uses_fields: bool = False


def _disposition_in(
    allowed: frozenset[str], what: str
) -> Callable[[Subject, Actor, Fields], str | None]:
    def check(subject: Subject, actor: Actor, fields: Fields) -> str | None:
        if subject.get("disposition") in allowed:
            return None
        return f"only for {what} dispositions"

    return check


def _refund_settled(subject: Subject, actor: Actor, fields: Fields) -> str | None:
    if subject.get("refund_status") == "succeeded":
        return None
    return "the refund or credit has not succeeded yet"


def _refund_failed(subject: Subject, actor: Actor, fields: Fields) -> str | None:
    if subject.get("refund_status") == "failed":
        return None
    return "only a failed refund can be retried"


def _amount_within_paid(subject: Subject, actor: Actor, fields: Fields) -> str | None:
    amount = fields.get("amount_cents")
    if amount is None:
        return None
    if fields.get("disposition") not in MONEY_DISPOSITIONS:
        return "an amount applies only to REFUND and STORE_CREDIT"
    maximum = int(subject.get("max_amount_cents") or 0)
    if amount > maximum:
        return f"the amount may not exceed what was paid for the returned lines ({maximum} cents)"
    return None


GUARDS: dict[str, Guard] = {
    g.name: g
    for g in (
        Guard(
            "disposition_is_money",
            "the decision pays money back (REFUND or STORE_CREDIT)",
            _disposition_in(MONEY_DISPOSITIONS, "REFUND and STORE_CREDIT"),
        ),
        Guard(
            "disposition_is_goods",
            "the decision moves goods (REPLACEMENT, REPAIR or REJECT)",
            _disposition_in(GOODS_DISPOSITIONS, "REPLACEMENT, REPAIR and REJECT"),
        ),
        Guard(
            "disposition_is_refund",
            "the decision is REFUND",
            _disposition_in(frozenset({"REFUND"}), "REFUND"),
        ),
        Guard(
            "disposition_is_store_credit",
            "the decision is STORE_CREDIT",
            _disposition_in(frozenset({"STORE_CREDIT"}), "STORE_CREDIT"),
        ),
        Guard(
            "disposition_is_replacement",
            "the decision is REPLACEMENT",
            _disposition_in(frozenset({"REPLACEMENT"}), "REPLACEMENT"),
        ),
        Guard(
            "disposition_is_repair_or_reject",
            "the decision is REPAIR or REJECT",
            _disposition_in(frozenset({"REPAIR", "REJECT"}), "REPAIR and REJECT"),
        ),
        Guard(
            "refund_settled",
            "the gateway refund (or the credit entry) has succeeded",
            _refund_settled,
        ),
        Guard(
            "refund_failed",
            "the last gateway refund attempt failed",
            _refund_failed,
        ),
        Guard(
            "amount_within_paid",
            "a refund or credit amount is at most what was paid for the returned lines",
            _amount_within_paid,
            uses_fields=True,
        ),
    )
}

EFFECTS: dict[str, str] = {
    "notify_customer": "record a message to the customer (delivered by a job)",
    "record_disposition": "store the decided disposition and amount on the return",
    "record_inspection": "store the inspection grade and notes on the return",
    "record_shipment": "store the customer's carrier and tracking number",
    "queue_refund": "record a gateway refund in the outbox (executed by a job)",
    "issue_store_credit": "append a store-credit ledger entry for the amount",
    "create_replacement_order": "create a zero-priced order for the returned lines, taking stock",
    "ship_back_to_customer": "record the return shipment of a repaired or rejected item",
    "restock_if_resellable": "put returned units back in stock when graded new or like new",
    "release_sale_stock": "give a flash sale's unsold units back to stock",
    "release_holds": "release a flash sale's live holds",
}
