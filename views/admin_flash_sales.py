"""Admin flash-sale pages (/admin/flash-sales)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_flash_sales", __name__, url_prefix="/admin/flash-sales")
