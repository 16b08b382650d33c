"""Monitoring, the one door to the area: health, the scheduler heartbeat, job runs, and the
business numbers behind `/metrics`.

- health: `check_health`, `record_heartbeat`, `record_job_run`, `prune_job_runs`
- metrics: `read_business_metrics`
- operations: `read_operations_metrics` (refund latency, credit issued, oversold units, job runs)
"""

from __future__ import annotations

from app.services.monitoring.health import (
    SCHEDULER,
    check_health,
    prune_job_runs,
    record_heartbeat,
    record_job_run,
)
from app.services.monitoring.metrics import (
    BusinessMetrics,
    read_business_metrics,
)
from app.services.monitoring.operations import OperationsMetrics, read_operations_metrics

__all__ = [
    "SCHEDULER",
    "BusinessMetrics",
    "OperationsMetrics",
    "check_health",
    "prune_job_runs",
    "read_business_metrics",
    "read_operations_metrics",
    "record_heartbeat",
    "record_job_run",
]
