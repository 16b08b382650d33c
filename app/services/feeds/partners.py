"""Partners and their API keys: onboarding, settings, keys shown once and kept hashed."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db import NUL, NUL_MESSAGE, is_row_id, transaction
from app.errors import Conflict, NotFound, ValidationError
from app.feeds import FORMATS, FeedError, normalize_mapping
from app.models.feeds import Partner, PartnerKey
from app.models.users import User

KEY_PREFIX = "bk_"
# A key's last use is written at most this often: a partner polling its import every
# second must not turn every read into a write.
LAST_USED_EVERY = timedelta(minutes=1)
# The numbers a partner's settings may take, (lowest, highest): the pages' forms name them.
LIMITS = {
    "poll_minutes": (1, 7 * 24 * 60),
    "price_guard_percent": (1, 100),
    "drop_guard_percent": (1, 100),
    "stale_after_minutes": (5, 30 * 24 * 60),
}


@dataclass(frozen=True)
class PartnerInput:
    """Partner settings as given; None means "not given" (an update keeps the old value)."""

    name: str | None = None
    format: str | None = None
    feed_url: str | None = None
    poll_minutes: int | None = None
    mapping: Mapping[str, str] | None = None
    price_guard_percent: int | None = None
    drop_guard_percent: int | None = None
    stale_after_minutes: int | None = None


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` exists only here, once; the database keeps its hash."""

    key: PartnerKey
    secret: str


def check_partner_input(data: PartnerInput, *, creating: bool) -> None:
    """Raise ValidationError naming each bad field (CONTRACT §3.1's `details.fields`)."""
    problems: dict[str, str] = {}
    if creating and data.name is None:
        problems["name"] = "is required"
    if data.name is not None and not 0 < len(data.name.strip()) <= 120:
        problems["name"] = "must have 1-120 characters"
    if data.format is not None and data.format not in FORMATS:
        problems["format"] = f"must be one of: {', '.join(FORMATS)}"
    if data.feed_url:
        parts = urlsplit(data.feed_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(data.feed_url) > 2000:
            problems["feed_url"] = "must be an http:// or https:// URL of at most 2000 characters"
    for name, bounds in LIMITS.items():
        _check_range(problems, name, getattr(data, name), bounds)
    if data.mapping is not None:
        try:
            normalize_mapping(data.mapping)
        except FeedError as error:
            problems["mapping"] = str(error)
    for name in ("name", "feed_url"):
        value = getattr(data, name)
        if value is not None and NUL in value:
            problems[name] = NUL_MESSAGE
    if problems:
        raise ValidationError(problems)


def _check_range(
    problems: dict[str, str], name: str, value: int | None, bounds: tuple[int, int]
) -> None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        problems[name] = f"must be an integer from {bounds[0]} to {bounds[1]}"


def create_partner(
    session: Session, data: PartnerInput, *, actor: User, now: datetime
) -> IssuedKey:
    """Onboard a partner and issue its first API key, in one transaction.

    Raises ValidationError for bad fields and Conflict (`name_taken`) for a name in use."""
    check_partner_input(data, creating=True)
    assert data.name is not None
    with transaction(session):
        _refuse_taken_name(session, data.name.strip(), partner_id=None)
        partner = Partner(name=data.name.strip(), created_by=actor.id, created_at=now)
        _apply(partner, data, now=now)
        session.add(partner)
        session.flush()
        return _new_key(session, partner, actor=actor, now=now)


def update_partner(
    session: Session, partner_id: int, data: PartnerInput, *, now: datetime
) -> Partner:
    """Change a partner's settings (only the fields given). Raises NotFound,
    ValidationError, Conflict (`name_taken`)."""
    check_partner_input(data, creating=False)
    with transaction(session):
        partner = get_partner(session, partner_id)
        if data.name is not None:
            _refuse_taken_name(session, data.name.strip(), partner_id=partner.id)
            partner.name = data.name.strip()
        _apply(partner, data, now=now)
    return partner


def _apply(partner: Partner, data: PartnerInput, *, now: datetime) -> None:
    for name in ("format", "price_guard_percent", "drop_guard_percent", "stale_after_minutes"):
        value = getattr(data, name)
        if value is not None:
            setattr(partner, name, value)
    if data.mapping is not None:
        partner.mapping = json.dumps(dict(data.mapping)) if data.mapping else None
    if data.feed_url is not None or data.poll_minutes is not None:
        if data.feed_url is not None:
            partner.feed_url = data.feed_url or None
            partner.poll_etag = partner.poll_last_modified = None  # a new URL is a new feed
        if data.poll_minutes is not None:
            partner.poll_minutes = data.poll_minutes
        if partner.feed_url and not partner.poll_minutes:
            partner.poll_minutes = 60
        partner.next_poll_at = now if partner.feed_url else None


def _refuse_taken_name(session: Session, name: str, *, partner_id: int | None) -> None:
    query = select(Partner.id).where(func.lower(Partner.name) == name.lower())
    if partner_id is not None:
        query = query.where(Partner.id != partner_id)
    if session.scalar(query) is not None:
        raise Conflict("a partner has this name already", code="name_taken")


def get_partner(session: Session, partner_id: int) -> Partner:
    """The partner, or NotFound."""
    partner = session.get(Partner, partner_id) if is_row_id(partner_id) else None
    if partner is None:
        raise NotFound("no such partner")
    return partner


def list_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(func.lower(Partner.name))))


