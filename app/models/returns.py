"""Returns (RMA): the request, its lines, photos, the append-only event log, the outbox of
work decided inside a transition (gateway refunds, customer notices) and the notices
delivered to customers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, utcnow
from app.models.workflows import TransitionEventColumns


class ReturnRequest(Base):
    __tablename__ = "returns"
    __table_args__ = (
        # The queues: what one team waits on, oldest first.
        Index("ix_returns_team_entered", "team", "state_entered_at"),
        # The dashboard's SLA breaches per team: a range scan over the late ones only.
        Index("ix_returns_team_sla", "team", "sla_due_at"),
        # Open returns counted from the index alone (terminal states differ by version).
        Index("ix_returns_version_state", "workflow_version", "state"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    state: Mapped[str] = mapped_column(String(40), index=True)
    team: Mapped[str | None] = mapped_column(String(20), nullable=True)
    workflow_version: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    reason: Mapped[str] = mapped_column(String(30), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    disposition: Mapped[str | None] = mapped_column(String(20), nullable=True)
    condition: Mapped[str | None] = mapped_column(String(20), nullable=True)
    inspection_notes: Mapped[str] = mapped_column(Text, default="")
    paid_cents: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int | None] = mapped_column(Integer, nullable=True)
    refund_status: Mapped[str | None] = mapped_column(String(12), nullable=True)
    refund_reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    carrier: Mapped[str] = mapped_column(String(200), default="")
    tracking_number: Mapped[str] = mapped_column(String(200), default="")
    outbound_tracking: Mapped[str] = mapped_column(String(200), default="")
    replacement_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), nullable=True)
    restocked: Mapped[bool] = mapped_column(Boolean, default=False)
    state_entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    lines: Mapped[list[ReturnLine]] = relationship(order_by="ReturnLine.id", lazy="selectin")
    photos: Mapped[list[ReturnPhoto]] = relationship(order_by="ReturnPhoto.id", lazy="selectin")
    events: Mapped[list[ReturnEvent]] = relationship(order_by="ReturnEvent.id", lazy="select")


class ReturnLine(Base):
    __tablename__ = "return_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)


class ReturnPhoto(Base):
    __tablename__ = "return_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"), index=True)
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReturnEvent(TransitionEventColumns, Base):
    """Append-only: one row per transition, written in the transition's transaction."""

    __tablename__ = "return_events"
    # The dashboard's returns completed in the last day, without reading the whole log.
    __table_args__ = (Index("ix_return_events_to_state_at", "to_state", "at"),)

    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"), index=True)


class OutboxMessage(Base):
    """Work a transition decided on that must happen outside its transaction (a gateway
    refund, a notice to the customer), executed and retried by a job."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # The dashboard's refunds done in the last day, among every delivered notice.
        Index("ix_outbox_kind_done", "kind", "done_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Notice(Base):
    """A message delivered to a customer (what the email adapter sent), shown on their pages.
    Its table and the outbox kind that carries it keep their first name, `notification`."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    return_id: Mapped[int | None] = mapped_column(ForeignKey("returns.id"), nullable=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
