"""GET /monitoring/logs: the newest stored log lines of every process, filtered by level (at
or above), text and request id, a page at a time (the table alone for htmx); every request
id links to all the lines it caused, the later job lines of its outbox messages included.
/monitoring/logs.csv and /monitoring/logs.jsonl stream the filtered lines.

Admins only: log lines name customers' ids, paths and failures across every area, which no
single staff team needs, and an admin can hand over an export.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, request, stream_with_context

from app.current import current_config, db_session
from app.services.monitoring import (
    LEVELS,
    LogFilter,
    list_log_events,
    log_events_csv,
    log_events_jsonl,
)
from views.access import admin_required
from views.parsing import query_page
from views.rendering import page_or_partial

bp = Blueprint("logs", __name__, url_prefix="/monitoring")
PER_PAGE = 50
SHOWN_LEVELS = LEVELS[1:]  # the store keeps INFO and up


@bp.before_request
@admin_required
def _only_admins() -> None:
    """Every page here needs the admin role (login redirect or 403 otherwise)."""


def _filters() -> LogFilter:
    level = request.args.get("level", "")
    return LogFilter(
        level=level if level in SHOWN_LEVELS else "",
        text=request.args.get("q", "").strip()[:200],
        request_id=request.args.get("request_id", "").strip()[:128],
    )


@bp.get("/logs")
def index() -> Response:
    filters = _filters()
    page, per_page = query_page()
    if "per_page" not in request.args:
        per_page = PER_PAGE
    result = list_log_events(db_session(), filters, page=page, per_page=per_page)
    config = current_config()
    return page_or_partial(
        "monitoring/logs.html",
        "monitoring/_logs_table.html",
        result=result,
        filters=filters,
        levels=SHOWN_LEVELS,
        store_on=config.log_store,
        keep=config.log_store_keep,
    )


@bp.get("/logs.csv")
def export_csv() -> Response:
    """The filtered lines as a CSV download, streamed (every cell safe in a spreadsheet)."""
    return _download(log_events_csv(db_session(), _filters()), "text/csv", "csv")


@bp.get("/logs.jsonl")
def export_jsonl() -> Response:
    """The filtered lines as JSON lines, streamed."""
    return _download(log_events_jsonl(db_session(), _filters()), "application/x-ndjson", "jsonl")


def _download(body: Iterator[str], mimetype: str, extension: str) -> Response:
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="backroom-logs.{extension}"'
    response.headers["Cache-Control"] = "no-store"
    return response
