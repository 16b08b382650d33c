"""GET /monitoring/returns: the returns analytics of a range of days (issue 13), and
/monitoring/returns.csv, the same figures as a download.

`from` and `to` are UTC days (YYYY-MM-DD), both included; without them the page shows the
last 30 days up to today. A malformed or impossible range shows the page with the problem
next to the filter (422), never a figure of a range nobody asked for.

Staff of every team and admins: the figures are aggregates (no customer is named), each
team answers for its SLA, and finance reads the refund totals.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, Response, render_template, request

from app.current import db_session
from app.db import utcnow
from app.errors import ValidationError
from app.services.monitoring import range_problems, returns_analytics, returns_analytics_csv
from views.access import staff_required

bp = Blueprint("monitoring_returns", __name__, url_prefix="/monitoring")
DEFAULT_DAYS = 30
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Far enough either way for any return, near enough that a day's arithmetic cannot overflow.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def _day(name: str, problems: dict[str, str]) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        if not DAY.fullmatch(raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        problems[name] = "must be a day written YYYY-MM-DD, such as 2026-03-31"
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        problems[name] = f"must be a day from {FIRST_DAY} to {LAST_DAY}"
        return None
    return day


def _range() -> tuple[dict[str, str], datetime, datetime, dict[str, str]]:
    """The form's values as typed, the half-open UTC range they mean, and what is wrong."""
    problems: dict[str, str] = {}
    first, last = _day("from", problems), _day("to", problems)
    today = utcnow().date()
    last = last or (today if "to" not in problems else None)
    if first is None and last is not None and "from" not in problems:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    start = end = datetime.combine(today, time(), UTC)
    if first is not None and last is not None:
        start = datetime.combine(first, time(), UTC)
        end = datetime.combine(last, time(), UTC) + timedelta(days=1)
        problems.update(range_problems(start, end))
    values = {
        "from": request.args.get("from", "")[:40] or (first.isoformat() if first else ""),
        "to": request.args.get("to", "")[:40] or (last.isoformat() if last else ""),
    }
    return values, start, end, problems


@bp.get("/returns")
@staff_required
def analytics() -> tuple[str, int]:
    values, start, end, problems = _range()
    result = None
    if not problems:
        result = returns_analytics(db_session(), start=start, end=end, now=utcnow())
    page = render_template(
        "monitoring/returns.html", result=result, values=values, problems=problems
    )
    return page, 422 if problems else 200


@bp.get("/returns.csv")
@staff_required
def export() -> Response:
    _, start, end, problems = _range()
    if problems:
        raise ValidationError(problems)
    result = returns_analytics(db_session(), start=start, end=end, now=utcnow())
    name = f"returns-{result.start.date().isoformat()}-to-{result.last_day.isoformat()}.csv"
    response = Response(returns_analytics_csv(result), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
