"""Monitoring pages: /health, /health/live, /health/ready (health) and /metrics (metrics)."""

from __future__ import annotations

from views.monitoring import health, logs, metrics, returns

BLUEPRINTS = (health.bp, metrics.bp, logs.bp, returns.bp)
