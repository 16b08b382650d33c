"""Partner feeds (CONTRACT §3.6): partners and keys (admin), uploads and reports (partner
by `X-API-Key`, or admin), the change guard's approvals, the rejected rows as CSV."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, request, stream_with_context

from app.current import current_config, db_session
from app.db import utcnow
from app.errors import NotFound, Unauthorized, ValidationError
from app.extensions import rate_limit, rate_limit_key
from app.models.feeds import FeedImport, Partner, PartnerKey
from app.models.users import Role, User
from app.services.feeds import (
    IssuedKey,
    PartnerInput,
    create_partner,
    decide_import,
    feed_freshness,
    get_import,
    get_partner,
    import_dry_run,
    import_errors,
    issue_key,
    list_changes,
    list_imports,
    list_keys,
    list_partners,
    partner_for_key,
    receive_feed,
    rejected_rows_csv,
    revoke_key,
    update_partner,
)
from app.services.pagination import Page
from views.api import actor, bp
from views.api.schemas import PartnerFields
from views.api.serializers import page_json
from views.hooks import accepts, body_limit
from views.parsing import ID, json_body, query_page, validate, whole_number
from views.uploads import FEED_TYPES, feed_upload

MAX_ERRORS = 1000  # in a report; the CSV download has every rejected row


@dataclass(frozen=True)
class Caller:
    """Who calls a feed endpoint: a partner by its key, or an admin."""

    partner: Partner | None
    key: PartnerKey | None
    user: User | None


def feed_caller() -> Caller:
    """The partner named by `X-API-Key` (401 when unknown or revoked), else an admin."""
    secret = request.headers.get("X-API-Key")
    if secret is not None:
        found = partner_for_key(db_session(), secret.strip(), now=utcnow())
        if found is None:
            raise Unauthorized("the API key is unknown or revoked")
        return Caller(found[0], found[1], None)
    return Caller(None, None, actor(Role.ADMIN))


def _visible_import(caller: Caller, import_id: int) -> FeedImport:
    record = get_import(db_session(), import_id)
    if caller.partner is not None and record.partner_id != caller.partner.id:
        raise NotFound("no such feed import")
    return record


def _per_key() -> str:
    secret = request.headers.get("X-API-Key")
    if secret:
        return "feed-key:" + hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()[:24]
    return rate_limit_key()


# -- partners and keys (admin) -------------------------------------------------------------


def partner_input(body: PartnerFields) -> PartnerInput:
    return PartnerInput(
        name=body.name or None,
        format=body.format or None,
        feed_url=body.feed_url,
        poll_minutes=body.poll_minutes,
        mapping=body.mapping,
        price_guard_percent=body.price_guard_percent,
        drop_guard_percent=body.drop_guard_percent,
        stale_after_minutes=body.stale_after_minutes,
    )


@bp.post("/partners")
def partner_create() -> Any:
    admin = actor(Role.ADMIN)
    body = validate(PartnerFields, json_body())
    issued = create_partner(db_session(), partner_input(body), actor=admin, now=utcnow())
    partner = get_partner(db_session(), issued.key.partner_id)
    return jsonify({**partner_json(partner), **key_json(issued)}), 201


@bp.get("/partners")
def partners_index() -> Any:
    actor(Role.ADMIN)
    page, per_page = query_page()
    partners = list_partners(db_session())
    shown = partners[(page - 1) * per_page : page * per_page]
    return jsonify(page_json(Page(shown, len(partners), page, per_page), partner_json))


@bp.get(f"/partners/<{ID}:partner_id>")
def partner_show(partner_id: int) -> Any:
    actor(Role.ADMIN)
    session = db_session()
    partner = get_partner(session, partner_id)
    keys = [key_json(key) for key in list_keys(session, partner.id)]
    return jsonify({**partner_json(partner), "keys": keys})


@bp.patch(f"/partners/<{ID}:partner_id>")
def partner_update(partner_id: int) -> Any:
    actor(Role.ADMIN)
    body = validate(PartnerFields, json_body())
    partner = update_partner(db_session(), partner_id, partner_input(body), now=utcnow())
    return jsonify(partner_json(partner))


@bp.post(f"/partners/<{ID}:partner_id>/keys")
def partner_key_create(partner_id: int) -> Any:
    admin = actor(Role.ADMIN)
    issued = issue_key(db_session(), partner_id, actor=admin, now=utcnow())
    return jsonify(key_json(issued)), 201


@bp.post(f"/partners/<{ID}:partner_id>/keys/<{ID}:key_id>/revoke")
def partner_key_revoke(partner_id: int, key_id: int) -> Any:
    actor(Role.ADMIN)
    return jsonify(key_json(revoke_key(db_session(), partner_id, key_id, now=utcnow())))


# -- uploads and reports -------------------------------------------------------------------


@bp.post("/feeds")
@accepts(*FEED_TYPES, "multipart/form-data")
@body_limit(lambda: current_config().feed_max_mb * 1024 * 1024)
@rate_limit(lambda: current_config().feed_rate_limit, scope="feeds", key_func=_per_key)
def feed_create() -> Any:
    caller = feed_caller()
    partner_id = caller.partner.id if caller.partner is not None else _partner_id_arg()
    upload = feed_upload()
    config = current_config()
    record = receive_feed(
        db_session(),
        partner_id,
        upload.chunks,
        upload_dir=config.upload_dir,
        max_bytes=config.feed_max_mb * 1024 * 1024,
        now=utcnow(),
        format=request.args.get("format") or None,
        content_type=upload.content_type,
        original_name=upload.file_name,
        dry_run=query_flag("dry_run"),
        complete=query_flag("complete"),
        requested_by=caller.user,
        key_id=caller.key.id if caller.key else None,
    )
    return jsonify(id=record.id, status=record.status), 202


def _partner_id_arg() -> int:
    raw = request.args.get("partner_id", "")
    partner_id = whole_number(raw)
    if partner_id is None:
        raise ValidationError({"partner_id": "an admin names the partner: ?partner_id=<id>"})
    return partner_id


def query_flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


@bp.get("/feeds")
def feeds_index() -> Any:
    caller = feed_caller()
    page, per_page = query_page()
    partner_id = caller.partner.id if caller.partner is not None else None
    if partner_id is None and request.args.get("partner_id"):
        partner_id = _partner_id_arg()
    found = list_imports(db_session(), partner_id=partner_id, page=page, per_page=per_page)
    return jsonify(page_json(found, import_summary))


@bp.get(f"/feeds/<{ID}:import_id>")
def feed_show(import_id: int) -> Any:
    record = _visible_import(feed_caller(), import_id)
    return jsonify(import_json(record))


@bp.get(f"/feeds/<{ID}:import_id>/changes")
def feed_changes(import_id: int) -> Any:
    record = _visible_import(feed_caller(), import_id)
    page, per_page = query_page()
    found = list_changes(db_session(), record.id, page=page, per_page=per_page)
    return jsonify(page_json(found, lambda change: change))


@bp.get(f"/feeds/<{ID}:import_id>/rejected.csv")
def feed_rejected_csv(import_id: int) -> Any:
    record = _visible_import(feed_caller(), import_id)
    return rejected_csv_response(record)


def rejected_csv_response(record: FeedImport) -> Response:
    """The rejected rows as a CSV download, streamed."""
    session = db_session()
    body = stream_with_context(rejected_rows_csv(session, record.id))
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="feed-{record.id}-rejected-rows.csv"'
    )
    return response


@bp.post(f"/feeds/<{ID}:import_id>/approve")
def feed_approve(import_id: int) -> Any:
    return _decide(import_id, approve=True)


@bp.post(f"/feeds/<{ID}:import_id>/reject")
def feed_reject(import_id: int) -> Any:
    return _decide(import_id, approve=False)


def _decide(import_id: int, *, approve: bool) -> Any:
    """An admin's answer to an import the change guard holds; the report after it."""
    admin = actor(Role.ADMIN)
    upload_dir = current_config().upload_dir
    session = db_session()
    decide_import(
        session, import_id, approve=approve, actor=admin, now=utcnow(), upload_dir=upload_dir
    )
    return jsonify(import_json(get_import(session, import_id)))


