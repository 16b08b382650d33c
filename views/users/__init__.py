"""Accounts on the web: sign-in, registration and passwords (auth), the sign-in throttle
(guard), and the admin's /admin/users pages (admin, on the shared admin blueprint)."""

from __future__ import annotations

from views.users import admin, auth

BLUEPRINTS = (auth.bp,)
__all__ = ["BLUEPRINTS", "admin"]
