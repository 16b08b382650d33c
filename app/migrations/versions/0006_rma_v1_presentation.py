"""workflows: the shipped RMA version 1 says how its states show (tone, step, notice, guidance)

Pages and notices now read these from a return's own workflow version; version 1 was stored
before they existed. Only the shipped version 1 is touched, and only states that say
nothing of how they show: an admin's later versions carry their own.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 10:10:00
"""
import json

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

KEYS = ("tone", "step", "notice", "guidance")
SHOWN = json.loads(r'''
{
    "SUBMITTED": {
        "tone": "wait",
        "step": "Requested",
        "guidance": "We are reviewing your request."
    },
    "VALIDATING": {
        "tone": "wait",
        "step": "Review",
        "notice": "is being reviewed",
        "guidance": "We are reviewing your request and will answer by {due}."
    },
    "APPROVED": {
        "tone": "info",
        "step": "Ship back",
        "notice": "was approved: please ship the items back",
        "guidance": "Approved. Please send the items back to us, then tell us the carrier and tracking number below."
    },
    "SHIPPING": {
        "tone": "info",
        "step": "In transit",
        "notice": "is on its way back to us",
        "guidance": "Thanks, your parcel is on its way to us. We will tell you when it arrives."
    },
    "RECEIVED": {
        "tone": "info",
        "step": "Inspection",
        "notice": "has arrived at our warehouse",
        "guidance": "Your parcel has arrived and we are inspecting it."
    },
    "INSPECTING": {
        "tone": "info",
        "step": "Inspection",
        "guidance": "Your parcel has arrived and we are inspecting it."
    },
    "INSPECTED": {
        "tone": "wait",
        "step": "Decision",
        "guidance": "We inspected the items and are deciding what happens next."
    },
    "DISPOSITION": {
        "tone": "info",
        "step": "Processing",
        "notice": "has been decided",
        "guidance": {
            "disposition": {
                "REFUND": "We are refunding {amount} to your card.",
                "STORE_CREDIT": "We are adding {amount} to your store credit.",
                "REPLACEMENT": "We are sending you a replacement.",
                "REPAIR": "We are repairing the item and will send it back to you.",
                "REJECT": "We could not accept the return; we are sending the item back to you."
            }
        }
    },
    "PROCESSING": {
        "tone": "info",
        "step": "Processing",
        "guidance": {
            "disposition": {
                "REFUND": "We are refunding {amount} to your card.",
                "STORE_CREDIT": "We are adding {amount} to your store credit.",
                "REPLACEMENT": "We are sending you a replacement.",
                "REPAIR": "We are repairing the item and will send it back to you.",
                "REJECT": "We could not accept the return; we are sending the item back to you."
            }
        }
    },
    "COMPLETED": {
        "tone": "ok",
        "step": "Completed",
        "notice": "is complete",
        "guidance": {
            "disposition": {
                "REFUND": "Done. We refunded {amount}.",
                "STORE_CREDIT": "Done. We added {amount} to your store credit.",
                "REPLACEMENT": "Done. Your replacement is on its way.",
                "REPAIR": "Done. Your repaired item is on its way back to you.",
                "REJECT": "Done. The item is on its way back to you."
            }
        }
    },
    "REJECTED": {
        "tone": "bad",
        "notice": "was rejected",
        "guidance": "We could not accept this return. The timeline below says why."
    },
    "CANCELLED": {
        "tone": "neutral",
        "notice": "was cancelled",
        "guidance": "This return was cancelled. Nothing more will happen."
    }
}
''')


def _rewrite(change) -> None:
    conn = op.get_bind()
    row = conn.execute(
        sa.text("SELECT id, definition FROM workflow_definitions WHERE name = 'rma' AND version = 1")
    ).first()
    if row is None:
        return
    definition = json.loads(row.definition)
    for state in definition.get("states", []):
        change(state)
    conn.execute(
        sa.text("UPDATE workflow_definitions SET definition = :text WHERE id = :id"),
        {"text": json.dumps(definition), "id": row.id},
    )


def upgrade() -> None:
    def add(state: dict) -> None:
        if not any(key in state for key in KEYS):
            state.update(SHOWN.get(state.get("name"), {}))

    _rewrite(add)


def downgrade() -> None:
    def strip(state: dict) -> None:
        for key in KEYS:
            state.pop(key, None)

    _rewrite(strip)
