"""Orders, the one door to the area: the cart, placing an order, settling its payment,
reading orders.

- cart: `price_cart`, `add_to_cart`, `set_cart_quantity`
- checkout: `place_order` (take stock, record it pending, charge outside the transaction),
  `charge_and_settle`, `check_card`
- settlement: `settle_paid`, `settle_failed`, `reconcile_pending_orders`
- reads: `get_order`, `list_orders` (staff: by status, customer, search), `payment_for`,
  `payments_for`
- money: `describe_order` (an order's page: its returns and its money as it moved, with the
  net paid - refunded = kept)
"""

from __future__ import annotations

from app.services.orders.cart import (
    PricedCart,
    add_to_cart,
    price_cart,
    set_cart_quantity,
)
from app.services.orders.checkout import (
    MAX_LINES,
    LineRequest,
    charge_and_settle,
    check_card,
    get_order_row,
    new_order_number,
    payments_unavailable,
    place_order,
)
from app.services.orders.money import (
    MoneyLine,
    OrderDetails,
    Replaces,
    ReturnRef,
    describe_order,
)
from app.services.orders.reads import (
    get_order,
    list_orders,
    payment_for,
    payments_for,
)
from app.services.orders.settlement import (
    reconcile_pending_orders,
    settle_failed,
    settle_paid,
)

__all__ = [
    "MAX_LINES",
    "LineRequest",
    "MoneyLine",
    "OrderDetails",
    "PricedCart",
    "Replaces",
    "ReturnRef",
    "add_to_cart",
    "charge_and_settle",
    "check_card",
    "describe_order",
    "get_order",
    "get_order_row",
    "list_orders",
    "new_order_number",
    "payment_for",
    "payments_for",
    "payments_unavailable",
    "place_order",
    "price_cart",
    "reconcile_pending_orders",
    "set_cart_quantity",
    "settle_failed",
    "settle_paid",
]
