"""Workflows on the web (admins): the read-only pages of each workflow, its versions and
their diagrams (pages), and moving returns in flight to the published version (migration).
They hang on the shared `admin_pages` blueprint (views/access.py), which checks the admin
role, so this area adds no blueprint of its own."""

from __future__ import annotations

from flask import Blueprint

from views.workflows import editor, migration, pages

BLUEPRINTS: tuple[Blueprint, ...] = ()
# Imported for their routes on admin_pages (views/__init__ registers it).
PAGES = (pages, migration, editor)
