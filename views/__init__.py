"""Flask blueprints, one package or module per area; `register_views` wires them into the app.

An area's package (`views/returns/`, `views/orders/` ...) names its blueprints in
`BLUEPRINTS`; the modules beside them are the web's plumbing (access, errors, hooks, pages,
parsing, rendering, page_cache) and `api/`, the JSON API of CONTRACT §3.
"""

from __future__ import annotations

from flask import Flask


def register_views(app: Flask) -> None:
    from views import (
        api,
        catalog,
        errors,
        feeds,
        flash_sales,
        hooks,
        monitoring,
        orders,
        pages,
        returns,
        users,
        workflows,
    )
    from views.access import admin_pages

    hooks.install(app)
    errors.install(app)
    pages.install(app)
    for area in (monitoring, users, catalog, orders, returns, flash_sales, workflows, feeds):
        for blueprint in area.BLUEPRINTS:
            app.register_blueprint(blueprint)
    app.register_blueprint(admin_pages)  # /admin/products (catalog) and /admin/users (users)
    app.register_blueprint(api.bp)
