"""Version 1 of each shipped workflow, as data."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from workflows.core_rules import CoreRules

RMA_CORE_STATES = (
    "SUBMITTED", "VALIDATING", "APPROVED", "SHIPPING", "RECEIVED", "INSPECTING",
    "INSPECTED", "DISPOSITION", "PROCESSING", "COMPLETED", "REJECTED", "CANCELLED",
)  # fmt: skip
RMA_CORE_TRIGGERS = (
    "validate", "approve", "reject", "cancel", "ship", "receive", "start_inspection",
    "complete_inspection", "decide", "process", "complete",
)  # fmt: skip


RMA_TERMINALS = ("COMPLETED", "REJECTED", "CANCELLED")

# What the returns' services and jobs rely on in any version an admin publishes (CONTRACT
# §3.4 pins the money effects and the stock rules to these triggers).
RMA_CORE = CoreRules(
    name="rma",
    states=RMA_CORE_STATES,
    triggers=RMA_CORE_TRIGGERS,
    terminals=RMA_TERMINALS,
    edges=(
        # Opening a return fires `validate` as the system; the completion job fires `complete`.
        ("validate", "SUBMITTED", "VALIDATING", "system"),
        ("process", "DISPOSITION", "PROCESSING", "finance"),
        ("complete", "PROCESSING", "COMPLETED", "system"),
    ),
    effects={
        "ship": ("record_shipment",),
        "complete_inspection": ("record_inspection",),
        "decide": ("record_disposition",),
        "process": ("queue_refund", "issue_store_credit"),
        "complete": ("create_replacement_order", "ship_back_to_customer", "restock_if_resellable"),
    },
    effect_triggers={
        "queue_refund": ("process", "retry_refund"),
        "issue_store_credit": ("process",),
        "create_replacement_order": ("complete",),
        "restock_if_resellable": ("complete",),
        "record_disposition": ("decide",),
    },
    effect_guards={
        "queue_refund": "disposition_is_refund",
        "issue_store_credit": "disposition_is_store_credit",
        "create_replacement_order": "disposition_is_replacement",
    },
)
CORE_RULES = {"rma": RMA_CORE}


def load_shipped(name: str) -> dict[str, Any]:
    """The JSON of `workflows/definitions/<name>.json`."""
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
