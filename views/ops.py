"""/health: the database answers and the scheduler has beaten recently."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from app import current_config, db_session
from app.db import utcnow
from app.services.ops import check_health

bp = Blueprint("ops", __name__)


@bp.get("/health")
def health() -> Any:
    result = check_health(
        db_session(), now=utcnow(), heartbeat_seconds=current_config().heartbeat_seconds
    )
    body = {"status": "ok" if result.ok else "unavailable", "checks": result.checks}
    return jsonify(body), 200 if result.ok else 503
