"""Workflows on the web (admins): the read-only pages of each workflow, its versions and
their diagrams (pages). They hang on the shared `admin_pages` blueprint (views/access.py),
which checks the admin role, so this area adds no blueprint of its own."""

from __future__ import annotations

from flask import Blueprint

from views.workflows import editor, pages

BLUEPRINTS: tuple[Blueprint, ...] = ()
# Imported for their routes on admin_pages (views/__init__ registers it).
PAGES = (pages, editor)
