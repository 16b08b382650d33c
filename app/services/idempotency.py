"""`Idempotency-Key`: the first answer to a keyed request is kept and given again.

A key is claimed in its own small transaction before the work starts, so two concurrent
requests with one key cannot both do the work: the second is told the first is in flight.
Transient failures (5xx, 429) are not kept, so the client may retry with the same key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import NUL, transaction, utcnow
from app.errors import Conflict, ValidationError
from app.models.idempotency import IdempotencyRecord

MAX_KEY = 255
# A claim this old with no answer belongs to a request that died (no request runs this long).
ABANDONED_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str


def request_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def claim_key(
    session: Session, *, user_id: int, scope: str, key: str, payload: Any
) -> tuple[int | None, StoredResponse | None]:
    """Claim `key` for this request. Returns (record id, None) to go ahead, or
    (None, stored answer) for a repeat. Raises Conflict when the key is in flight or was
    used with a different body."""
    if not key or len(key) > MAX_KEY or NUL in key:
        raise ValidationError({"Idempotency-Key": f"must have 1-{MAX_KEY} characters, no NUL"})
    digest = request_hash(payload)
    record = IdempotencyRecord(user_id=user_id, scope=scope, key=key, request_hash=digest)
    try:
        with transaction(session):
            session.add(record)
        return record.id, None
    except IntegrityError:
        pass
    existing = session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id,
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
        )
    ).one()
    if existing.request_hash != digest:
        raise Conflict(
            "this Idempotency-Key was used with a different request", code="idempotency_key_reused"
        )
    if existing.status_code is None or existing.response_body is None:
        if existing.created_at < utcnow() - ABANDONED_AFTER and _take_over(session, existing.id):
            return existing.id, None
        raise Conflict(
            "a request with this Idempotency-Key is in progress", code="idempotency_in_progress"
        )
    return None, StoredResponse(existing.status_code, existing.response_body)


def _take_over(session: Session, record_id: int) -> bool:
    """Claim a key whose first request died mid-way (its process crashed); compare-and-set,
    so only one retry gets it."""
    with transaction(session):
        result = session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == record_id,
                IdempotencyRecord.status_code.is_(None),
                IdempotencyRecord.created_at < utcnow() - ABANDONED_AFTER,
            )
            .values(created_at=utcnow())
        )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def store_response(session: Session, record_id: int, *, status: int, body: str) -> None:
    """Keep the answer for repeats, or release the key when the failure was transient."""
    with transaction(session):
        if status >= 500 or status == 429:
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
        else:
            session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.id == record_id)
                .values(status_code=status, response_body=body)
            )
