"""JSON shapes of CONTRACT §3.4: a return, its photos, history and next steps; queue rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import url_for

from app.models.returns import ReturnPhoto, ReturnRequest
from app.services.returns import Available, HistoryEntry, QueueItem, ReturnDetails

MONEY_DISPOSITIONS = ("REFUND", "STORE_CREDIT")


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def photo_json(photo: ReturnPhoto) -> dict[str, Any]:
    return {
        "id": photo.id,
        "url": url_for("api.return_photo", return_id=photo.return_id, photo_id=photo.id),
        "content_type": photo.content_type,
        "width": photo.width,
        "height": photo.height,
        "size_bytes": photo.size_bytes,
        "created_at": when(photo.created_at),
    }


def refund_json(record: ReturnRequest) -> dict[str, Any] | None:
    """Money going back, once processing has started; None for goods or before that."""
    if record.disposition not in MONEY_DISPOSITIONS or record.refund_status is None:
        return None
    return {
        "status": record.refund_status,
        "amount_cents": record.amount_cents,
        "reference": record.refund_reference,
    }


def event_json(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "at": when(entry.at),
        "actor": entry.actor,
        "role": entry.role,
        "trigger": entry.trigger,
        "from": entry.source,
        "to": entry.dest,
        "data": entry.data,
    }


def trigger_json(available: Available) -> dict[str, Any]:
    return {
        "trigger": available.trigger,
        "dest": available.dest,
        "label": available.label,
        "confirm": available.confirm,
        "fields": [
            {
                "name": spec.name,
                "type": spec.type,
                "required": spec.required,
                "choices": list(spec.choices),
                "label": spec.label,
            }
            for spec in available.fields
        ],
    }


def return_json(details: ReturnDetails) -> dict[str, Any]:
    record = details.record
    return {
        "id": record.id,
        "number": record.number,
        "order_id": record.order_id,
        "customer_id": record.customer_id,
        "state": record.state,
        "state_label": details.state_label,
        "terminal": details.terminal,
        "team": record.team,
        "workflow_version": record.workflow_version,
        "version": record.version,
        "reason": record.reason,
        "description": record.description,
        "lines": [
            {
                "order_line_id": line.order_line_id,
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price_cents,
            }
            for line in record.lines
        ],
        "paid_cents": record.paid_cents,
        "disposition": record.disposition,
        "condition": record.condition,
        "inspection_notes": record.inspection_notes,
        "amount_cents": record.amount_cents,
        "refund": refund_json(record),
        "carrier": record.carrier or None,
        "tracking_number": record.tracking_number or None,
        "outbound_tracking": record.outbound_tracking or None,
        "replacement_order_id": record.replacement_order_id,
        "restocked": record.restocked,
        "photos": [photo_json(photo) for photo in record.photos],
        "events": [event_json(entry) for entry in details.history],
        "available_triggers": [trigger_json(a) for a in details.triggers],
        "state_entered_at": when(record.state_entered_at),
        "sla_due_at": when(record.sla_due_at),
        "created_at": when(record.created_at),
        "updated_at": when(record.updated_at),
    }


def queue_item_json(item: QueueItem, details: ReturnDetails) -> dict[str, Any]:
    return {
        **return_json(details),
        "customer": item.customer,
        "order_number": item.order_number,
        "age_seconds": item.age_seconds,
        "breached": item.breached,
    }
