"""Partner feeds: partners, their API keys, imports, and what each import found.

An import is a durable job: a row the scheduler's worker claims (compare-and-set with a
lease), staged batch by batch into `feed_changes` and `feed_rejections`, then applied to
`products` batch by batch. Progress counters let a crashed import resume where it stopped.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    format: Mapped[str] = mapped_column(String(30), default="standard")
    feed_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    poll_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # JSON object: the partner's column name -> our field name (standard CSV only).
    mapping: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The change guard: a run changing more than this share of prices (or dropping more
    # than this share of items) waits for an admin. 100 turns a guard off.
    price_guard_percent: Mapped[int] = mapped_column(Integer, default=50)
    drop_guard_percent: Mapped[int] = mapped_column(Integer, default=50)
    # Without a successful import for this long, the feed is flagged stale.
    stale_after_minutes: Mapped[int] = mapped_column(Integer, default=1440)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    # Polling state (partners with a feed_url).
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    poll_etag: Mapped[str | None] = mapped_column(String(500), nullable=True)
    poll_last_modified: Mapped[str | None] = mapped_column(String(100), nullable=True)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    poll_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_poll_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The last import that landed (not a dry run).
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PartnerKey(Base):
    """An API key: only its SHA-256 is kept; `prefix` lets people tell keys apart."""

    __tablename__ = "partner_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FeedImport(Base):
    __tablename__ = "feed_imports"
    __table_args__ = (Index("ix_feed_imports_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    # None; "required" (the guard stopped it: it waits, queued); "approved"; "rejected".
    approval: Mapped[str | None] = mapped_column(String(20), nullable=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    # The file is the partner's whole catalog: its products missing from it are dropped.
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(10), default="upload")
    format: Mapped[str] = mapped_column(String(30))
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    file_name: Mapped[str] = mapped_column(String(100))  # under <uploads>/feeds/
    original_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    file_size: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[int] = mapped_column(Integer, default=0)
    price_changes: Mapped[int] = mapped_column(Integer, default=0)
    # The partner's products on sale when staging ended: what the guard's shares are of.
    existing: Mapped[int] = mapped_column(Integer, default=0)
    # "stage" (reading the file) then "apply" (writing products); progress of each.
    phase: Mapped[str] = mapped_column(String(10), default="stage")
    staged_rows: Mapped[int] = mapped_column(Integer, default=0)
    applied_through: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("partner_keys.id"), nullable=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When retention cleared its details (and, for a dry run, its file).
    cleaned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FeedChange(Base):
    """One product an import creates, updates or drops: the new values and the field diff."""

    __tablename__ = "feed_changes"
    __table_args__ = (Index("ix_feed_changes_import_id_id", "import_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("feed_imports.id"))
    row: Mapped[int] = mapped_column(Integer)  # 0 for a drop (no row names it)
    sku: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(10))  # create | update | drop
    product_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # JSON: the fields to write; for an update only those the row sent.
    data: Mapped[str] = mapped_column(Text, default="{}")
    # JSON: field -> [old, new] (an update or a drop).
    diff: Mapped[str] = mapped_column(Text, default="{}")
    hash: Mapped[str | None] = mapped_column(String(32), nullable=True)


class FeedRejection(Base):
    """A row an import refused, with every problem found in it and its original cells."""

    __tablename__ = "feed_rejections"
    __table_args__ = (Index("ix_feed_rejections_import_id_row", "import_id", "row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("feed_imports.id"))
    row: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # JSON: [[field, message], ...]
    problems: Mapped[str] = mapped_column(Text)
    # JSON: the row's original column -> cell text, in order.
    cells: Mapped[str] = mapped_column(Text)
