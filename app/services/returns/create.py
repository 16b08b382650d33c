"""Returns: who may return what (eligibility), opening a return, and reading them.

A return starts on the published RMA workflow version and keeps it. Opening one is a single
transaction: the order is locked, what is already being returned is counted under that
lock (so the same unit can never be returned twice), the return and its lines are written,
and the `submit` and `validate` steps are recorded as events.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.db import NUL, NUL_MESSAGE, clean_text, contains, is_row_id, transaction
from app.errors import NotFound, ValidationError
from app.models.orders import Order, OrderStatus
from app.models.returns import ReturnEvent, ReturnLine, ReturnRequest
from app.models.users import User
from app.services.pagination import Page, paginate
from app.services.read_cache import returns_reads
from app.services.returns.reads import open_filter
from app.services.returns.transitions import enter_state, record_event, run_effects, subject_of
from app.services.settings import get_setting_int
from app.services.workflows import RMA, load_engine, published_version
from workflows.engine import Engine
from workflows.registry import SYSTEM, Actor

REASONS = (
    "damaged", "defective", "wrong_item", "not_as_described", "changed_mind",
    "no_longer_needed", "other",
)  # fmt: skip
# The one end where a return's units came back to us: a core state of CONTRACT §3.4, kept in
# every published version (`workflows.definitions.RMA_CORE`). A return ended anywhere else
# (rejected, cancelled, or an end an admin added) frees its units for another.
COMPLETED = "COMPLETED"
MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class LineRequest:
    order_line_id: int
    quantity: int


@dataclass
class LineEligibility:
    order_line_id: int
    product_id: int
    name: str
    bought: int
    already_returned: int
    unit_price_cents: int

    @property
    def returnable(self) -> int:
        return max(0, self.bought - self.already_returned)


@dataclass
class Eligibility:
    order: Order
    window_closes_at: datetime
    open: bool
    lines: list[LineEligibility] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return self.open and any(line.returnable for line in self.lines)


def _customer_order(session: Session, customer_id: int, order_id: int) -> Order:
    order = session.get(Order, order_id) if is_row_id(order_id) else None
    if order is None or order.customer_id != customer_id or order.status != OrderStatus.PAID:
        raise NotFound("no such order")
    if order.kind != "standard":
        raise NotFound("no such order")
    return order


def already_returned(session: Session, order_id: int) -> dict[int, int]:
    """Units per order line in returns that are open or completed (not cancelled/rejected)."""
    rows = session.execute(
        select(ReturnLine.order_line_id, func.sum(ReturnLine.quantity))
        .join(ReturnRequest, ReturnRequest.id == ReturnLine.return_id)
        .where(
            ReturnRequest.order_id == order_id,
            or_(ReturnRequest.state == COMPLETED, open_filter(session)),
        )
        .group_by(ReturnLine.order_line_id)
    ).all()
    return {line_id: int(qty) for line_id, qty in rows}


def check_eligibility(
    session: Session, *, customer_id: int, order_id: int, now: datetime
) -> Eligibility:
    """What the customer may still return from this order, and why not when nothing."""
    order = _customer_order(session, customer_id, order_id)
    days = get_setting_int(session, "return_window_days")
    closes = order.created_at + timedelta(days=days)
    result = Eligibility(order=order, window_closes_at=closes, open=now <= closes)
    if not result.open:
        result.reasons.append(f"the {days}-day return window closed on {closes:%Y-%m-%d}")
    returned = already_returned(session, order_id)
    for line in order.lines:
        result.lines.append(
            LineEligibility(
                order_line_id=line.id,
                product_id=line.product_id,
                name=line.product_name,
                bought=line.quantity,
                already_returned=returned.get(line.id, 0),
                unit_price_cents=line.unit_price_cents,
            )
        )
    if result.open and not any(line.returnable for line in result.lines):
        result.reasons.append("every unit of this order is already being returned")
    return result


def _check_request(reason: str, description: str, lines: Sequence[LineRequest]) -> dict[int, int]:
    problems: dict[str, str] = {}
    if reason not in REASONS:
        problems["reason"] = f"must be one of {', '.join(REASONS)}"
    if len(description) > MAX_DESCRIPTION:
        problems["description"] = f"must have at most {MAX_DESCRIPTION} characters"
    elif NUL in description:
        problems["description"] = NUL_MESSAGE
    if not lines:
        problems["lines"] = "choose at least one item to return"
    wanted: dict[int, int] = {}
    for i, line in enumerate(lines):
        if line.quantity < 1:
            problems[f"lines[{i}].quantity"] = "must be at least 1"
        wanted[line.order_line_id] = wanted.get(line.order_line_id, 0) + line.quantity
    if problems:
        raise ValidationError(problems)
    return wanted


def create_return(
    session: Session,
    *,
    customer: User,
    order_id: int,
    reason: str,
    description: str,
    lines: Sequence[LineRequest],
    now: datetime,
) -> ReturnRequest:
    """Open a return for some units of one of the customer's paid orders.

    Raises NotFound (not their order), ValidationError (bad reason, a line not on the
    order, more units than bought minus already returned, the window closed).
    """
    wanted = _check_request(reason, description, lines)
    published_version(session, RMA)  # the first return ever ships the definition (own transaction)
    with transaction(session):
        # The order row lock serialises returns of one order (SQLite has one writer anyway).
        session.execute(select(Order.id).where(Order.id == order_id).with_for_update())
        # Read here, in the transaction's fresh snapshot: a version published since a read
        # transaction the session had open before is the one this return starts on.
        version = published_version(session, RMA)
        engine = load_engine(session, RMA, version)
        eligibility = check_eligibility(
            session, customer_id=customer.id, order_id=order_id, now=now
        )
        by_line = _returnable_lines(eligibility, wanted)
        record = ReturnRequest(
            number="RMA-" + secrets.token_hex(4).upper(),
            order_id=order_id,
            customer_id=customer.id,
            state=engine.definition.initial,
            workflow_version=version,
            version=1,
            reason=reason,
            description=description.strip(),
            paid_cents=sum(by_line[i].unit_price_cents * q for i, q in wanted.items()),
            created_at=now,
            state_entered_at=now,
        )
        record.lines = [
            ReturnLine(
                order_line_id=i,
                product_id=by_line[i].product_id,
                quantity=q,
                unit_price_cents=by_line[i].unit_price_cents,
            )
            for i, q in sorted(wanted.items())
        ]
        session.add(record)
        session.flush()
        _submit(session, engine, record, Actor(customer.id, customer.role), now)
    returns_reads.changed()
    return record


def _submit(
    session: Session, engine: Engine, record: ReturnRequest, customer: Actor, now: datetime
) -> None:
    """The new return's first two events: the customer's `submit` into the initial state,
    then the system's `validate`, with its effects (the customer's notice)."""
    enter_state(engine, record, record.state, now)
    record_event(session, record, customer, "submit", None, record.state, {}, now)
    fired = engine.fire(record.state, "validate", actor=SYSTEM, subject=subject_of(record))
    record_event(session, record, SYSTEM, "validate", fired.source, fired.dest, {}, now)
    enter_state(engine, record, fired.dest, now)
    record.version = 2
    run_effects(session, record, fired, SYSTEM, now)


def _returnable_lines(
    eligibility: Eligibility, wanted: dict[int, int]
) -> dict[int, LineEligibility]:
    """The order's lines by id, once every wanted line is one of them with enough units
    left to return; ValidationError naming each line that is not (or the closed window)."""
    if not eligibility.open:
        raise ValidationError({"order_id": eligibility.reasons[0]})
    by_line = {line.order_line_id: line for line in eligibility.lines}
    problems: dict[str, str] = {}
    for line_id, qty in wanted.items():
        line = by_line.get(line_id)
        if line is None:
            problems[f"lines.{line_id}"] = "is not a line of this order"
        elif qty > line.returnable:
            problems[f"lines.{line_id}"] = (
                f"only {line.returnable} of {line.bought} can still be returned"
            )
    if problems:
        raise ValidationError(problems)
    return by_line


def get_return(session: Session, viewer: User, return_id: int) -> ReturnRequest:
    """The return if the viewer may see it (its owner or staff), else NotFound."""
    record = session.get(ReturnRequest, return_id) if is_row_id(return_id) else None
    if record is None or (not viewer.is_staff and record.customer_id != viewer.id):
        raise NotFound("no such return")
    return record


def list_returns(
    session: Session,
    viewer: User,
    *,
    state: str = "",
    search: str = "",
    customer_id: int | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page[ReturnRequest]:
    """Newest first: a customer's own, or (staff) all, optionally in one state. Staff may
    also `search` (part of the return's or the order's number, or of the customer's name or
    username) and pick one customer (`customer_id`). Read only."""
    query = select(ReturnRequest).order_by(ReturnRequest.created_at.desc(), ReturnRequest.id.desc())
    if not viewer.is_staff:
        query = query.where(ReturnRequest.customer_id == viewer.id)
    # No state, number or name has a NUL in it, and PostgreSQL refuses one in a parameter.
    if state:
        query = query.where(ReturnRequest.state == clean_text(state))
    if customer_id is not None and viewer.is_staff:
        query = query.where(ReturnRequest.customer_id == customer_id)
    term = clean_text(search).strip()[:100]
    if term and viewer.is_staff:
        query = (
            query.join(User, User.id == ReturnRequest.customer_id)
            .join(Order, Order.id == ReturnRequest.order_id)
            .where(
                or_(
                    contains(ReturnRequest.number, term),
                    contains(Order.number, term),
                    contains(User.username, term),
                    contains(User.name, term),
                )
            )
        )
    return paginate(session, query, page=page, per_page=per_page)


def return_events(session: Session, return_id: int) -> list[ReturnEvent]:
    return list(
        session.scalars(
            select(ReturnEvent).where(ReturnEvent.return_id == return_id).order_by(ReturnEvent.id)
        )
    )
