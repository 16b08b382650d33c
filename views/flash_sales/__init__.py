"""Flash sales on the web: the customer's live sales (shop), reserving units as the page and
the API both do it (holds), and the admin's pages (admin)."""

from __future__ import annotations

from views.flash_sales import admin, shop

BLUEPRINTS = (shop.bp, admin.bp)
