"""What the customer's and the staff's return pages share: the progress stepper, the stamp
that lets a poll answer "nothing changed", and doing the action a form posted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Response, flash, request
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from app.db import utcnow
from app.errors import ValidationError
from app.models.returns import ReturnRequest
from app.models.users import User
from app.services.orders import get_order
from app.services.returns import (
    Action,
    FieldSpec,
    ReturnDetails,
    act_on_return,
    describe_return,
    get_return,
    state_labels,
)
from views.pages import when
from views.parsing import form_cents, form_int
from views.rendering import (
    is_partial,
    page_or_partial,
    redirect_to,
    varies_with_htmx,
    with_trigger,
)

MAX_FIELD = 2000


@dataclass(frozen=True)
class Step:
    label: str
    status: str  # done, current, todo, stopped


def progress(details: ReturnDetails) -> list[Step]:
    """The stepper: the milestones of the return's own workflow version (its states'
    `step`s) done, the current one, those to come. A terminal state with a step completes
    them all; one without (rejected, cancelled) ends the bar where the return stopped."""
    state, milestones = details.state, list(details.milestones)
    if state.terminal and state.step is None:
        left = next((e.source for e in reversed(details.history) if e.dest == state.name), None)
        step = details.step_of.get(left or "")
        reached = milestones.index(step) if step in milestones else 0
        done = [Step(label, "done") for label in milestones[: max(1, reached)]]
        return [*done, Step(state.label, "stopped")]
    position = milestones.index(state.step) if state.step in milestones else None
    steps = []
    for i, label in enumerate(milestones):
        if position is None or i > position:
            status = "todo"
        elif i < position or state.terminal:
            status = "done"
        else:
            status = "current"
        steps.append(Step(label, status))
    return steps


def guidance(details: ReturnDetails, amount: str) -> Markup:
    """What the return's page tells its customer now: the state's `guidance` (for this
    return's disposition, where it depends on one), escaped, with `{amount}` and `{due}`
    (the state's SLA deadline, in bold) filled in; else the state's label."""
    record = details.record
    text = details.state.guidance_for({"disposition": record.disposition}) or (
        details.state_label + "."
    )
    if record.sla_due_at:
        due = Markup("<strong>%s</strong>") % when(record.sla_due_at)
    else:  # no clock in this state: "will answer by {due}" reads "will answer soon"
        text, due = text.replace(" by {due}", " soon"), Markup("soon")
    return escape(text).replace("{amount}", escape(amount)).replace("{due}", due)


def stamp(record: ReturnRequest) -> str:
    """Changes whenever what the live region shows can change: a transition, or the refund
    settling (the outbox job writes that without a transition)."""
    return f"{record.version}.{record.refund_status or '-'}"


def unchanged(record: ReturnRequest) -> Response | None:
    """For a poll that has already seen this stamp: 204, and htmx swaps nothing."""
    if is_partial() and request.args.get("seen") == stamp(record):
        response = varies_with_htmx(Response(status=204))
        response.headers["Cache-Control"] = "no-store"
        return response
    return None


def read_fields(specs: Sequence[FieldSpec]) -> dict[str, Any]:
    """The posted values of a trigger's declared fields (money typed as 12.99 becomes
    cents). Required fields are the engine's to check."""
    problems: dict[str, str] = {}
    fields: dict[str, Any] = {}
    for field in specs:
        if field.type == "money":
            cents = form_cents(field.name, problems, required=False)
            if cents is not None:
                fields[field.name] = cents
        else:
            fields[field.name] = (request.form.get(field.name) or "")[:MAX_FIELD]
    if problems:
        raise ValidationError(problems)
    return fields


# What a return page shows, given the return as an action just described it (or None).
Context = Callable[[ReturnDetails | None], dict[str, Any]]


def show_return(record: ReturnRequest, templates: str, context: Context) -> Response:
    """The return page, or (polled every 5 s) its live region; 204 while nothing changed."""
    quiet = unchanged(record)
    if quiet is not None:
        return quiet
    return page_or_partial(f"{templates}/show.html", f"{templates}/_live.html", **context(None))


def after_action(
    action: Action, templates: str, context: Context, *, event: str, done: str, back: str
) -> Response:
    """What a page's action answers: for htmx, the live region as it now is, with `event`
    for the rest of the page; otherwise a flash saying `done` and a redirect to `back`."""
    if is_partial():
        live = page_or_partial(
            f"{templates}/show.html", f"{templates}/_live.html", **context(action.details)
        )
        return with_trigger(live, event)
    flash(done, "success")
    return redirect_to(back)


def duration(seconds: int | float) -> str:
    """A span of time as people say it: '< 1 min', '12 min', '3 h 5 min', '2 d 4 h'."""
    seconds = abs(int(seconds))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 1:
        return "< 1 min"
    if hours < 1:
        return f"{minutes} min"
    if days < 1:
        rest = minutes % 60
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    rest = hours % 24
    return f"{days} d {rest} h" if rest else f"{days} d"


def act_from_form(
    session: Session, viewer: User, return_id: int, *, queue: str | None, with_history: bool
) -> Action:
    """Do what a page's action form posted (the trigger, the version the person saw, the
    trigger's fields), as `viewer`, in one service call; see `act_on_return`."""
    problems: dict[str, str] = {}
    trigger = (request.form.get("trigger") or "").strip()[:40]
    if not trigger:
        problems["trigger"] = "is required"
    version = form_int("version", problems, required=False, minimum=1)
    if problems:
        get_return(session, viewer, return_id)  # someone else's return is a 404 whatever came
        raise ValidationError(problems)
    return act_on_return(
        session,
        viewer,
        return_id,
        trigger,
        read_fields,
        expected_version=version,
        queue=queue,
        with_history=with_history,
        now=utcnow(),
    )


def detail_context(
    session: Session, viewer: User, record: ReturnRequest, details: ReturnDetails | None = None
) -> dict[str, Any]:
    """What both the customer's and the staff's return page show (`details`: the return as
    an action just described it, with its history)."""
    details = details or describe_return(session, viewer, record)
    order = get_order(session, viewer, record.order_id)
    return {
        "record": record,
        "details": details,
        "labels": state_labels(session, record.workflow_version),
        "steps": progress(details),
        "photos_closed": details.terminal,
        "stamp": stamp(record),
        "order": order,
        "order_lines": {line.id: line for line in order.lines},
        "replacement": get_order(session, viewer, record.replacement_order_id)
        if record.replacement_order_id
        else None,
    }
