"""GET /monitoring/dashboard (staff and admins): the shop's health at a glance.

The page polls itself every 5 s with htmx and gets only the partial back. Figures come from
the database (`app.services.monitoring.read_dashboard`), so every web process shows the
same ones, read at most once a second per process however many screens are open; before
reading, this process writes its own request counts, so its latest requests are in the
traffic it draws (other processes' arrive within their flush interval).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, current_app
from flask.blueprints import BlueprintSetupState
from sqlalchemy.orm import Session

from app.current import current_config, current_payments, db_session
from app.db import utcnow
from app.services.monitoring import Dashboard, check_health, read_dashboard
from views.access import staff_required
from views.monitoring.health import probes
from views.monitoring.metrics import traffic_of
from views.rendering import page_or_partial

bp = Blueprint("dashboard", __name__)
STARTED = time.time()  # when this web process started (its uptime on the page)
WIDTH, HEIGHT = 240, 40  # a sparkline's drawing box, in SVG units


@dataclass(frozen=True)
class Sparkline:
    """A per-minute series drawn as an SVG polyline (oldest first; the last is this minute)."""

    label: str
    values: list[float]
    unit: str = ""

    @property
    def peak(self) -> float:
        return max(self.values, default=0.0)

    @property
    def last(self) -> float:
        return self.values[-1] if self.values else 0.0

    @property
    def points(self) -> str:
        """'x,y x,y …' scaled to the box; a flat line along the bottom with nothing to show."""
        peak = self.peak or 1.0
        step = WIDTH / max(1, len(self.values) - 1)
        return " ".join(
            f"{i * step:.1f},{HEIGHT - 2 - (value / peak) * (HEIGHT - 4):.1f}"
            for i, value in enumerate(self.values)
        )


@bp.record_once
def _install(state: BlueprintSetupState) -> None:
    state.app.extensions["backroom.dashboard"] = _Snapshot()


class _Snapshot:
    """The figures last read by this process, shared by every screen for a moment."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.board: Dashboard | None = None
        self.expires = 0.0


def _board(app: Flask, session: Session) -> Dashboard:
    """The dashboard's figures, read at most once per `dashboard_cache_seconds` per
    process. Before reading, this process writes its own request counts, so its latest
    requests are in the traffic drawn."""
    snapshot: _Snapshot = app.extensions["backroom.dashboard"]
    with snapshot.lock:
        if snapshot.board is not None and snapshot.expires > time.monotonic():
            return snapshot.board
    traffic_of(app).write(session)  # on failure the page shows what others wrote
    board = read_dashboard(session, now=utcnow())
    with snapshot.lock:
        snapshot.board = board
        snapshot.expires = time.monotonic() + app.config["BACKROOM"].dashboard_cache_seconds
    return board


@bp.get("/monitoring/dashboard")
@staff_required
def page() -> Any:
    app: Flask = current_app
    session = db_session()
    board = _board(app, session)
    now = utcnow()
    health = check_health(
        session, now=now, heartbeat_seconds=current_config().heartbeat_seconds, probes=probes()
    )
    traffic = board.traffic
    sparklines = [
        Sparkline("Requests", [float(total) for total, _ in traffic.per_minute]),
        Sparkline("Failed requests", [float(failed) for _, failed in traffic.per_minute]),
        Sparkline("p95 latency", [(p or 0.0) * 1000 for p in traffic.p95_per_minute], unit=" ms"),
        Sparkline("Orders", [float(n) for n in board.orders_per_minute]),
        Sparkline("Returns opened", [float(n) for n in board.returns_per_minute]),
    ]
    return page_or_partial(
        "monitoring/dashboard.html",
        "monitoring/_dashboard.html",
        board=board,
        health=health,
        circuit=current_payments().breaker.status(),
        uptime_seconds=time.time() - STARTED,
        sparklines=sparklines,
        spark_box=(WIDTH, HEIGHT),
    )
