"""Requests per minute, by area and kind of status, with their latency buckets: what the
dashboard's sparklines, error rates and percentiles read.

Each web process counts in memory (a dict update under a lock, a few microseconds per
request) and adds its counts to `traffic_minutes` every few seconds with one upsert that
sums, so the figures hold for any number of processes and hosts, like `/metrics`. The
latency buckets are `/metrics`' own, so a percentile read here is the one Prometheus's
`histogram_quantile` would give over the same requests.
"""

from __future__ import annotations

import atexit
import bisect
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db import Database, transaction
from app.models.monitoring import TrafficMinute

log = logging.getLogger("backroom.monitoring")

# Upper bounds (seconds) of the latency buckets, shared with /metrics' histogram. Most pages
# answer in a few milliseconds: finer steps at the bottom than Prometheus's default.
BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BUCKETS = tuple(f"b{i}" for i in range(len(BOUNDS) + 1))  # the last: slower than 10 s
STATUSES = ("2xx", "3xx", "4xx", "429", "5xx")
FAILED = frozenset({"4xx", "429", "5xx"})
KEEP = timedelta(days=2)


def status_kind(code: int) -> str:
    """429 apart (someone is being throttled), then by hundreds; 1xx counts as 2xx."""
    if code == 429:
        return "429"
    return f"{min(max(code // 100, 2), 5)}xx"


class Traffic:
    """One process's counts not yet written, keyed (epoch minute, area, status kind).

    Each value is [count, seconds, bucket counts…]. `flush` writes and forgets them; when
    the write fails they are put back, so a database hiccup loses nothing. What is pending
    stays small: one entry per minute, area and status kind seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, str, str], list[float]] = {}
        self._flusher: threading.Thread | None = None

    def record(self, area: str, status: int, seconds: float, at: float | None = None) -> None:
        key = (int((time.time() if at is None else at) // 60), area, status_kind(status))
        bucket = bisect.bisect_left(BOUNDS, seconds)
        with self._lock:
            row = self._pending.get(key)
            if row is None:
                row = self._pending[key] = [0.0] * (2 + len(BUCKETS))
            row[0] += 1
            row[1] += seconds
            row[2 + bucket] += 1

    def flush(self, session: Session) -> int:
        """Add what is pending to the table; returns the number of rows written."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            add_minutes(session, _rows(pending))
        except Exception:
            self._put_back(pending)
            raise
        return len(pending)

    def start_flushing(self, db: Database, every_seconds: float) -> None:
        """Flush from a daemon thread every `every_seconds`; started once per process, on
        the first request (after a pre-forking server has forked)."""
        if self._flusher is not None:
            return
        with self._lock:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(
                target=self._flush_forever, args=(db, every_seconds), daemon=True
            )
        self._flusher.start()
        atexit.register(self._flush_once, db)  # what the last seconds counted

    def _flush_once(self, db: Database) -> None:
        session = db.session()
        try:
            self.write(session)
        finally:
            session.close()

    def write(self, session: Session) -> int:
        """`flush`, for callers that must carry on: a failure is logged and rolled back,
        and the counts are kept for the next write. Returns the rows written (0 then)."""
        try:
            return self.flush(session)
        except Exception:  # kept for the next round; the request path never sees it
            session.rollback()
            log.warning("could not write request counts; keeping them", exc_info=True)
            return 0

    def _flush_forever(self, db: Database, every_seconds: float) -> None:
        while True:
            time.sleep(every_seconds)
            self._flush_once(db)

    def _put_back(self, pending: dict[tuple[int, str, str], list[float]]) -> None:
        with self._lock:
            for key, values in pending.items():
                row = self._pending.setdefault(key, [0.0] * len(values))
                for i, value in enumerate(values):
                    row[i] += value


def _rows(pending: dict[tuple[int, str, str], list[float]]) -> list[dict[str, object]]:
    rows = []
    # In key order: processes upserting the same rows in different orders would deadlock
    # each other on PostgreSQL (each waiting for a row lock the other holds).
    for (minute, area, status), values in sorted(pending.items()):
        row: dict[str, object] = {
            "minute": datetime.fromtimestamp(minute * 60, UTC),
            "area": area[:40],
            "status": status,
            "count": int(values[0]),
            "seconds": values[1],
        }
        row.update(zip(BUCKETS, (int(v) for v in values[2:]), strict=True))
        rows.append(row)
    return rows


