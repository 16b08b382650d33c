"""The customer's flash-sale page (/flash-sales): live and upcoming sales with server-timed
countdowns, reserving units (a hold with its own countdown), paying for a hold, releasing it.

The sales region refreshes itself every 5 seconds, so countdowns are re-synchronised with
the server's clock and "N left" stays true. Reserving and paying share the per-customer
budget of the API (`FLASH_RATE_LIMIT`). Every refusal says what happened and what to do:
sold out, not started or ended, over the limit, too many tries (and when to try again),
card declined, payments unavailable for a moment (the hold is kept). A refusal by htmx
also clears the region's last "Done" notice, so a declined card never sits under a stale
"Reserved". Reserving is for customer accounts only: staff and admins may browse.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, flash, make_response, render_template, request, url_for
from flask_login import current_user

from app.current import current_config, current_payments, db_session
from app.db import utcnow
from app.errors import DomainError
from app.extensions import rate_limit
from app.models.flash_sales import SaleState
from app.models.users import Role
from app.services.flash_sales import (
    HoldView,
    Taken,
    checkout_hold,
    customer_live_holds,
    list_sales,
    release_hold,
    units_taken,
)
from views.access import customer_accounts_only, role_required, signed_in_user
from views.errors import render_domain_error
from views.flash_sales.holds import reserve_now
from views.parsing import ID, form_int
from views.rendering import htmx_redirect, is_partial, redirect_to

bp = Blueprint("flash_sales", __name__)
customer_only = role_required(Role.CUSTOMER, next_path="/flash-sales")
F = TypeVar("F", bound=Callable[..., Any])


customer_account_only = customer_accounts_only(
    "reserving is for customer accounts; staff and admin accounts may browse the sales but not buy",
    next_path="/flash-sales",
)


def _flash_limit() -> str:
    return current_config().flash_rate_limit


def _context() -> dict[str, Any]:
    session = db_session()
    now = utcnow()
    live = list_sales(session, now=now, state=SaleState.ACTIVE, per_page=20).items
    upcoming = list_sales(session, now=now, state=SaleState.SCHEDULED, per_page=20).items
    holds: list[HoldView] = []
    taken: dict[int, Taken] = {}
    if current_user.is_authenticated and current_user.role == Role.CUSTOMER:
        holds = customer_live_holds(session, current_user.id, now=now)
        item_ids = [item.id for sale in live for item in sale.items]
        taken = units_taken(session, current_user.id, item_ids, now=now)
    circuit = current_payments().breaker.status(now)
    return {
        "now": now,
        "payments_paused": circuit.state != "closed",
        "live": live,
        "upcoming": sorted(upcoming, key=lambda sale: sale.starts_at),
        "shopper": bool(current_user.is_authenticated and current_user.role == Role.CUSTOMER),
        "taken": taken,
        "live_holds": holds,
    }


@bp.get("/flash-sales")
def index() -> Response:
    """The page, or (polled by htmx every 5 s) its live region."""
    template = "flash_sales/_live.html" if is_partial() else "flash_sales/index.html"
    return make_response(render_template(template, **_context()))


def _answer(message: str, category: str = "success") -> Response:
    """After an action: the refreshed region (htmx) with a notice, or back to the page."""
    if is_partial():
        return make_response(
            render_template("flash_sales/_live.html", notice=message, **_context())
        )
    flash(message, category)
    return redirect_to(url_for("flash_sales.index"))


KEEPS_HOLD = {"payment_declined", "payment_error", "payment_unavailable"}


def _over_the_limit(error: DomainError) -> DomainError:
    """The limit refusal in words, once: the service's per-field form of it would show the
    same sentence twice (as the message and again as the field's problem)."""
    limit, taken = error.details.get("limit"), error.details.get("taken")
    message = f"at most {limit} per customer"
    if taken:
        left = max(0, int(limit or 0) - int(taken))
        message += f": you already have {taken} (bought or reserved)"
        message += f", so you may reserve {left} more" if left else ", your whole limit"
    return DomainError(message, status=error.status, code=error.code,
                       details={"limit": limit, "taken": taken})  # fmt: skip


def _refused(error: DomainError) -> Response:
    """A refusal without JavaScript: back to the page with the reason on top. By htmx: the
    inline alert of the error handler (with Retry-After where it applies), plus an emptied
    notice in the region, so no earlier "Done" stands next to the problem. A failed payment
    says that the reservation is still there."""
    if error.code in KEEPS_HOLD:
        error.message = f"{error.message.rstrip('.')}. Your reservation is kept until it expires."
    if error.code == "limit_exceeded":
        error = _over_the_limit(error)
    if is_partial():
        return render_domain_error(error)  # `_no_stale_done` empties the notice
    flash(error.message[:1].upper() + error.message[1:], "error")
    return redirect_to(url_for("flash_sales.index"))


@bp.after_request
def _no_stale_done(response: Response) -> Response:
    """Any refusal of an action by htmx (the view's own, or a 429 from the rate limit that
    wraps it and never reaches it) also empties the region's "Done" notice, out of band."""
    if request.method == "POST" and response.status_code >= 400 and is_partial():
        notice = render_template("flash_sales/_notice.html", notice=None, oob=True)
        response.set_data(response.get_data(as_text=True) + notice)
    return response


def refusals_shown(view: F) -> F:
    """An action's refusals go to `_refused`: one place for all three actions."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except DomainError as error:
            return _refused(error)

    return cast(F, wrapper)


@bp.post(f"/flash-sales/<{ID}:sale_id>/reserve")
@customer_account_only
@rate_limit(_flash_limit, scope="flash")
@refusals_shown
def reserve_units(sale_id: int) -> Response:
    customer = signed_in_user()
    problems: dict[str, str] = {}
    product_id = form_int("product_id", problems, minimum=1)
    quantity = form_int("quantity", problems, minimum=1, maximum=1000)
    if problems or product_id is None or quantity is None:
        raise DomainError("choose a product and a quantity", status=422,
                          code="validation_error", details={"fields": problems})  # fmt: skip
    hold = reserve_now(
        sale_id=sale_id, product_id=product_id, customer_id=customer.id, quantity=quantity
    )
    return _answer(
        f"Reserved {hold.quantity} of {hold.product_name}. Pay before the hold runs out."
    )


@bp.post(f"/reservations/<{ID}:hold_id>/pay")
@customer_only
@rate_limit(_flash_limit, scope="flash")
@refusals_shown
def pay(hold_id: int) -> Response:
    customer = signed_in_user()
    card = (request.form.get("card_number") or "")[:40]
    order = checkout_hold(
        db_session(),
        current_payments(),
        hold_id=hold_id,
        customer_id=customer.id,
        card_number=card,
        now=utcnow(),
    )
    flash(f"Paid: order {order.number}. Enjoy the deal!", "success")
    target = url_for("orders.show", order_id=order.id)
    if is_partial():  # htmx follows to the order page: nothing here to re-render
        return htmx_redirect(target, 204)
    return redirect_to(target)


@bp.post(f"/reservations/<{ID}:hold_id>/release")
@customer_only
@refusals_shown
def release(hold_id: int) -> Response:
    customer = signed_in_user()
    release_hold(db_session(), hold_id, customer.id, now=utcnow())
    return _answer("Released: those units are available to others again.")
