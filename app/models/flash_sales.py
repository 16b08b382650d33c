"""Flash sales: the sale, its items (allocations set aside from stock), customers' holds,
and the append-only event log of its lifecycle.

Counters live on the item: `sold` (units moved to orders, pending or paid) and `returned`
(unsold units given back to product stock when the sale closed; `closed` says that
happened, exactly once). Holds are rows; a hold is *live* while its status is `held` and
its `expires_at` is still ahead, so expiry is a predicate and needs no job to count.
Invariant: sold + live holds + returned <= quantity.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, utcnow
from app.models.workflows import TransitionEventColumns


class SaleState(StrEnum):
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    ENDED = "ended"
    CANCELLED = "cancelled"


class HoldStatus(StrEnum):
    HELD = "held"
    CONVERTED = "converted"
    RELEASED = "released"
    EXPIRED = "expired"


class FlashSale(Base):
    __tablename__ = "flash_sales"
    __table_args__ = (
        # The scheduler's questions: what is due to start, what is due to end.
        Index("ix_flash_sales_state_starts", "state", "starts_at"),
        Index("ix_flash_sales_state_ends", "state", "ends_at"),
        CheckConstraint("ends_at > starts_at", name="window_positive"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(12))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    workflow_version: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    items: Mapped[list[FlashSaleItem]] = relationship(
        order_by="FlashSaleItem.id", lazy="selectin", back_populates="sale"
    )


class FlashSaleItem(Base):
    __tablename__ = "flash_sale_items"
    __table_args__ = (
        UniqueConstraint("sale_id", "product_id"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("sale_price_cents >= 1", name="price_positive"),
        CheckConstraint("per_customer_limit >= 1", name="limit_positive"),
        CheckConstraint("sold >= 0 AND returned >= 0", name="counters_not_negative"),
        CheckConstraint("sold + returned <= quantity", name="not_oversold"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("flash_sales.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sale_price_cents: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    per_customer_limit: Mapped[int] = mapped_column(Integer)
    sold: Mapped[int] = mapped_column(Integer, default=0)
    returned: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)

    sale: Mapped[FlashSale] = relationship(back_populates="items")


class FlashHold(Base):
    """A customer's reservation of units of one sale item, at the sale price, until expiry."""

    __tablename__ = "flash_holds"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        # Live holds of an item (the reserve path sums them on every call).
        Index("ix_flash_holds_item_live", "item_id", "status", "expires_at"),
        # A customer's holds per item (the per-customer limit) and on their page.
        Index("ix_flash_holds_customer_item", "customer_id", "item_id", "status"),
        # The sweeper: held holds past their expiry.
        Index("ix_flash_holds_status_expires", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_id: Mapped[int] = mapped_column(ForeignKey("flash_sales.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("flash_sale_items.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id"), nullable=True, unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FlashSaleEvent(TransitionEventColumns, Base):
    """Append-only: one row per lifecycle transition, written in its transaction."""

    __tablename__ = "flash_sale_events"

    sale_id: Mapped[int] = mapped_column(ForeignKey("flash_sales.id"), index=True)
