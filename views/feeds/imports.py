"""A partner's imports on the web: an upload from the partner's page (multipart, as large
as FEED_MAX_MB), one import's report (counts, the change guard's question, the field-level
diff and the rejected rows, refreshed by htmx every 2 s while the worker has it), the
admin's answer to the guard, the real import of a dry run, and the rejected rows as CSV."""

from __future__ import annotations

from flask import Response, flash, request, stream_with_context, url_for

from app.current import current_config, db_session
from app.db import utcnow
from app.errors import NotFound, ValidationError
from app.models.feeds import FeedImport, Partner
from app.services.feeds import (
    decide_import,
    get_import,
    get_partner,
    guard_reason,
    import_dry_run,
    list_changes,
    list_rejections,
    receive_feed,
    rejected_rows_csv,
)
from views.access import admin_pages as bp
from views.access import signed_in_user
from views.feeds.partners import page_arg, render_partner
from views.hooks import body_limit
from views.parsing import ID
from views.rendering import page_or_partial, redirect_to
from views.uploads import feed_upload

IMPORT = f"/partners/<{ID}:partner_id>/imports/<{ID}:import_id>"
PER_PAGE = 50
REFRESH_SECONDS = 2


def _import_of(partner_id: int, import_id: int) -> tuple[Partner, FeedImport]:
    """The partner and its import; 404 when the import is another partner's."""
    session = db_session()
    partner = get_partner(session, partner_id)
    record = get_import(session, import_id)
    if record.partner_id != partner.id:
        raise NotFound("no such feed import")
    return partner, record


def _to_import(partner_id: int, import_id: int) -> Response:
    return redirect_to(url_for("admin.partner_import", partner_id=partner_id, import_id=import_id))


def is_live(record: FeedImport) -> bool:
    """The worker has it, or will: the page keeps asking until it has finished."""
    waiting = record.status == "queued" and record.approval != "required"
    return waiting or record.status == "running"


@bp.post(f"/partners/<{ID}:partner_id>/imports")
@body_limit(lambda: current_config().feed_max_mb * 1024 * 1024)
def partner_import_create(partner_id: int) -> Response:
    session = db_session()
    partner = get_partner(session, partner_id)
    options = {
        "format": request.form.get("format") or None,
        "dry_run": request.form.get("dry_run") == "1",
        "complete": request.form.get("complete") == "1",
    }
    config = current_config()
    try:
        if request.mimetype != "multipart/form-data":  # else the form itself would be the feed
            raise ValidationError({"file": "choose the feed file to upload"})
        upload = feed_upload()
        record = receive_feed(
            session,
            partner.id,
            upload.chunks,
            upload_dir=config.upload_dir,
            max_bytes=config.feed_max_mb * 1024 * 1024,
            now=utcnow(),
            content_type=upload.content_type,
            original_name=upload.file_name,
            requested_by=signed_in_user(),
            **options,
        )
    except ValidationError as error:
        return render_partner(partner, upload=options, upload_errors=error.fields)
    kind = "dry run" if record.dry_run else "import"
    flash(f"The file is queued for its {kind}; this page follows it.", "success")
    return _to_import(partner.id, record.id)


@bp.get(IMPORT)
def partner_import(partner_id: int, import_id: int) -> Response:
    partner, record = _import_of(partner_id, import_id)
    session = db_session()
    changes = list_changes(session, record.id, page=page_arg("changes_page"), per_page=PER_PAGE)
    rejections = list_rejections(
        session, record.id, page=page_arg("errors_page"), per_page=PER_PAGE
    )
    reason = guard_reason(partner, record) if record.approval == "required" else None
    return page_or_partial(
        "feeds/import.html",
        "feeds/_import_report.html",
        partner=partner,
        record=record,
        changes=changes,
        rejections=rejections,
        reason=reason,
        live=is_live(record),
        refresh=REFRESH_SECONDS,
    )


@bp.post(f"{IMPORT}/approve")
def partner_import_approve(partner_id: int, import_id: int) -> Response:
    return _decide(partner_id, import_id, approve=True)


@bp.post(f"{IMPORT}/reject")
def partner_import_reject(partner_id: int, import_id: int) -> Response:
    return _decide(partner_id, import_id, approve=False)


def _decide(partner_id: int, import_id: int, *, approve: bool) -> Response:
    partner, record = _import_of(partner_id, import_id)
    decide_import(
        db_session(),
        record.id,
        approve=approve,
        actor=signed_in_user(),
        now=utcnow(),
        upload_dir=current_config().upload_dir,
    )
    if approve:
        flash("Approved: the worker applies the changes as shown.", "success")
    else:
        flash("Rejected: nothing of this file lands.", "success")
    return _to_import(partner.id, record.id)


@bp.post(f"{IMPORT}/import")
def partner_import_for_real(partner_id: int, import_id: int) -> Response:
    partner, record = _import_of(partner_id, import_id)
    queued = import_dry_run(
        db_session(),
        record.id,
        actor=signed_in_user(),
        upload_dir=current_config().upload_dir,
        now=utcnow(),
    )
    flash(f"The file of dry run #{record.id} is queued for its import.", "success")
    return _to_import(partner.id, queued.id)


@bp.get(f"{IMPORT}/rejected.csv")
def partner_import_rejected_csv(partner_id: int, import_id: int) -> Response:
    """The rejected rows as a CSV download, streamed (every cell safe in a spreadsheet)."""
    _, record = _import_of(partner_id, import_id)
    body = stream_with_context(rejected_rows_csv(db_session(), record.id))
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="feed-{record.id}-rejected-rows.csv"'
    )
    return response
