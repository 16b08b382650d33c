"""GET /metrics: Prometheus text format, and the per-request series behind it.

Request series are labelled by Flask endpoint name (never the raw path: one series per
route, whatever URLs clients make up), method and status. They are recorded by an
app-wide after_request hook (it also sees error responses: Flask's handlers turn every
exception into a response before after_request runs). The hook costs a dict lookup and
three lock-guarded increments (about 5 µs): the labelled children are kept per label
tuple, so `labels()` runs once per series, not once per request.

With PROMETHEUS_MULTIPROC_DIR set (`backroom serve` sets it for its web processes; compose
sets it for gunicorn's workers) prometheus_client keeps each worker's values in a file
there and a scrape merges every worker's files; it must be set before the process starts
(prometheus_client reads it at import) and emptied at each start. Without it (one process,
as in tests) the default registry is exported, with its process and platform series.

Business series are counted by a service at scrape time, so every process answers alike.

The same hook counts each request into the process's per-minute traffic (the dashboard's
sparklines, error rates and percentiles; see app/services/monitoring/traffic.py), which a
thread writes to the database every few seconds. INSTRUMENTATION=0 turns both off.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterable, Iterator

from flask import Blueprint, Flask, Response, current_app, g, request
from flask.blueprints import BlueprintSetupState
from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from app.current import current_config, current_payments, db_session
from app.db import utcnow
from app.errors import Unauthorized
from app.payments.breaker import STATE_NAMES, BreakerStatus
from app.services.monitoring import (
    BusinessMetrics,
    OperationsMetrics,
    read_business_metrics,
    read_operations_metrics,
)
from app.services.monitoring.traffic import BOUNDS, Traffic

bp = Blueprint("metrics", __name__)

# A `_created` gauge per series doubles the output for a number Prometheus's text format
# has no use for; multiprocess mode never has them, so both modes now look alike.
disable_created_metrics()
REQUESTS = Counter(
    "backroom_http_requests",
    "HTTP requests answered, by Flask endpoint ('unknown' when no route matched).",
    ("endpoint", "method", "status"),
)
LATENCY = Histogram(
    "backroom_http_request_duration_seconds",
    "Time from the first before_request hook to the response, by Flask endpoint.",
    ("endpoint", "method"),
    buckets=BOUNDS,  # the dashboard's percentiles read the same buckets
)
# Any other method string a client sends is counted as OTHER: labels stay bounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_children: dict[tuple[str | None, str, int], tuple[Counter, Histogram]] = {}


def _series(endpoint: str | None, method: str, status: int) -> tuple[Counter, Histogram]:
    name = endpoint or "unknown"
    pair = (REQUESTS.labels(name, method, str(status)), LATENCY.labels(name, method))
    # Two threads may build the same pair: labels() hands both the same children.
    return _children.setdefault((endpoint, method, status), pair)


@bp.record_once
def _install(state: BlueprintSetupState) -> None:
    state.app.extensions["backroom.traffic"] = Traffic()


def traffic_of(app: Flask) -> Traffic:
    """The app's per-minute request counts not yet written (its flushing thread started)."""
    traffic: Traffic = app.extensions["backroom.traffic"]
    every = app.config["BACKROOM"].traffic_flush_seconds
    if every > 0:
        traffic.start_flushing(app.extensions["backroom.db"], every)
    return traffic


@bp.after_app_request
def _record(response: Response) -> Response:
    app: Flask = current_app
    if not app.config["BACKROOM"].instrumentation:
        return response
    method = request.method if request.method in METHODS else "OTHER"
    key = (request.endpoint, method, response.status_code)
    pair = _children.get(key) or _series(*key)
    pair[0].inc()
    started = g.get("started")  # set by views.hooks._start, the first before_request
    if started is not None:
        elapsed = time.perf_counter() - started
        pair[1].observe(elapsed)
        traffic_of(app).record(_area(app, request.endpoint), response.status_code, elapsed)
    return response


_areas: dict[str | None, str] = {}
# API modules named for what they serve, not for the area that owns it.
_API_AREAS = {"auth": "users", "payments": "orders", "idempotency": "api"}


def _area(app: Flask, endpoint: str | None) -> str:
    """The area a request belongs to, from the module of its view function (views.<area>.x,
    or views.api.<area>): bounded by the code, whatever URLs clients make up."""
    area = _areas.get(endpoint)
    if area is None:
        view = app.view_functions.get(endpoint or "")
        parts = (getattr(view, "__module__", "") or "").split(".")
        if endpoint == "static":
            area = "static"
        elif len(parts) >= 3 and parts[:2] == ["views", "api"]:
            area = _API_AREAS.get(parts[2], parts[2])
        elif len(parts) >= 2 and parts[0] == "views":
            area = parts[1]
        else:
            area = "unknown"
        _areas[endpoint] = area
    return area


