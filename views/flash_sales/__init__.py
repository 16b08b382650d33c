"""Flash sales on the web: the customer's live sales (shop) and the admin's pages (admin)."""

from __future__ import annotations

from views.flash_sales import admin, shop

BLUEPRINTS = (shop.bp, admin.bp)
