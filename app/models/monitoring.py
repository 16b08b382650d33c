"""Operational records: scheduler heartbeats and the history of job runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class Heartbeat(Base):
    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    holder: Mapped[str] = mapped_column(String(120), default="")


class JobRun(Base):
    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(60), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    handled: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(10))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class JobState(Base):
    """Each scheduled job's latest run, overwritten by every run (the history in `job_runs`
    keeps only runs that did work or failed): what the dashboard's job health reads."""

    __tablename__ = "job_states"

    job_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    last_outcome: Mapped[str] = mapped_column(String(10))
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LogEvent(Base):
    """A log line kept for `/monitoring/logs`: the newest few thousand of every process, a
    bounded store (pruned by the scheduler), never the unbounded stderr stream."""

    __tablename__ = "log_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    level: Mapped[str] = mapped_column(String(10))
    logger: Mapped[str] = mapped_column(String(100), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str] = mapped_column(String(128), default="-", index=True)
    job_id: Mapped[str | None] = mapped_column(String(60), nullable=True)
    fields: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: method, path ...


class TrafficMinute(Base):
    """Requests answered in one minute by one area with one kind of status: what the
    dashboard's sparklines, error rates and percentiles read. Every web process adds its
    own counts (an upsert that sums), so the figures hold for any number of processes.
    `b0`..`b13` count requests per latency bucket of `/metrics`' histogram (the last is
    everything slower than its largest bound)."""

    __tablename__ = "traffic_minutes"

    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    area: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(3), primary_key=True)  # 2xx 3xx 4xx 429 5xx
    count: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    b0: Mapped[int] = mapped_column(Integer, default=0)
    b1: Mapped[int] = mapped_column(Integer, default=0)
    b2: Mapped[int] = mapped_column(Integer, default=0)
    b3: Mapped[int] = mapped_column(Integer, default=0)
    b4: Mapped[int] = mapped_column(Integer, default=0)
    b5: Mapped[int] = mapped_column(Integer, default=0)
    b6: Mapped[int] = mapped_column(Integer, default=0)
    b7: Mapped[int] = mapped_column(Integer, default=0)
    b8: Mapped[int] = mapped_column(Integer, default=0)
    b9: Mapped[int] = mapped_column(Integer, default=0)
    b10: Mapped[int] = mapped_column(Integer, default=0)
    b11: Mapped[int] = mapped_column(Integer, default=0)
    b12: Mapped[int] = mapped_column(Integer, default=0)
    b13: Mapped[int] = mapped_column(Integer, default=0)
