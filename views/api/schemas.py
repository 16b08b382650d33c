"""The API's request bodies (CONTRACT §3) as pydantic models, checked at the boundary by
`views.parsing.validate`; the services check what needs the database (stock, ownership,
prices, windows). The same models can describe the API in an OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, model_validator

from app.services.returns import MAX_DESCRIPTION
from views.parsing import Body, Moment, boolean, integer, nonempty, refuse, text

MAX_SALE_ITEMS = 50
MAX_RETURN_LINES = 100
# An order's line count is the service's to refuse ("at most 100 lines"); reading one more
# than that is enough for it to say so.
ORDER_LINES_READ = 101

# -- users and sign-in ---------------------------------------------------------------------


class TokenRequest(Body):
    """POST /auth/token. NUL is let through: no such user exists (401)."""

    username: Annotated[str, text(200, nul=True)]
    password: Annotated[str, text(1000, nul=True)]


class UserCreate(Body):
    """POST /users (admin)."""

    username: Annotated[str, text(200, nul=True)]  # the service names the characters it takes
    password: Annotated[str, text(1000, nul=True)]
    role: Annotated[str, text(50, nul=True)]  # the service names the roles
    name: Annotated[str, text(200, required=False)] = ""
    email: Annotated[str, text(400, required=False)] = ""


class Registration(Body):
    """POST /register (anyone)."""

    username: Annotated[str, text(200, nul=True)]
    password: Annotated[str, text(1000, nul=True)]
    email: Annotated[str, text(400)]


# -- catalog -------------------------------------------------------------------------------

NOT_NULL = "must not be null"  # in a PATCH, absent leaves a field as it is; null is a mistake


class ProductFields(Body):
    """POST /products and PATCH /products/<id>: every field optional here (the service
    names what a new product lacks); "" leaves a text field as it is, but clears the
    description."""

    sku: Annotated[str, text(200, required=False, null=NOT_NULL)] = ""
    name: Annotated[str, text(1000, required=False, null=NOT_NULL)] = ""
    description: Annotated[str | None, text(None, required=False, if_null=None)] = None
    category: Annotated[str, text(200, required=False)] = ""
    image_url: Annotated[str, text(1000, required=False)] = ""
    price_cents: Annotated[int | None, integer(required=False, null=NOT_NULL)] = None
    stock: Annotated[int | None, integer(required=False, null=NOT_NULL)] = None
    active: Annotated[bool | None, boolean(null=NOT_NULL)] = None


# -- orders and flash sales ----------------------------------------------------------------


def _card(value: Any) -> str:
    """A card number with its spaces dropped; anything else counts as no card."""
    card = value.replace(" ", "") if isinstance(value, str) and len(value) <= 40 else ""
    if not card:
        refuse("is required")
    return card


def _payment(message: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            refuse(message)
        return value

    return BeforeValidator(check)


class Payment(Body):
    card_number: Annotated[str, BeforeValidator(_card)]


class OrderLine(Body):
    product_id: Annotated[int, integer(1)]
    quantity: Annotated[int, integer(1, 1000)]


class OrderRequest(Body):
    """POST /orders (customer)."""

    lines: Annotated[list[OrderLine], nonempty(keep=ORDER_LINES_READ)]
    payment: Annotated[Payment, _payment("must be an object with card_number")]
    store_credit_cents: Annotated[int | None, integer(required=False)] = None


def _checkout_card(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        refuse("is required")
    return value[:40]


class CheckoutPayment(Body):
    card_number: Annotated[str, BeforeValidator(_checkout_card)]


class CheckoutRequest(Body):
    """POST /reservations/<id>/checkout: a payment that is absent or not an object has no
    card (`payment.card_number` is required)."""

    payment: CheckoutPayment

    @model_validator(mode="before")
    @classmethod
    def _payment_object(cls, data: Any) -> Any:
        payment = data.get("payment") if isinstance(data, dict) else None
        return {"payment": payment if isinstance(payment, dict) else {}}


class SaleItem(Body):
    product_id: Annotated[int, integer(1)]
    sale_price_cents: Annotated[int, integer(1)]
    quantity: Annotated[int, integer(1)]
    per_customer_limit: Annotated[int, integer(1)]


class SaleRequest(Body):
    """POST /flash-sales (admin); the service checks prices, stock and the times' order."""

    name: Annotated[str, text(1000, nul=True)]  # the service names a NUL in a sale's name
    starts_at: Moment
    ends_at: Moment
    items: Annotated[
        list[SaleItem],
        nonempty(max_items=MAX_SALE_ITEMS, too_many=f"must have at most {MAX_SALE_ITEMS} items"),
    ]


