"""Monitoring pages: /health, /health/live, /health/ready (health), /metrics (metrics),
/monitoring/dashboard (dashboard), /monitoring/logs (logs) and /monitoring/returns, the
returns analytics (returns)."""

from __future__ import annotations

from views.monitoring import dashboard, health, logs, metrics, returns

BLUEPRINTS = (health.bp, metrics.bp, dashboard.bp, logs.bp, returns.bp)
