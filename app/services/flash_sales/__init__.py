"""Flash sales, the one door to the area: admins schedule a sale, the scheduler starts and
ends it, customers hold units and pay for them.

- setup: `create_sale`, `update_sale` (allocation taken from stock when created)
- lifecycle: `start_due_sales`, `end_due_sales`, `cancel_sale`, `sweep_expired_holds`,
  `restore_hold_for_order`, `live_hold_filter`
- holds: `reserve`, `release_hold`, `checkout_hold`, `get_hold`, `customer_holds` (a
  customer's reservation is a hold in the code)
- reads: `get_sale`, `list_sales`, `sale_stats`
- statements: the prepared SQL behind holds and checkout
"""

from __future__ import annotations

from app.services.flash_sales.holds import (
    HoldView,
    Taken,
    checkout_hold,
    customer_holds,
    customer_live_holds,
    get_hold,
    release_hold,
    reserve,
    units_taken,
)
from app.services.flash_sales.lifecycle import (
    cancel_sale,
    due_for_end,
    due_for_start,
    end_due_sales,
    live_hold_filter,
    restore_hold_for_order,
    start_due_sales,
    sweep_expired_holds,
)
from app.services.flash_sales.reads import (
    STATES,
    SaleView,
    get_sale,
    list_sales,
    sale_stats,
)
from app.services.flash_sales.setup import (
    SaleItemInput,
    create_sale,
    update_sale,
)

__all__ = [
    "STATES",
    "HoldView",
    "SaleItemInput",
    "SaleView",
    "Taken",
    "cancel_sale",
    "checkout_hold",
    "create_sale",
    "customer_holds",
    "customer_live_holds",
    "due_for_end",
    "due_for_start",
    "end_due_sales",
    "get_hold",
    "get_sale",
    "list_sales",
    "live_hold_filter",
    "release_hold",
    "reserve",
    "restore_hold_for_order",
    "sale_stats",
    "start_due_sales",
    "sweep_expired_holds",
    "units_taken",
    "update_sale",
]
