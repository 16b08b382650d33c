"""The catalog on the web: the shop's search and product pages (shop) and the admin's
/admin/products pages (admin, on the shared admin blueprint)."""

from __future__ import annotations

from views.catalog import admin, shop

BLUEPRINTS = (shop.bp,)
__all__ = ["BLUEPRINTS", "admin"]
