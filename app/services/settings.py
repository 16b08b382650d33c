"""Admin settings read at run time, with their defaults."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.models.settings import Setting

DEFAULTS = {"return_window_days": "30"}


def get_setting_int(session: Session, key: str) -> int:
    row = session.get(Setting, key)
    return int(row.value if row is not None else DEFAULTS[key])
