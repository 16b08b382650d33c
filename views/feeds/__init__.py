"""Partner feeds on the web (admins): /admin/partners, onboarding and settings with the API
keys shown once (partners), and uploads with each import's report, approvals and rejected
rows (imports). They hang on the shared `admin_pages` blueprint (views/access.py), which
checks the admin role, so this area adds no blueprint of its own."""

from __future__ import annotations

from flask import Blueprint

from views.feeds import imports, partners

BLUEPRINTS: tuple[Blueprint, ...] = ()
# Imported for their routes on admin_pages (views/__init__ registers it).
PAGES = (partners, imports)
