"""Version 1 of each shipped workflow, as data."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

RMA_CORE_STATES = (
    "SUBMITTED", "VALIDATING", "APPROVED", "SHIPPING", "RECEIVED", "INSPECTING",
    "INSPECTED", "DISPOSITION", "PROCESSING", "COMPLETED", "REJECTED", "CANCELLED",
)  # fmt: skip
RMA_CORE_TRIGGERS = (
    "validate", "approve", "reject", "cancel", "ship", "receive", "start_inspection",
    "complete_inspection", "decide", "process", "complete",
)  # fmt: skip


def load_shipped(name: str) -> dict[str, Any]:
    """The JSON of `workflows/definitions/<name>.json`."""
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