@bp.post(f"/feeds/<{ID}:import_id>/import")
@rate_limit(lambda: current_config().feed_rate_limit, scope="feeds", key_func=_per_key)
def feed_import_dry_run(import_id: int) -> Any:
    """The real import of a finished dry run (its partner or an admin)."""
    caller = feed_caller()
    record = _visible_import(caller, import_id)
    queued = import_dry_run(
        db_session(),
        record.id,
        actor=caller.user,
        upload_dir=current_config().upload_dir,
        now=utcnow(),
    )
    return jsonify(id=queued.id, status=queued.status), 202


# -- JSON shapes ---------------------------------------------------------------------------


def _moment(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def partner_json(partner: Partner) -> dict[str, Any]:
    fresh = feed_freshness(partner, now=utcnow())
    return {
        "id": partner.id,
        "name": partner.name,
        "format": partner.format,
        "feed_url": partner.feed_url,
        "poll_minutes": partner.poll_minutes,
        "price_guard_percent": partner.price_guard_percent,
        "drop_guard_percent": partner.drop_guard_percent,
        "stale_after_minutes": partner.stale_after_minutes,
        "last_success_at": _moment(partner.last_success_at),
        "last_polled_at": _moment(partner.last_polled_at),
        "last_poll_error": partner.last_poll_error,
        "stale": fresh.stale,
        "stale_reason": fresh.reason,
    }


def key_json(key: IssuedKey | PartnerKey) -> dict[str, Any]:
    """A key's public face; an IssuedKey adds `api_key`, the secret, this once."""
    stored = key.key if isinstance(key, IssuedKey) else key
    shown = {
        "key_id": stored.id,
        "key_prefix": stored.prefix,
        "created_at": _moment(stored.created_at),
        "revoked_at": _moment(stored.revoked_at),
        "last_used_at": _moment(stored.last_used_at),
    }
    if isinstance(key, IssuedKey):
        shown["api_key"] = key.secret
    return shown


def import_summary(record: FeedImport) -> dict[str, Any]:
    return {
        "id": record.id,
        "partner_id": record.partner_id,
        "status": record.status,
        "dry_run": record.dry_run,
        "complete": record.complete,
        "source": record.source,
        "format": record.format,
        "approval": record.approval,
        "rows_total": record.rows_total,
        "created": record.created,
        "updated": record.updated,
        "unchanged": record.unchanged,
        "rejected": record.rejected,
        "dropped": record.dropped,
        "error": record.error,
        "created_at": _moment(record.created_at),
        "started_at": _moment(record.started_at),
        "finished_at": _moment(record.finished_at),
    }


def import_json(record: FeedImport) -> dict[str, Any]:
    """CONTRACT §3.6's report, with every rejected row's problems (the first MAX_ERRORS)."""
    errors, total = import_errors(db_session(), record.id, limit=MAX_ERRORS)
    return {
        **import_summary(record),
        "errors": [
            {"row": e.row, "sku": e.sku, "field": e.field, "message": e.message} for e in errors
        ],
        "errors_total": total,
    }
