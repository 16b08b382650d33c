"""The cart (/cart) kept in the browser session, and checkout into an order.

`session["cart"]` maps product id (str) -> quantity. Every render re-prices it from the
catalog, so the total shown is the total charged. Changes answer htmx with the cart
partial plus `HX-Trigger: cart-changed` (the nav badge listens); without JS they redirect.

Shopping is for customers: staff and admin accounts browse the shop but get a 403 from
every cart page (they have the back office, and an order placed from a staff account would
mix work and private purchases in one audit trail). Anonymous visitors may fill a cart,
which signing in keeps, and are sent to sign in at checkout. The JSON API follows CONTRACT
§3.1 instead ("admin may do anything"), for scripts and integrators.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Blueprint, Response, flash, make_response, render_template, request, url_for
from flask import session as cookie_session
from flask_login import current_user

from app.current import current_payments, db_session
from app.db import is_row_id, utcnow
from app.errors import Conflict, DomainError, ValidationError
from app.models.users import Role
from app.services.catalog import active_sale_prices
from app.services.credit import credit_balance
from app.services.idempotency import MAX_KEY, StoredResponse, claim_key, store_response
from app.services.orders import (
    MAX_LINES,
    LineRequest,
    PricedCart,
    add_to_cart,
    place_order,
    price_cart,
    set_cart_quantity,
)
from views.access import customer_accounts_only, signed_in_user
from views.parsing import form_cents, form_int
from views.rendering import is_partial, page_or_partial, redirect_to, safe_local, with_trigger

bp = Blueprint("cart", __name__)
SCOPE = "web-checkout"
# A double submit that arrives while the first is still paying waits this long for its answer.
IN_FLIGHT_WAIT_SECONDS = 5.0
FIELD_NAMES = {"store_credit_cents": "store_credit", "payment.card_number": "card_number"}
NOT_FOR_STAFF = (
    "shopping is for customer accounts. Staff and admin accounts may browse the shop but "
    "not fill a cart or buy; sign in with a customer account to shop"
)


def read_cart() -> dict[int, int]:
    """The session's cart, ignoring anything that is not a sane id -> quantity pair."""
    raw = cookie_session.get("cart")
    if not isinstance(raw, dict):
        return {}
    cart: dict[int, int] = {}
    for key, value in list(raw.items())[:MAX_LINES]:
        good_key = isinstance(key, str) and key.isascii() and key.isdigit()
        good_value = isinstance(value, int) and not isinstance(value, bool) and value > 0
        if good_key and good_value and is_row_id(int(key)):
            cart[int(key)] = value
    return cart


def write_cart(items: dict[int, int]) -> None:
    if items:
        cookie_session["cart"] = {str(pid): qty for pid, qty in items.items()}
    else:
        cookie_session.pop("cart", None)


shoppers_only = customer_accounts_only(NOT_FOR_STAFF, visitors=True)
customers_only = customer_accounts_only(NOT_FOR_STAFF, next_path="/cart")


@bp.app_context_processor
def _cart_globals() -> dict[str, Any]:
    return {"cart_count": sum(read_cart().values())}


def may_check_out() -> bool:
    return bool(current_user.is_authenticated and current_user.role == Role.CUSTOMER)


def _form_int(name: str, *, minimum: int, default: int | None = None) -> int:
    problems: dict[str, str] = {}
    value = form_int(name, problems, required=default is None, minimum=minimum)
    if problems:
        raise ValidationError(problems)
    return value if value is not None else (default or 0)


def render_cart(
    *,
    status: int = 200,
    notices: list[str] | None = None,
    checkout_error: str | None = None,
    errors: dict[str, str] | None = None,
    cart: PricedCart | None = None,
) -> Response:
    """The cart page (or its partial), re-priced and cleaned."""
    session = db_session()
    if cart is None:
        cart = price_cart(session, read_cart())
        write_cart(cart.items)
    balance = credit_balance(session, current_user.id) if may_check_out() else 0
    sales = active_sale_prices(session, [line.product.id for line in cart.lines], utcnow())
    return page_or_partial(
        "orders/cart/index.html",
        "orders/cart/_cart.html",
        status,
        cart=cart,
        sales=sales,
        notices=[*(notices or []), *cart.notices],
        checkout_error=checkout_error,
        errors=errors or {},
        form=request.form if request.method == "POST" else {},
        balance=balance,
        may_check_out=may_check_out(),
        idempotency_key=uuid.uuid4().hex,
    )


@bp.get("/cart")
@shoppers_only
def index() -> Response:
    return render_cart()


@bp.get("/cart/badge")
def badge() -> str:
    return render_template("orders/cart/_badge.html")


@bp.post("/cart/add")
@shoppers_only
def add() -> Response:
    product_id = _form_int("product_id", minimum=1)
    quantity = _form_int("quantity", minimum=1, default=1)
    items, product, notice = add_to_cart(db_session(), read_cart(), product_id, quantity)
    write_cart(items)
    if is_partial():
        html = render_template(
            "orders/cart/_added.html", product=product, notice=notice, quantity=items[product_id]
        )
        return with_trigger(make_response(html), "cart-changed")
    flash(notice or f"Added {product.name} to your cart.", "warning" if notice else "success")
    return redirect_to(safe_local(request.form.get("next"), url_for("cart.index")))


