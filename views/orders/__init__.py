"""Orders on the web: the cart and placing an order from it (cart), a customer's orders
and an order's page (history)."""

from __future__ import annotations

from views.orders import cart, history

BLUEPRINTS = (cart.bp, history.bp)
