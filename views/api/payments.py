"""GET /system/breakers (staff): the payment circuit as clients see it."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.current import current_payments
from app.models.users import STAFF_ROLES
from views.api import actor, bp


@bp.get("/system/breakers")
def breakers() -> Any:
    actor(*STAFF_ROLES)
    status = current_payments().breaker.status()
    return jsonify(
        items=[
            {
                "name": status.name,
                "state": status.state,
                "failures": status.failures,
                "opened_at": status.opened_at.isoformat() if status.opened_at else None,
                "retry_after": status.retry_after,
            }
        ]
    )