class ReservationRequest(Body):
    """POST /flash-sales/<id>/reservations (customer)."""

    product_id: Annotated[int, integer(1)]
    quantity: Annotated[int, integer(1, 1000)]


# -- returns -------------------------------------------------------------------------------


class ReturnLine(Body):
    order_line_id: Annotated[int, integer(1)]
    quantity: Annotated[int, integer(1)]


class ReturnRequest(Body):
    """POST /returns (customer, own order)."""

    order_id: Annotated[int, integer(1)]
    reason: Annotated[str, text(40, nul=True)]  # the service names the reasons it takes
    description: Annotated[str, text(MAX_DESCRIPTION)]
    lines: Annotated[
        list[ReturnLine],
        nonempty(max_items=MAX_RETURN_LINES, too_many=f"may have at most {MAX_RETURN_LINES} lines"),
    ]


def _trigger(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        refuse("is required")
    return value.strip() if isinstance(value, str) else value


class TransitionRequest(Body):
    """POST /returns/<id>/transitions: the trigger and the version the caller saw; every
    other key is a field of the transition (the workflow checks those)."""

    trigger: Annotated[str, BeforeValidator(_trigger), text(60, nul=True)]
    version: Annotated[int | None, integer(1, required=False)] = None


# -- workflow definitions (admin) ----------------------------------------------------------


def _definition(value: Any) -> Any:
    """The definition itself is the workflow schema's to check (every problem at once)."""
    if not isinstance(value, dict):
        refuse("must be a JSON object")
    return value


class WorkflowDraftRequest(Body):
    """POST /workflows/<name>/versions (admin): a new draft."""

    definition: Annotated[dict[str, Any], BeforeValidator(_definition)]


class WorkflowDraftUpdate(WorkflowDraftRequest):
    """PUT /workflows/<name>/versions/<n> (admin): the draft's new definition and the
    revision the admin edited (409 `stale_version` when someone saved it since)."""

    revision: Annotated[int, integer(1)]


def _mapping(value: Any) -> Any:
    """{state of the old version: state of the new one}; the plan says which are unknown."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 100:
        refuse("must be an object of at most 100 states")
    for source, dest in value.items():
        if not (isinstance(dest, str) and 0 < len(dest) <= 40 and 0 < len(source) <= 40):
            refuse("must map state names to state names")
    return value


class WorkflowMigrationRequest(Body):
    """POST /workflows/rma/migrations (admin): move the returns in flight on `from_version`
    to `to_version` (`mapping` for states that change name); `dry_run` only plans it."""

    from_version: Annotated[int, integer(1)]
    to_version: Annotated[int, integer(1)]
    mapping: Annotated[dict[str, str], BeforeValidator(_mapping)] = {}
    dry_run: Annotated[bool | None, boolean()] = None


# -- partner feeds -------------------------------------------------------------------------

MAX_MAPPING_COLUMNS = 50


def _column_mapping(value: Any) -> dict[str, str] | None:
    """A column mapping: an object of their column name -> our field name (both text)."""
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or len(value) > MAX_MAPPING_COLUMNS
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 200 and len(v) <= 50
            for k, v in value.items()
        )
    ):
        refuse(f"must be an object of at most {MAX_MAPPING_COLUMNS} column names to field names")
    return value


class PartnerFields(Body):
    """POST /partners and PATCH /partners/<id> (admin). `feed_url` "" or null: no polling."""

    name: Annotated[str, text(200, required=False, null=NOT_NULL)] = ""
    format: Annotated[str, text(50, required=False, null=NOT_NULL)] = ""
    feed_url: Annotated[str | None, text(3000, required=False, if_null="")] = None
    poll_minutes: Annotated[int | None, integer(required=False)] = None
    mapping: Annotated[dict[str, str] | None, BeforeValidator(_column_mapping)] = None
    price_guard_percent: Annotated[int | None, integer(required=False)] = None
    drop_guard_percent: Annotated[int | None, integer(required=False)] = None
    stale_after_minutes: Annotated[int | None, integer(required=False)] = None
