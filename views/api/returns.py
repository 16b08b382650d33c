"""Returns (CONTRACT §3.4): opening one, its photos, reading, transitions, team queues."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request, send_file, url_for

from app.current import current_config, db_session
from app.db import utcnow
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import rate_limit
from app.models.users import Role
from app.services.returns import (
    MAX_BYTES,
    TEAMS,
    LineRequest,
    QueueFilters,
    create_return,
    describe_return,
    describe_returns,
    fire_return_trigger,
    get_return,
    list_queue,
    list_returns,
    photo_file,
    save_return_photo,
)
from views.api import actor, bp, optional_actor
from views.api.returns_serializers import queue_item_json, return_json
from views.api.schemas import ReturnRequest, TransitionRequest
from views.hooks import accepts
from views.parsing import ID, json_body, query_page, validate, whole_number

MAX_HOURS = 24 * 366 * 10
NOT_FIELDS = ("trigger", "version")


def parse_transition(data: dict[str, Any]) -> tuple[str, int | None, dict[str, Any]]:
    """The trigger, the version the caller saw (optional), and every other key as fields."""
    body = validate(TransitionRequest, data)
    return body.trigger, body.version, {k: v for k, v in data.items() if k not in NOT_FIELDS}


def parse_queue_filters() -> QueueFilters:
    hours: int | None = None
    raw = request.args.get("older_than_hours", "").strip()
    if raw:
        hours = whole_number(raw, digits=6)
        if hours is None or not 0 <= hours <= MAX_HOURS:
            raise ValidationError({"older_than_hours": f"must be from 0 to {MAX_HOURS} hours"})
    return QueueFilters(
        state=request.args.get("state", "")[:40],
        reason=request.args.get("reason", "")[:40],
        older_than_hours=hours,
        search=request.args.get("q", "")[:100],
    )


@bp.post("/returns")
def return_create() -> Any:
    customer = actor(Role.CUSTOMER)
    body = validate(ReturnRequest, json_body())
    order_id, reason, description = body.order_id, body.reason, body.description
    lines = [LineRequest(line.order_line_id, line.quantity) for line in body.lines]
    session = db_session()
    record = create_return(
        session,
        customer=customer,
        order_id=order_id,
        reason=reason,
        description=description,
        lines=lines,
        now=utcnow(),
    )
    return jsonify(return_json(describe_return(session, customer, record))), 201


@bp.get("/returns")
def returns_index() -> Any:
    viewer = actor()
    page, per_page = query_page()
    session = db_session()
    state = request.args.get("state", "")[:40]
    result = list_returns(session, viewer, state=state, page=page, per_page=per_page)
    items = describe_returns(session, viewer, result.items)
    return jsonify(
        items=[return_json(details) for details in items],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
    )


@bp.get(f"/returns/<{ID}:return_id>")
def return_show(return_id: int) -> Any:
    viewer = actor()
    session = db_session()
    record = get_return(session, viewer, return_id)
    return jsonify(return_json(describe_return(session, viewer, record)))


@bp.post(f"/returns/<{ID}:return_id>/transitions")
def return_transition(return_id: int) -> Any:
    viewer = actor()
    trigger, version, fields = parse_transition(json_body())
    session = db_session()
    record = fire_return_trigger(
        session,
        return_id,
        trigger,
        actor=viewer,
        fields=fields,
        expected_version=version,
        now=utcnow(),
    )
    return jsonify(return_json(describe_return(session, viewer, record)))


@bp.post(f"/returns/<{ID}:return_id>/photos")
@accepts("multipart/form-data")
@rate_limit(lambda: current_config().photo_rate_limit, scope="photos")
def return_photo_create(return_id: int) -> Any:
    viewer = actor()
    upload = request.files.get("photo")
    if upload is None:
        raise ValidationError({"photo": "attach a JPEG, PNG or WebP image as 'photo'"})
    # Reading one byte past the limit is enough to refuse a larger file with 413.
    data = upload.read(MAX_BYTES + 1)
    photo = save_return_photo(
        db_session(), viewer, return_id, data, upload_dir=current_config().upload_dir
    )
    url = url_for("api.return_photo", return_id=return_id, photo_id=photo.id)
    return jsonify(id=photo.id, url=url), 201


@bp.get(f"/returns/<{ID}:return_id>/photos/<{ID}:photo_id>")
def return_photo(return_id: int, photo_id: int) -> Any:
    viewer = optional_actor()
    if viewer is None:  # anonymous callers learn nothing, not even that it exists
        raise NotFound("no such photo")
    path, content_type = photo_file(
        db_session(), viewer, return_id, photo_id, upload_dir=current_config().upload_dir
    )
    response = send_file(path, mimetype=content_type, max_age=3600)
    # Only the owner and staff may see it: browsers may keep it, shared caches may not.
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/queues/<team>")
def queue(team: str) -> Any:
    viewer = actor()
    if team not in TEAMS:
        raise NotFound("no such team")
    if not viewer.has_role(team):
        raise Forbidden(f"only {team} staff may see this queue")
    filters = parse_queue_filters()
    page, per_page = query_page()
    session = db_session()
    result = list_queue(session, team, filters=filters, now=utcnow(), page=page, per_page=per_page)
    described = describe_returns(session, viewer, [item.record for item in result.items])
    return jsonify(
        items=[queue_item_json(i, d) for i, d in zip(result.items, described, strict=True)],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
    )
