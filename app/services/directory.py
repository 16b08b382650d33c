"""Small read-only look-ups of people for pages that list other users' records."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.users import User


def usernames_by_id(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """Username per user id, for the ids that exist."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(ids)))
    return {row.id: row.username for row in rows}
