"""Staff pages for returns: a live queue per team (/staff/queues/<team>) and the whole return
(/staff/returns/<id>): photos, eligibility checks, inspection, outcome, audit trail, actions.

Queues refresh themselves every 5 s. An action answers an htmx request with its row as it
now is (or, on the detail page, the live region) and `HX-Trigger: queue-changed`, which
refreshes the queue counts in the nav.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, make_response, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.current import db_session
from app.db import utcnow
from app.errors import Forbidden, NotFound, ValidationError
from app.models.returns import ReturnRequest
from app.models.users import Role, User
from app.services.read_cache import returns_reads
from app.services.returns import (
    MAX_PHOTOS,
    REASONS,
    TEAMS,
    Action,
    Available,
    QueueFilters,
    QueueItem,
    ReturnDetails,
    check_eligibility,
    describe_returns,
    get_return,
    list_queue,
    queue_counts,
    team_states,
)
from app.services.users import Person, people_by_id
from views.access import signed_in_user, staff_required
from views.page_cache import FragmentCache, render_shared, with_csrf
from views.pages import when
from views.parsing import ID, query_page, whole_number
from views.rendering import is_partial, safe_local, with_trigger
from views.returns.parts import (
    act_from_form,
    after_action,
    detail_context,
    duration,
    show_return,
)

log = logging.getLogger(__name__)
bp = Blueprint("staff_returns", __name__, url_prefix="/staff")
AGES = (1, 4, 24, 48, 168)  # "waiting longer than" choices, in hours
FILTERS = ("q", "state", "reason", "age")


@dataclass(frozen=True)
class Row:
    """Everything one queue row shows, and nothing else. The row's HTML is a pure function
    of this value, so rendered rows are memoized by it: staff polling the same queue share
    them, and a row renders again only when the return moves or its clock text changes."""

    id: int
    number: str
    version: int
    paid_cents: int
    order_number: str
    customer: Person
    state: str
    state_label: str
    state_tone: str
    disposition: str | None
    amount_cents: int | None
    reason: str
    refund_status: str | None
    waiting: str  # how long in this state, as people say it
    entered: str  # when it entered this state
    sla: str  # none | overdue | soon | later
    sla_in: str  # how long until (or since) the SLA is due
    sla_due: str  # when the SLA is due
    triggers: tuple[Available, ...]
    team: str
    next_url: str

    @property
    def breached(self) -> bool:
        return self.sla == "overdue"


SOON_SECONDS = 7200  # "due soon" within two hours
_ROW_HTML = FragmentCache(size=4096)


def _row(item: QueueItem, details: ReturnDetails, now: datetime, team: str, next_url: str) -> Row:
    record = item.record
    due_in = _due_in(record, now)
    if due_in is None:
        sla = "none"
    elif item.breached:
        sla = "overdue"
    else:
        sla = "soon" if due_in < SOON_SECONDS else "later"
    return Row(
        id=record.id,
        number=record.number,
        version=record.version,
        paid_cents=record.paid_cents,
        order_number=item.order_number,
        customer=item.person,
        state=record.state,
        state_label=details.state_label,
        state_tone=details.state.tone,
        disposition=record.disposition,
        amount_cents=record.amount_cents,
        reason=record.reason,
        refund_status=record.refund_status,
        waiting=duration(item.age_seconds),
        entered=when(record.state_entered_at),
        sla=sla,
        sla_in=duration(due_in) if due_in is not None else "",
        sla_due=when(record.sla_due_at) if record.sla_due_at else "",
        triggers=tuple(details.triggers),
        team=team,
        next_url=next_url,
    )


def row_html(row: Row) -> Markup:
    return _ROW_HTML.render(row, lambda: render_template("returns/staff/_row.html", row=row))


@bp.app_context_processor
def _queue_globals() -> dict[str, Any]:
    def queue_totals() -> dict[str, int] | None:
        """How many returns wait on each team, for staff only (the nav and staff home)."""
        if not (current_user.is_authenticated and current_user.is_staff):
            return None
        try:
            return _team_counts(db_session())
        except SQLAlchemyError:
            # Error pages render the nav too; a broken database must not break them as well.
            log.warning("queue counts unavailable for the nav", exc_info=True)
            return None

    def nav_queues() -> dict[str, Any] | None:
        """The nav's queue link: the member's team queue and its count (admins: all)."""
        counts = queue_totals()
        if counts is None:
            return None
        if current_user.role == Role.ADMIN:
            return {"team": TEAMS[0], "label": "Queues", "count": sum(counts.values())}
        team = next(t for t in TEAMS if current_user.has_role(t))
        return {"team": team, "label": f"{team.capitalize()} queue", "count": counts[team]}

    return {"nav_queues": nav_queues, "queue_totals": queue_totals}


def _team_counts(session: Session) -> dict[str, int]:
    """`queue_counts`, read once per request however many parts of the page show it."""
    counts: dict[str, int] | None = g.get("team_counts")
    if counts is None:
        counts = g.team_counts = queue_counts(session)
    return counts


def _rows(
    session: Session,
    viewer: User,
    items: list[QueueItem],
    now: datetime,
    *,
    team: str,
    next_url: str,
) -> list[Row]:
    """The rows; `next_url` is where a form posted without JavaScript comes back to."""
    records = [item.record for item in items]
    details = describe_returns(session, viewer, records, with_history=False)
    return [
        _row(item, detail, now, team, next_url) for item, detail in zip(items, details, strict=True)
    ]


def _due_in(record: ReturnRequest, now: datetime) -> int | None:
    return int((record.sla_due_at - now).total_seconds()) if record.sla_due_at else None


def _may_work(viewer: User, team: str) -> None:
    if team not in TEAMS:
        raise NotFound("there is no such queue")
    if not viewer.has_role(team):
        raise Forbidden(f"the {team} queue belongs to the {team} team")


def _filters(session: Session, team: str) -> tuple[QueueFilters, dict[str, str], list]:
    """The queue filters from the query string; 422 for values no form offers."""
    args = {name: request.args.get(name, "").strip()[:100] for name in FILTERS}
    states = team_states(session, team)
    problems = {}
    if args["state"] and args["state"] not in dict(states):
        problems["state"] = f"is not a state the {team} team works on"
    if args["reason"] and args["reason"] not in REASONS:
        problems["reason"] = f"must be one of {', '.join(REASONS)}"
    if args["age"] and not 0 < (whole_number(args["age"]) or 0) <= 24 * 365:
        problems["age"] = "must be a number of hours"
    if problems:
        raise ValidationError(problems)
    filters = QueueFilters(
        state=args["state"],
        reason=args["reason"],
        older_than_hours=int(args["age"]) if args["age"] else None,
        search=args["q"],
    )
    return filters, args, states


@bp.get("/queues/nav")
@staff_required
def nav_link() -> Response:
    return make_response(render_template("returns/staff/_nav_link.html"))


@bp.get("/queues/<team>")
@staff_required
def queue(team: str) -> Response:
    """The queue page, or (for htmx, polled every 5 s) its region with the tab counts.

    The region is the same for every member of a role looking at the same page of the
    queue, so it is rendered for all of them at most once a second, and at once after this
    process moved a return (`returns_reads`); only the form token differs per visitor."""
    viewer = signed_in_user()
    _may_work(viewer, team)
    session = db_session()
    filters, args, states = _filters(session, team)
    page, per_page = query_page()
    query: dict[str, Any] = {k: v for k, v in args.items() if v}
    if "per_page" in request.args:
        query["per_page"] = str(per_page)
    poll_url = url_for("staff_returns.queue", team=team, page=page, **query)
    partial = is_partial()
    teams = [t for t in TEAMS if viewer.has_role(t)]

    def render_region() -> str:
        now = utcnow()
        counts = _team_counts(session)
        result = list_queue(
            session, team, filters=filters, now=now, page=page, per_page=per_page,
            with_lines=False, total=counts[team],
        )  # fmt: skip
        rows = _rows(session, viewer, result.items, now, team=team, next_url=poll_url)
        return render_shared(
            lambda: render_template(
                "returns/staff/_queue.html",
                team=team,
                teams=teams,
                counts=counts,
                rows=rows,
                row_html=row_html,
                result=result,
                query=query,
                poll_url=poll_url,
                now=now,
                oob=partial,
            )
        )

    key = ("queue-region", viewer.role, poll_url, partial)
    region = with_csrf(returns_reads.get(session, key, render_region))
    if partial:
        return make_response(region)
    return make_response(
        render_template(
            "returns/staff/queue.html",
            region=region,
            team=team,
            teams=teams,
            counts=_team_counts(session),
            args=args,
            states=states,
            reasons=REASONS,
            ages=AGES,
        )
    )


def _detail(
    session: Session, viewer: User, record: ReturnRequest, details: ReturnDetails | None = None
) -> dict[str, Any]:
    now = utcnow()
    return {
        **detail_context(session, viewer, record, details),
        "customer": people_by_id(session, [record.customer_id]).get(record.customer_id),
        "eligibility": check_eligibility(
            session, customer_id=record.customer_id, order_id=record.order_id, now=record.created_at
        ),
        "due_in": _due_in(record, now),
        "max_photos": MAX_PHOTOS,
        "teams": TEAMS,
    }


@bp.get(f"/returns/<{ID}:return_id>")
@staff_required
def show(return_id: int) -> Response:
    """The page, or (polled every 5 s) its live region; 204 while nothing changed."""
    viewer = signed_in_user()
    session = db_session()
    record = get_return(session, viewer, return_id)
    return show_return(
        record, "returns/staff", lambda details: _detail(session, viewer, record, details)
    )


def _row_response(action: Action, team: str) -> Response:
    """The row as the queue now shows it, or a note that the return left this queue."""
    now = utcnow()
    details = action.details
    next_url = url_for("staff_returns.queue", team=team)
    context = {
        "team": team,
        "now": now,
        "record": details.record,
        "label": details.state_label,
        "tone": details.state.tone,
        "next_url": next_url,
    }
    if action.row is not None:
        html = str(row_html(_row(action.row, details, now, team, next_url)))
    else:
        html = render_template("returns/staff/_row_moved.html", **context)
    return make_response(html + render_template("returns/staff/_notice.html", **context))


@bp.post(f"/returns/<{ID}:return_id>/transitions")
@staff_required
def fire(return_id: int) -> Response:
    """A row's action answers htmx with the row as it now is; the page's, its live region."""
    viewer = signed_in_user()
    session = db_session()
    team = request.form.get("team", "")
    queue = team if team in TEAMS and is_partial() else None
    action = act_from_form(
        session, viewer, return_id, queue=queue, with_history=is_partial() and queue is None
    )
    if queue is not None:
        return with_trigger(_row_response(action, queue), "queue-changed")
    record = action.details.record
    return after_action(
        action,
        "returns/staff",
        lambda details: _detail(session, viewer, record, details),
        event="queue-changed",
        done=f"{record.number} is now: {action.details.state_label}.",
        back=safe_local(
            request.form.get("next"), url_for("staff_returns.show", return_id=record.id)
        ),
    )