def add_minutes(session: Session, rows: list[dict[str, object]]) -> None:
    """Upsert that sums: a (minute, area, status) row another process wrote gains these."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(TrafficMinute)
    summed = ("count", "seconds", *BUCKETS)
    stmt = stmt.on_conflict_do_update(
        index_elements=["minute", "area", "status"],
        set_={name: getattr(TrafficMinute, name) + stmt.excluded[name] for name in summed},
    )
    with transaction(session):
        session.execute(stmt, rows)


def prune_traffic(session: Session, *, now: datetime) -> int:
    """Forget minutes older than two days (the dashboard reads the last hour)."""
    with transaction(session):
        result = session.execute(delete(TrafficMinute).where(TrafficMinute.minute < now - KEEP))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Window:
    """Requests over a stretch of minutes: counts by status kind and the latency buckets."""

    by_status: dict[str, int]
    buckets: tuple[int, ...]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.by_status.items() if status in FAILED)

    def rate(self, *statuses: str) -> float | None:
        """The share of requests answered with any of `statuses`; None with no requests."""
        total = self.total
        return sum(self.by_status.get(s, 0) for s in statuses) / total if total else None

    def quantile(self, q: float) -> float | None:
        """Seconds, interpolated within the bucket as Prometheus's histogram_quantile does;
        None with no requests; the largest bound when it falls in the slowest bucket."""
        total = sum(self.buckets)
        if not total:
            return None
        rank = q * total
        seen = 0
        for i, count in enumerate(self.buckets):
            if count and seen + count >= rank:
                if i == len(BOUNDS):
                    return BOUNDS[-1]
                lower = BOUNDS[i - 1] if i else 0.0
                return lower + (BOUNDS[i] - lower) * (rank - seen) / count
            seen += count
        return BOUNDS[-1]  # pragma: no cover - the loop always reaches the rank


@dataclass(frozen=True)
class AreaTraffic:
    area: str
    ok: int
    failed: int

    @property
    def total(self) -> int:
        return self.ok + self.failed


@dataclass(frozen=True)
class TrafficReport:
    last_5_minutes: Window
    last_hour: Window
    areas: list[AreaTraffic]  # the last hour, busiest first
    per_minute: list[tuple[int, int]]  # the last 60 minutes, oldest first: (requests, failed)
    p95_per_minute: list[float | None]  # seconds


def read_traffic(session: Session, *, now: datetime) -> TrafficReport:
    """The last hour of requests, from every process's flushed counts: two GROUP BYs over
    the primary key's leading column (one row per minute and status kind, one per area
    and status kind), whatever the number of processes that wrote them."""
    this_minute = now.replace(second=0, microsecond=0)
    start = this_minute - timedelta(minutes=59)
    five = this_minute - timedelta(minutes=4)
    summed = [func.sum(getattr(TrafficMinute, name)) for name in BUCKETS]
    recent_rows = session.execute(
        select(
            TrafficMinute.minute,
            TrafficMinute.status,
            func.sum(TrafficMinute.count),
            func.sum(TrafficMinute.seconds),
            *summed,
        )
        .where(TrafficMinute.minute >= start)
        .group_by(TrafficMinute.minute, TrafficMinute.status)
    ).all()
    area_rows = session.execute(
        select(TrafficMinute.area, TrafficMinute.status, func.sum(TrafficMinute.count))
        .where(TrafficMinute.minute >= start, TrafficMinute.minute < start + timedelta(hours=1))
        .group_by(TrafficMinute.area, TrafficMinute.status)
    ).all()
    areas: dict[str, list[int]] = {}
    for area, status, count in area_rows:
        pair = areas.setdefault(area, [0, 0])
        pair[int(status in FAILED)] += int(count)
    minutes = [_Tally() for _ in range(60)]
    for minute, status, count, seconds, *buckets in recent_rows:
        index = int((_aware(minute) - start).total_seconds() // 60)
        if 0 <= index < 60:  # a clock ahead of ours writes a minute we do not draw
            minutes[index].add(status, int(count), float(seconds), buckets)
    hour, recent = _Tally(), _Tally()
    for index, tally in enumerate(minutes):
        hour.merge(tally)
        if start + timedelta(minutes=index) >= five:
            recent.merge(tally)
    windows = [tally.window() for tally in minutes]
    return TrafficReport(
        last_5_minutes=recent.window(),
        last_hour=hour.window(),
        areas=sorted(
            (AreaTraffic(area, ok, failed) for area, (ok, failed) in areas.items()),
            key=lambda a: (-a.total, a.area),
        ),
        per_minute=[(w.total, w.failed) for w in windows],
        p95_per_minute=[w.quantile(0.95) for w in windows],
    )


class _Tally:
    """Counts being summed into a Window."""

    def __init__(self) -> None:
        self.by_status = dict.fromkeys(STATUSES, 0)
        self.buckets = [0] * len(BUCKETS)
        self.seconds = 0.0

    def add(self, status: str, count: int, seconds: float, buckets: Iterable[int]) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + count
        self.seconds += seconds
        for i, n in enumerate(buckets):
            self.buckets[i] += int(n)

    def merge(self, other: _Tally) -> None:
        for status, count in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + count
        self.seconds += other.seconds
        for i, n in enumerate(other.buckets):
            self.buckets[i] += n

    def window(self) -> Window:
        return Window(dict(self.by_status), tuple(self.buckets), self.seconds)


def _aware(value: datetime | str) -> datetime:
    """A grouped minute as an aware UTC datetime (SQLite hands a GROUP BY column back as
    stored: naive, or text when the driver does not convert it)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
