"""/health, /health/ready and /health/live (CONTRACT §3.7)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, jsonify

from app.current import current_config, db_session
from app.db import utcnow
from app.services.monitoring import check_health
from app.shared_state import STATE_ADDRESS, connect_shared_state

bp = Blueprint("monitoring", __name__)


@bp.get("/health")
@bp.get("/health/ready")
def health() -> Any:
    """Ready to serve: the database answers, the scheduler beats, and the shared state this
    deployment counts rate limits and the payment circuit in (Redis, or the serve
    process's memory) answers."""
    result = check_health(
        db_session(),
        now=utcnow(),
        heartbeat_seconds=current_config().heartbeat_seconds,
        probes=probes(),
    )
    body = {"status": "ok" if result.ok else "unavailable", "checks": result.checks}
    return jsonify(body), 200 if result.ok else 503


@bp.get("/health/live")
def live() -> Any:
    """The process answers (nothing else is asked: a restart would not mend the rest)."""
    return jsonify(status="ok")


def probes() -> dict[str, Callable[[], object]]:
    probes: dict[str, Callable[[], object]] = {}
    redis = current_app.extensions.get("backroom.redis")
    if redis is not None:
        probes["redis"] = redis.ping
    elif os.environ.get(STATE_ADDRESS):
        probes["shared_state"] = _ask_shared_state
    return probes


def _ask_shared_state() -> None:
    state = connect_shared_state()
    if state is not None:
        state.limits("check")
