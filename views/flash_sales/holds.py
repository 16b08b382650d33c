"""Reserving flash-sale units, as the shop page and the JSON API both do it, and what a
customer already has of each sale item (so the page offers only what the limit leaves)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.current import current_config, db_session
from app.db import utcnow
from app.models.flash_sales import HoldStatus
from app.services.flash_sales import HoldView, reserve


def reserve_now(*, sale_id: int, product_id: int, customer_id: int, quantity: int) -> HoldView:
    """Hold `quantity` units of a sale's product for a customer from now, for the app's
    `FLASH_RESERVATION_TTL_SECONDS`; the service's refusals (sold out, over the limit, not
    active) propagate to the error handler."""
    return reserve(
        db_session(),
        sale_id=sale_id,
        product_id=product_id,
        customer_id=customer_id,
        quantity=quantity,
        now=utcnow(),
        ttl_seconds=current_config().flash_reservation_ttl_seconds,
    )


@dataclass(frozen=True)
class Taken:
    """A customer's units of one sale item that count against its per-customer limit."""

    bought: int = 0
    held: int = 0

    @property
    def total(self) -> int:
        return self.bought + self.held


def taken_by_item(holds: Iterable[HoldView]) -> dict[int, Taken]:
    """Bought and live-held units per sale item, counted as the service counts them for
    `limit_exceeded` (an expired hold, shown `expired`, counts for nothing). The page uses
    it to offer only what the limit leaves; `reserve` still decides."""
    taken: dict[int, Taken] = {}
    for hold in holds:
        now = taken.get(hold.item_id, Taken())
        if hold.status == HoldStatus.CONVERTED:
            taken[hold.item_id] = Taken(now.bought + hold.quantity, now.held)
        elif hold.status == HoldStatus.HELD:
            taken[hold.item_id] = Taken(now.bought, now.held + hold.quantity)
    return taken