def _change(product_id: int, quantity: int) -> Response:
    items, notice = set_cart_quantity(db_session(), read_cart(), product_id, quantity)
    write_cart(items)
    if is_partial():
        return with_trigger(render_cart(notices=[notice] if notice else []), "cart-changed")
    flash(notice or "Your cart was updated.", "warning" if notice else "success")
    return redirect_to(url_for("cart.index"))


@bp.post("/cart/update")
@shoppers_only
def update() -> Response:
    return _change(_form_int("product_id", minimum=1), _form_int("quantity", minimum=0))


@bp.post("/cart/remove")
@shoppers_only
def remove() -> Response:
    return _change(_form_int("product_id", minimum=1), 0)


@bp.post("/cart/checkout")
@customers_only
def checkout() -> Response:
    """Place the order for the cart once per form render (the hidden idempotency key)."""
    session = db_session()
    errors: dict[str, str] = {}
    card = (request.form.get("card_number") or "").replace(" ", "").replace("-", "")[:40]
    if not card:
        errors["card_number"] = "is required"
    credit = form_cents("store_credit", errors, required=False) or 0
    expected = form_int("expected_total", errors, required=False)
    key = (request.form.get("idempotency_key") or "").strip()
    if not 0 < len(key) <= MAX_KEY:
        return render_cart(status=400, checkout_error="This form expired; please try again.")
    if errors:
        return render_cart(status=422, errors=errors, checkout_error="Please check the form.")
    cart = price_cart(session, read_cart())
    write_cart(cart.items)
    if not cart.lines:
        flash("Your cart is empty.", "warning")
        return redirect_to(url_for("cart.index"))
    if cart.notices or (expected is not None and expected != cart.total_cents):
        message = "Your cart changed since you last saw it; please review it and confirm again."
        return render_cart(status=409, checkout_error=message, cart=cart)
    payload = {"lines": sorted(cart.items.items()), "card": card, "credit": credit}
    return _place_once(key, payload, cart, card, credit)


def _claim(key: str, payload: dict[str, Any]) -> tuple[int | None, StoredResponse | None]:
    """Claim the key; a twin still in flight is waited for, briefly, so it can be replayed."""
    user = signed_in_user()
    deadline = time.monotonic() + IN_FLIGHT_WAIT_SECONDS
    while True:
        try:
            return claim_key(db_session(), user_id=user.id, scope=SCOPE, key=key, payload=payload)
        except Conflict as error:
            if error.code != "idempotency_in_progress" or time.monotonic() >= deadline:
                raise
        time.sleep(0.1)


def _place_once(
    key: str, payload: dict[str, Any], cart: PricedCart, card: str, credit: int
) -> Response:
    session = db_session()
    try:
        record_id, stored = _claim(key, payload)
    except Conflict as error:  # kept: the cart form says what to do
        message = (
            "This order is already being placed; check your orders in a moment."
            if error.code == "idempotency_in_progress"
            else "This form was already used for a different cart; please try again."
        )
        return render_cart(status=409, checkout_error=message, cart=cart)
    if stored is not None:
        return _replay(stored, cart)
    assert record_id is not None
    try:
        order = place_order(
            session,
            current_payments(),
            customer_id=signed_in_user().id,
            lines=[LineRequest(pid, qty) for pid, qty in cart.items.items()],
            card_number=card,
            store_credit_cents=credit,
        )
    except DomainError as error:  # kept: the cart form shows it, and a repeat replays it
        store_response(session, record_id, status=error.status, body=checkout_message(error))
        return _failed(error)
    except BaseException:
        store_response(session, record_id, status=500, body="")
        raise
    store_response(session, record_id, status=201, body=str(order.id))
    return _placed(order.id, order.number)


def _placed(order_id: int, number: str) -> Response:
    write_cart({})
    flash(f"Thank you! Order {number} is confirmed.", "success")
    return redirect_to(url_for("orders.show", order_id=order_id))


def _replay(stored: StoredResponse, cart: PricedCart) -> Response:
    if stored.status == 201 and stored.body.isdigit():
        write_cart({})
        flash("Your order was already placed; here it is.", "info")
        return redirect_to(url_for("orders.show", order_id=int(stored.body)))
    return render_cart(status=stored.status, checkout_error=stored.body, cart=cart)


def checkout_message(error: DomainError) -> str:
    """What a shopper should read for each way checkout can fail."""
    if error.code == "insufficient_stock":
        return "Some items sold out while you were checking out; your cart shows what is left."
    if error.code == "payment_declined":
        return "Your card was declined. You were not charged; please try another card."
    if error.code == "not_found":
        return "A product in your cart is no longer available; your cart has been updated."
    if error.code == "payment_unavailable" and error.retry_after:
        return (
            "Payments are temporarily unavailable; you were not charged. "
            f"Please try again in {error.retry_after} seconds."
        )
    text = error.message
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _failed(error: DomainError) -> Response:
    errors: dict[str, str] = {}
    if isinstance(error, ValidationError):
        errors = {FIELD_NAMES.get(k, k): v for k, v in error.fields.items()}
    response = render_cart(
        status=error.status, checkout_error=checkout_message(error), errors=errors
    )
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response