@bp.get("/metrics")
def scrape() -> Response:
    _authorize(current_config().metrics_token)
    now = utcnow()
    business = read_business_metrics(db_session(), now=now)
    operations = read_operations_metrics(db_session(), now=now)
    circuit = current_payments().breaker.status()
    families = [
        *_business_families(business),
        *_operations_families(operations),
        *_circuit_families(circuit),
    ]
    body = generate_latest(_Scrape(_request_series(), families))
    return Response(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)


def _authorize(token: str | None) -> None:
    """Open when no token is configured; otherwise `Authorization: Bearer <token>`."""
    if token is None:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    expected = token.encode("utf-8", "surrogateescape")  # the bytes of the environment
    if scheme.lower() != "bearer" or not hmac.compare_digest(_wire(given.strip()), expected):
        raise Unauthorized("send 'Authorization: Bearer <METRICS_TOKEN>'")


def _wire(value: str) -> bytes:
    """A header value as the bytes the client sent (WSGI servers decode them as latin-1)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # not from a real server; it cannot match a sent token
        return value.encode("utf-8", "surrogatepass")


def _request_series() -> Collector:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return MultiProcessCollector(None)  # every worker's files, merged; registers nowhere
    return REGISTRY


class _Scrape:
    """One scrape's output: the request series, then the families built for this scrape."""

    def __init__(self, requests: Collector, families: Iterable[Metric]) -> None:
        self._requests = requests
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._requests.collect()
        yield from self._families


def _gauge(name: str, documentation: str, label: str, values: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, number in sorted(values.items()):
        family.add_metric([value], number)
    return family


def _business_families(business: BusinessMetrics) -> Iterator[Metric]:
    yield _gauge("backroom_orders", "Orders by status.", "status", business.orders_by_status)
    yield _gauge(
        "backroom_returns", "Returns (RMAs) by workflow state.", "state", business.returns_by_state
    )
    yield _gauge(
        "backroom_refunds",
        "Returns with a refund due, by refund status (card or store credit).",
        "status",
        business.refunds_by_status,
    )
    yield _gauge(
        "backroom_flash_sale_units_sold",
        "Flash-sale units moved to orders (pending or paid), by the sale's state.",
        "sale_state",
        business.flash_units_sold_by_sale_state,
    )
    yield GaugeMetricFamily(
        "backroom_flash_sale_units_held",
        "Flash-sale units in live (unexpired) holds.",
        value=business.flash_units_held,
    )
    yield _gauge(
        "backroom_feed_rows",
        "Partner feed rows of the imports that landed (dry runs excluded), by outcome.",
        "outcome",
        business.feed_rows_by_outcome,
    )
    age = GaugeMetricFamily(
        "backroom_feed_last_success_age_seconds",
        "Seconds since each partner's last feed import landed (partners with one).",
        labels=["partner"],
    )
    stale = GaugeMetricFamily(
        "backroom_feed_stale",
        "1 when a partner's feed is flagged stale (nothing landed for too long, or polls failing).",
        labels=["partner"],
    )
    for fresh in business.feed_freshness:
        if fresh.age_seconds is not None:
            age.add_metric([fresh.name], fresh.age_seconds)
        stale.add_metric([fresh.name], int(fresh.stale))
    yield age
    yield stale


def _operations_families(ops: OperationsMetrics) -> Iterator[Metric]:
    yield SummaryMetricFamily(
        "backroom_refund_latency_seconds",
        "Gateway refunds done: seconds from the decision that queued them to the money moved.",
        count_value=ops.refund_latency.count,
        sum_value=ops.refund_latency.seconds,
    )
    yield _gauge(
        "backroom_store_credit_issued_cents",
        "Store credit issued (positive ledger entries), in cents, by reason.",
        "reason",
        ops.store_credit_issued_cents,
    )
    yield _gauge(
        "backroom_oversold_units",
        "Units sold beyond what there was (negative stock, flash-sale items past their "
        "allocation): must stay 0.",
        "kind",
        ops.oversold_units,
    )
    runs = GaugeMetricFamily(
        "backroom_job_runs",
        "Scheduled job runs kept in the run history (7 days), by job and outcome.",
        labels=["job", "outcome"],
    )
    for (job, outcome), count in sorted(ops.job_runs.items()):
        runs.add_metric([job, outcome], count)
    yield runs
    age = GaugeMetricFamily(
        "backroom_job_last_success_age_seconds",
        "Seconds since each scheduled job's last successful recorded run.",
        labels=["job"],
    )
    for job, seconds in sorted(ops.job_last_success_age_seconds.items()):
        age.add_metric([job], seconds)
    yield age


def _circuit_families(circuit: BreakerStatus) -> Iterator[Metric]:
    states = {state: int(state == circuit.state) for state in STATE_NAMES.values()}
    yield _gauge(
        "backroom_payment_circuit_state",
        "The payment circuit breaker's state: 1 for the current one.",
        "state",
        states,
    )
    yield GaugeMetricFamily(
        "backroom_payment_circuit_failures",
        "Consecutive payment gateway failures counted by the breaker.",
        value=circuit.failures,
    )
