"""Monitoring, the one door to the area: health, the scheduler heartbeat, job runs, and the
business numbers behind `/metrics`.

- health: `check_health`, `record_heartbeat`, `record_job_run`, `record_job_state`,
  `prune_job_runs`
- metrics: `read_business_metrics`
- dashboard: `read_dashboard` (what /monitoring/dashboard shows, traffic included)
- traffic: the per-minute request counts the dashboard draws; `prune_traffic`
- operations: `read_operations_metrics` (refund latency, credit issued, oversold units, job runs)
- logs: the log store (`install_log_store`, `flush_log_store`), its reads (`list_log_events`,
  `log_events_csv`, `log_events_jsonl`) and `prune_log_events`
- returns: `returns_analytics`, `returns_analytics_csv`, `range_problems` (the analytics page)
"""

from __future__ import annotations

from app.services.monitoring.dashboard import Dashboard, read_dashboard
from app.services.monitoring.health import (
    JOB_STATE_EVERY_SECONDS,
    SCHEDULER,
    check_health,
    prune_job_runs,
    record_heartbeat,
    record_job_run,
    record_job_state,
)
from app.services.monitoring.logs import (
    LEVELS,
    LogFilter,
    LogLine,
    flush_log_store,
    install_log_store,
    list_log_events,
    log_events_csv,
    log_events_jsonl,
    prune_log_events,
)
from app.services.monitoring.metrics import (
    BusinessMetrics,
    read_business_metrics,
)
from app.services.monitoring.operations import OperationsMetrics, read_operations_metrics
from app.services.monitoring.returns import (
    ReturnsAnalytics,
    range_problems,
    returns_analytics,
    returns_analytics_csv,
)
from app.services.monitoring.traffic import prune_traffic

__all__ = [
    "JOB_STATE_EVERY_SECONDS",
    "LEVELS",
    "SCHEDULER",
    "BusinessMetrics",
    "Dashboard",
    "LogFilter",
    "LogLine",
    "OperationsMetrics",
    "ReturnsAnalytics",
    "check_health",
    "flush_log_store",
    "install_log_store",
    "list_log_events",
    "log_events_csv",
    "log_events_jsonl",
    "prune_job_runs",
    "prune_log_events",
    "prune_traffic",
    "range_problems",
    "read_business_metrics",
    "read_dashboard",
    "read_operations_metrics",
    "record_heartbeat",
    "record_job_run",
    "record_job_state",
    "returns_analytics",
    "returns_analytics_csv",
]
