"""The catalog, the one door to the area: products, search, prices and stock.

- products: `list_products`, `get_product`, `find_products`, `create_product`, `update_product`,
  `list_categories`, `active_sale_prices`, `next_price_change`
- stock: `take_stock`, `give_back_stock` (conditional atomic updates, never below zero)
"""

from __future__ import annotations

from app.services.catalog.products import (
    ProductInput,
    SalePrice,
    active_sale_prices,
    catalog_changed,
    catalog_version,
    check_product_input,
    create_product,
    find_products,
    get_product,
    list_categories,
    list_products,
    next_price_change,
    update_product,
)
from app.services.catalog.stock import (
    give_back_stock,
    take_stock,
)

__all__ = [
    "ProductInput",
    "SalePrice",
    "active_sale_prices",
    "catalog_changed",
    "catalog_version",
    "check_product_input",
    "create_product",
    "find_products",
    "get_product",
    "give_back_stock",
    "list_categories",
    "list_products",
    "next_price_change",
    "take_stock",
    "update_product",
]
