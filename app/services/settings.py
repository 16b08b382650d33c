"""Admin settings read at run time, with their defaults."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.db import transaction
from app.errors import ValidationError
from app.models.settings import Setting

DEFAULTS = {"return_window_days": "30"}


def get_setting_int(session: Session, key: str) -> int:
    row = session.get(Setting, key)
    return int(row.value if row is not None else DEFAULTS[key])


def set_return_window_days(session: Session, days: int) -> None:
    """Change how many days after an order a return may be requested (1-365)."""
    if not 1 <= days <= 365:
        raise ValidationError({"return_window_days": "must be from 1 to 365 days"})
    with transaction(session):
        row = session.get(Setting, "return_window_days")
        if row is None:
            session.add(Setting(key="return_window_days", value=str(days)))
        else:
            row.value = str(days)
