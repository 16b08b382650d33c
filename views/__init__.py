"""Flask blueprints, one module per area; `register_views` wires them into the app."""

from __future__ import annotations

from flask import Flask


def register_views(app: Flask) -> None:
    from views import admin as admin_views
    from views import (
        admin_flash_sales,
        api,
        auth,
        cart,
        catalog,
        errors,
        flash_sales,
        hooks,
        metrics,
        ops,
        orders,
        pages,
        returns,
        staff,
        staff_returns,
    )

    hooks.install(app)
    errors.install(app)
    pages.install(app)
    for blueprint in (
        ops.bp,
        metrics.bp,
        auth.bp,
        catalog.bp,
        cart.bp,
        orders.bp,
        staff.bp,
        returns.bp,
        staff_returns.bp,
        admin_views.bp,
        flash_sales.bp,
        admin_flash_sales.bp,
        api.bp,
    ):
        app.register_blueprint(blueprint)
