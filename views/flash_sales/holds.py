"""Reserving flash-sale units, as the shop page and the JSON API both do it."""

from __future__ import annotations

from app.current import current_config, db_session
from app.db import utcnow
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