def partner_mapping(partner: Partner) -> dict[str, str] | None:
    loaded = json.loads(partner.mapping) if partner.mapping else None
    return loaded if isinstance(loaded, dict) and loaded else None


def list_keys(session: Session, partner_id: int) -> list[PartnerKey]:
    query = select(PartnerKey).where(PartnerKey.partner_id == partner_id)
    return list(session.scalars(query.order_by(PartnerKey.id.desc())))


def issue_key(session: Session, partner_id: int, *, actor: User, now: datetime) -> IssuedKey:
    """A new API key for the partner (its other keys keep working until revoked, so the
    partner can switch without a gap). Raises NotFound."""
    with transaction(session):
        return _new_key(session, get_partner(session, partner_id), actor=actor, now=now)


def revoke_key(session: Session, partner_id: int, key_id: int, *, now: datetime) -> PartnerKey:
    """Stop a key from working, at once. Revoking twice keeps the first time. Raises NotFound."""
    with transaction(session):
        key = session.get(PartnerKey, key_id) if is_row_id(key_id) else None
        if key is None or key.partner_id != partner_id:
            raise NotFound("no such key")
        key.revoked_at = key.revoked_at or now
    return key


def _new_key(session: Session, partner: Partner, *, actor: User, now: datetime) -> IssuedKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = PartnerKey(
        partner_id=partner.id,
        key_hash=hash_key(secret),
        prefix=secret[:10],
        created_at=now,
        created_by=actor.id,
    )
    session.add(key)
    session.flush()
    return IssuedKey(key, secret)


def hash_key(secret: str) -> str:
    # 32 random bytes need no slow hash: nobody can guess one to check against it.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def partner_for_key(
    session: Session, secret: str, *, now: datetime
) -> tuple[Partner, PartnerKey] | None:
    """The active partner and live key `secret` names, or None (unknown or revoked)."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    row = session.execute(
        select(Partner, PartnerKey)
        .join(PartnerKey, PartnerKey.partner_id == Partner.id)
        .where(PartnerKey.key_hash == hash_key(secret), PartnerKey.revoked_at.is_(None))
        .where(Partner.active.is_(True))
    ).first()
    if row is None:
        return None
    partner, key = row
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_EVERY:
        with transaction(session):
            session.execute(
                update(PartnerKey).where(PartnerKey.id == key.id).values(last_used_at=now)
            )
    return partner, key
