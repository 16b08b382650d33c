"""Every route's authentication and role, walked from Flask's `url_map` (issue 9).

`ROUTES` maps each endpoint to who may call it. A route missing from the table fails
`test_it_has_an_access_policy_for_every_route`, so a route added without a check (or
without a decision about who may use it) cannot pass CI; an entry whose route is gone
fails too. For every endpoint, each of its methods is called anonymously, as each role,
and (for a customer's own objects) as another customer, and the answer must be the one
the policy says:

- `OK`: the caller got through. The call may still be refused on its merits (400, 409,
  422: bodies are empty or minimal), but never 401, 403, 404, 429, 500 or a sign-in.
- `SIGN_IN`: pages redirect to /login with a `next` to come back to (htmx: `HX-Redirect`);
  the API answers 401 `unauthorized`.
- `FORBIDDEN` (403 `forbidden`), `NOT_FOUND` (404 `not_found`: another customer's object
  answers like a missing one), `UNAUTHORIZED` (401 `unauthorized`, whatever the session).

API routes (`/api/…`) are called with bearer tokens, pages with a signed-in browser
session and its CSRF token. A wrong access found here is listed in `KNOWN_DEFECTS`: its
endpoint's test is a strict xfail until the product is fixed.

Adding a route: add `"blueprint.view": POLICY` to ROUTES, with one of the policies below
or a new one made with `policy()`. When the view validates its input before it looks at
the object's owner, give it `Route(POLICY, body=...)` with a body that gets that far; a
new path argument needs a value in `World.path_values`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2.bccache import Bucket, BytecodeCache
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from app.db import utcnow
from app.models.feeds import PartnerKey
from app.models.users import User
from app.services.flash_sales import SaleItemInput, create_sale, reserve
from app.services.returns import LineRequest, create_return, save_return_photo
from app.services.users import issue_token
from tests.builders import (
    PASSWORD,
    make_paid_order,
    make_partner,
    make_product,
    make_user,
    queue_feed,
)
from tests.conftest import csrf_token, sign_in

OK, SIGN_IN, FORBIDDEN, NOT_FOUND, UNAUTHORIZED = (
    "ok", "sign_in", "forbidden", "not_found", "unauthorized",
)  # fmt: skip
STATUS = {FORBIDDEN: 403, NOT_FOUND: 404, UNAUTHORIZED: 401}
ROLES = ("customer", "support", "warehouse", "finance", "admin")
STAFF_ROLES = ("support", "warehouse", "finance", "admin")
# "customer" owns every object the routes are called on; "other_customer" is someone else.
OTHER = "other_customer"
METRICS_TOKEN = "metrics-token-for-tests"
CARD_DECLINED = "4000000000000002"  # a business answer: nothing is charged
SECRET = "test-secret"  # the test apps' secret_key (tests/conftest.py)


@dataclass(frozen=True)
class Policy:
    """Who may call a route: the answer each caller must get."""

    name: str
    expect: Mapping[str, str]


def policy(
    name: str,
    *,
    may: tuple[str, ...],
    anonymous: str = SIGN_IN,
    other_customer: str | None = None,
    **answers: str,
) -> Policy:
    """Roles in `may` get through, other roles get 403; `other_customer` is checked only
    for routes on a customer's own objects; `answers` overrides a caller's answer."""
    expect = {"anonymous": anonymous}
    expect.update({role: OK if role in may else FORBIDDEN for role in ROLES})
    if other_customer is not None:
        expect[OTHER] = other_customer
    expect.update(answers)
    return Policy(name, expect)


PUBLIC = policy("public", may=ROLES, anonymous=OK)
SIGNED_IN = policy("any signed-in user", may=ROLES)
CUSTOMERS = policy("customers (and admins)", may=("customer", "admin"))
STAFF = policy("staff", may=STAFF_ROLES)
SUPPORT_TEAM = policy("the support team (and admins)", may=("support", "admin"))
ADMIN = policy("admins", may=("admin",))
OWNER_OR_STAFF = policy("the owner and staff", may=ROLES, other_customer=NOT_FOUND)
# A customer page on a customer's object: staff use their own pages; admins may do anything.
OWNER_OR_ADMIN = policy("the owner (and admins)", may=("customer", "admin"),
                        other_customer=NOT_FOUND)  # fmt: skip
# Shopping pages (issue 14): customer accounts only, not even admins (staff and admins browse
# the shop; the cart and flash-sale reserve pages refuse them with 403). Visitors may fill a
# cart, which signing in keeps; checkout and reserving ask them to sign in. The JSON API
# keeps CONTRACT §3.1's "admin may do anything" (api.order_create, api.flash_reserve).
SHOPPERS = policy("customers and visitors; not staff or admins", may=("customer",), anonymous=OK)
CUSTOMER_ACCOUNTS = policy("customer accounts only; not staff or admins", may=("customer",))
# The customer's own holds and orders-to-be: an admin has none, so theirs are "not found".
OWNER = policy("the owner only", may=("customer",), other_customer=NOT_FOUND, admin=NOT_FOUND)
# Return photos: everyone but the owner and staff learns nothing, not even that one exists.
PHOTO = policy("the owner and staff; 404 to all others", may=ROLES, anonymous=NOT_FOUND,
               other_customer=NOT_FOUND)  # fmt: skip
# With METRICS_TOKEN set only the token opens /metrics; a signed-in session does not.
METRICS = Policy(
    "METRICS_TOKEN bearer",
    {"anonymous": UNAUTHORIZED, **dict.fromkeys(ROLES, UNAUTHORIZED), "metrics_token": OK},
)


@dataclass(frozen=True)
class World:
    """The objects the routes are called on, all of them the customer's."""

    users: dict[str, User]
    product_id: int
    order_id: int
    order_line_id: int
    return_id: int
    photo_id: int
    sale_id: int
    hold_id: int
    partner_id: int
    key_id: int  # the partner's first API key
    import_id: int  # the partner's queued feed import

    def path_values(self) -> dict[str, object]:
        """What fills each path argument of a rule (a new argument name needs a line)."""
        return {
            "product_id": self.product_id,
            "order_id": self.order_id,
            "return_id": self.return_id,
            "photo_id": self.photo_id,
            "sale_id": self.sale_id,
            "hold_id": self.hold_id,
            "partner_id": self.partner_id,
            "key_id": self.key_id,
            "import_id": self.import_id,
            "user_id": self.users[OTHER].id,
            "team": "support",
            "name": "rma",  # a workflow's name
            "version": 1,  # its version 1: published, so never changed by a call here
        }


Body = Callable[[World, str], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    """A policy, and how to call the route so that its check is reached: `body` (of the
    caller) for unsafe methods (default: empty), `htmx` for pages whose refusals without
    JavaScript are a redirect back with a message (their status shows only to htmx)."""

    policy: Policy
    body: Body | None = None
    htmx: bool = False


def png() -> FileStorage:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (180, 30, 30)).save(out, format="PNG")
    out.seek(0)
    return FileStorage(out, "photo.png", content_type="image/png")


def photo_body(world: World, caller: str) -> dict[str, Any]:
    # A photo is checked before the return's owner is: without one, anyone gets 422.
    return {"photo": png()}


def stale_trigger_body(world: World, caller: str) -> dict[str, Any]:
    # Past the owner check, a stale version answers 409 before anything can move.
    return {"trigger": "cancel", "version": 999}


def declined_card_body(world: World, caller: str) -> dict[str, Any]:
    # The card is checked before the hold's owner is; a declined one buys nothing.
    return {"payment": {"card_number": CARD_DECLINED}}


def declined_card_form(world: World, caller: str) -> dict[str, Any]:
    return {"card_number": CARD_DECLINED}


def return_body(world: World, caller: str) -> dict[str, Any]:
    # The customer's order referenced in the body: someone else's answers 404 (CONTRACT §3.1).
    return {
        "order_id": world.order_id,
        "reason": "damaged",
        "description": "cracked",
        "lines": [{"order_line_id": world.order_line_id, "quantity": 1}],
    }


def own_credentials(world: World, caller: str) -> dict[str, Any]:
    # Wrong credentials answer 401 by design; signing in as oneself changes no one's session.
    user = world.users.get(caller, world.users["customer"])
    return {"username": user.username, "password": PASSWORD}


def current_password(world: World, caller: str) -> dict[str, Any]:
    # A wrong current password would count as a failed sign-in; a blank new one is refused.
    return {"current_password": PASSWORD}


ROUTES: dict[str, Policy | Route] = {
    # Monitoring
    "monitoring.health": PUBLIC,
    "monitoring.live": PUBLIC,
    "metrics.scrape": METRICS,
    "monitoring_returns.analytics": STAFF,
    "monitoring_returns.export": STAFF,
    "dashboard.page": STAFF,
    "logs.index": ADMIN,
    "logs.export_csv": ADMIN,
    "logs.export_jsonl": ADMIN,
    # Sign-in and the storefront
    "auth.login": Route(PUBLIC, body=own_credentials),
    "auth.logout": PUBLIC,
    "auth.register": PUBLIC,
    "auth.password": Route(SIGNED_IN, body=current_password),
    "catalog.home": PUBLIC,
    "catalog.index": PUBLIC,
    "catalog.show": PUBLIC,
    "cart.index": SHOPPERS,
    "cart.badge": PUBLIC,  # a count (0 for staff); the nav shows it only to shoppers
    "cart.add": SHOPPERS,
    "cart.update": SHOPPERS,
    "cart.remove": SHOPPERS,
    "cart.checkout": CUSTOMER_ACCOUNTS,
    "flash_sales.index": PUBLIC,
    "flash_sales.reserve_units": Route(CUSTOMER_ACCOUNTS, htmx=True),
    "flash_sales.pay": Route(OWNER, body=declined_card_form, htmx=True),
    "flash_sales.release": Route(OWNER, htmx=True),
    # Orders and returns (customers)
    "orders.index": SIGNED_IN,
    "orders.show": OWNER_OR_STAFF,
    "returns.index": SIGNED_IN,
    "returns.read_notices": CUSTOMERS,
    "returns.new": OWNER,
    "returns.create": OWNER,
    "returns.show": OWNER_OR_STAFF,
    "returns.fire": OWNER_OR_ADMIN,
    "returns.add_photo": Route(OWNER_OR_ADMIN, body=photo_body),
    "returns.photo": PHOTO,
    # Staff
    "staff.home": STAFF,
    "staff_returns.nav_link": STAFF,
    "staff_returns.queue": SUPPORT_TEAM,
    "staff_returns.show": STAFF,
    "staff_returns.fire": STAFF,
    # Admin
    "admin.products": ADMIN,
    "admin.product_new": ADMIN,
    "admin.product_create": ADMIN,
    "admin.product_edit": ADMIN,
    "admin.product_update": ADMIN,
    "admin.product_active": ADMIN,
    "admin.users": ADMIN,
    "admin.user_create": ADMIN,
    "admin.user_active": ADMIN,
    "admin.user_password": ADMIN,
    "admin_flash_sales.index": ADMIN,
    "admin_flash_sales.new": ADMIN,
    "admin_flash_sales.create": ADMIN,
    "admin_flash_sales.show": ADMIN,
    "admin_flash_sales.edit": ADMIN,
    "admin_flash_sales.update": ADMIN,
    "admin_flash_sales.cancel": ADMIN,
    "admin_flash_sales.products": ADMIN,
    "admin_flash_sales.row": ADMIN,
    "admin_flash_sales.utc": ADMIN,
    "admin.workflow_draft_new": ADMIN,
    "admin.workflow_edit": ADMIN,
    "admin.workflow_validate": ADMIN,
    "admin.workflow_save": ADMIN,
    "admin.workflow_publish": ADMIN,
    "admin.workflows": ADMIN,
    "admin.workflow": ADMIN,
    "admin.workflow_version": ADMIN,
    "admin.workflow_migration": ADMIN,
    "admin.partners": ADMIN,
    "admin.partner_create": ADMIN,
    "admin.partner": ADMIN,
    "admin.partner_update": ADMIN,
    "admin.partner_key_issue": ADMIN,
    "admin.partner_key_revoke_confirm": ADMIN,
    "admin.partner_key_revoke": ADMIN,
    "admin.partner_import_create": ADMIN,
    "admin.partner_import": ADMIN,
    "admin.partner_import_approve": ADMIN,
    "admin.partner_import_reject": ADMIN,
    "admin.partner_import_for_real": ADMIN,
    "admin.partner_import_rejected_csv": ADMIN,
    # The JSON API
    "api.auth_token": PUBLIC,
    "api.user_register": PUBLIC,
    "api.user_create": ADMIN,
    "api.products_index": PUBLIC,
    "api.product_show": PUBLIC,
    "api.product_create": ADMIN,
    "api.product_update": ADMIN,
    "api.order_create": CUSTOMERS,
    "api.orders_index": SIGNED_IN,
    "api.order_show": OWNER_OR_STAFF,
    "api.store_credit": CUSTOMERS,
    "api.breakers": STAFF,
    "api.return_create": Route(OWNER, body=return_body),
    "api.returns_index": SIGNED_IN,
    "api.return_show": OWNER_OR_STAFF,
    "api.return_transition": Route(OWNER_OR_STAFF, body=stale_trigger_body),
    "api.return_photo_create": Route(OWNER_OR_STAFF, body=photo_body),
    "api.return_photo": PHOTO,
    "api.queue": SUPPORT_TEAM,
    "api.flash_sales_index": PUBLIC,
    "api.flash_sale_show": PUBLIC,
    "api.flash_sale_create": ADMIN,
    "api.flash_sale_cancel": ADMIN,
    "api.flash_reserve": CUSTOMERS,
    "api.reservation_checkout": Route(OWNER, body=declined_card_body),
    "api.reservation_release": OWNER,
    "api.workflow_show": ADMIN,
    "api.workflow_version_show": ADMIN,
    "api.workflow_version_create": ADMIN,
    "api.workflow_version_update": ADMIN,
    "api.workflow_version_publish": ADMIN,
    "api.workflow_migration": ADMIN,
    # Partner feeds: admins, or the partner by X-API-Key (tests/api covers the key)
    "api.partner_create": ADMIN,
    "api.partners_index": ADMIN,
    "api.partner_show": ADMIN,
    "api.partner_update": ADMIN,
    "api.partner_key_create": ADMIN,
    "api.partner_key_revoke": ADMIN,
    "api.feed_create": ADMIN,
    "api.feeds_index": ADMIN,
    "api.feed_show": ADMIN,
    "api.feed_changes": ADMIN,
    "api.feed_rejected_csv": ADMIN,
    "api.feed_approve": ADMIN,
    "api.feed_reject": ADMIN,
    "api.feed_import_dry_run": ADMIN,
}
# (endpoint, method, caller) -> what is wrong. Its endpoint's test is a strict xfail.
KNOWN_DEFECTS: dict[tuple[str, str, str], str] = {}
IGNORED = {"static"}


class KnownDefect(AssertionError):
    """Only the cases listed in KNOWN_DEFECTS failed."""


def as_route(entry: Policy | Route) -> Route:
    return entry if isinstance(entry, Route) else Route(entry)


def endpoint_params() -> list[Any]:
    params = []
    for endpoint in ROUTES:
        defects = {why: 1 for (name, _, _), why in KNOWN_DEFECTS.items() if name == endpoint}
        marks = [pytest.mark.xfail(strict=True, raises=KnownDefect, reason="; ".join(defects))]
        params.append(pytest.param(endpoint, id=endpoint, marks=marks if defects else ()))
    return params


class CompiledTemplates(BytecodeCache):
    """Compiled templates kept for every app of this module: each test builds a new app,
    and compiling its templates again would be most of this module's time."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.compiled:  # the bucket checks the source's checksum
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATES = CompiledTemplates()


@pytest.fixture
def access_app(make_app: Callable[..., Flask]) -> Flask:
    """The app with METRICS_TOKEN set, and a flash budget no caller here can exhaust."""
    app = make_app(metrics_token=METRICS_TOKEN, flash_rate_limit="1000 per minute")
    app.jinja_env.bytecode_cache = TEMPLATES
    return app


def build_world(app: Flask, session: Session) -> World:
    users = {role: make_user(session, role) for role in ROLES}
    users[OTHER] = make_user(session, "customer")
    customer = users["customer"]
    product = make_product(session, stock=20, price_cents=2500)
    order = make_paid_order(session, app.extensions["backroom.payments"], customer, product)
    now = utcnow()
    record = create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason="damaged",
        description="cracked",
        lines=[LineRequest(order.lines[0].id, 1)],
        now=now,
    )
    upload_dir = app.config["BACKROOM"].upload_dir
    photo = save_return_photo(session, customer, record.id, png().read(), upload_dir=upload_dir)
    on_sale = make_product(session, stock=10, price_cents=5000)
    sale = create_sale(
        session,
        name="Access check sale",
        starts_at=now - timedelta(seconds=5),
        ends_at=now + timedelta(hours=1),
        items=[SaleItemInput(on_sale.id, 3500, 5, 2)],
        now=now,
        created_by=users["admin"].id,
    )
    hold = reserve(session, sale_id=sale.id, product_id=on_sale.id, customer_id=customer.id,
                   quantity=1, now=now, ttl_seconds=600)  # fmt: skip
    partner, _ = make_partner(session, users["admin"], name="Access check partner")
    feed = queue_feed(session, partner, b"sku,name,price\nA-1,Mug,1.00\n", upload_dir)
    return World(users, product.id, order.id, order.lines[0].id, record.id, photo.id, sale.id,
                 hold.id, partner.id, first_key_id(session, partner.id),
                 feed.id)  # fmt: skip


def first_key_id(session: Session, partner_id: int) -> int:
    query = select(PartnerKey.id).where(PartnerKey.partner_id == partner_id)
    return session.scalars(query).one()


@dataclass
class Callers:
    """One client per caller, signed in once (pages) or with a bearer token (API)."""

    app: Flask
    world: World
    pages: dict[str, tuple[FlaskClient, str]] = field(default_factory=dict)

    def page_client(self, caller: str) -> tuple[FlaskClient, str]:
        if caller not in self.pages:
            client = self.app.test_client()
            user = self.world.users.get(caller)
            token = sign_in(client, user) if user is not None else csrf_token(client, "/login")
            self.pages[caller] = (client, token)
        return self.pages[caller]

    def call(self, route: Route, url: str, method: str, caller: str) -> TestResponse:
        unsafe = method in ("POST", "PUT", "PATCH", "DELETE")
        body = route.body(self.world, caller) if unsafe and route.body else {}
        headers: dict[str, str] = {}
        if caller == "metrics_token":
            headers["Authorization"] = f"Bearer {METRICS_TOKEN}"
        if url.startswith("/api/"):
            client = self.app.test_client()
            user = self.world.users.get(caller)
            if user is not None:
                headers["Authorization"] = f"Bearer {issue_token(user, SECRET)}"
            if not unsafe or method == "DELETE":
                return client.open(url, method=method, headers=headers)
            if any(isinstance(value, FileStorage) for value in body.values()):
                return _multipart(client, url, method, headers, body)
            return client.open(url, method=method, headers=headers, json=body)
        client, token = self.page_client("anonymous" if caller == "metrics_token" else caller)
        if route.htmx:
            headers["HX-Request"] = "true"
        if not unsafe:
            return client.open(url, method=method, headers=headers)
        return _multipart(client, url, method, headers, {"csrf_token": token, **body})


def _multipart(
    client: FlaskClient, url: str, method: str, headers: dict[str, str], body: dict[str, Any]
) -> TestResponse:
    """A form post encoded in memory (the test client would spool files nobody closes)."""
    boundary, data = encode_multipart(body)
    return client.open(url, method=method, headers=headers, data=data,
                       content_type=f"multipart/form-data; boundary={boundary}")  # fmt: skip


def signs_in(response: TestResponse) -> bool:
    """A redirect to /login that brings the visitor back (`next`), as access checks send."""
    target = response.headers.get("HX-Redirect") or (
        response.headers.get("Location", "") if response.status_code in (302, 303) else ""
    )
    parsed = urlparse(target)
    return parsed.path == "/login" and "next" in parse_qs(parsed.query)


def error_of(response: TestResponse) -> dict[str, Any]:
    """CONTRACT's JSON error of the response (empty for anything else)."""
    body = response.get_json(silent=True) if response.is_json else None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def describe(response: TestResponse) -> str:
    status = str(response.status_code)
    if signs_in(response):
        return f"{status} to sign in"
    if response.is_json:
        return f"{status} {error_of(response).get('code', '')}".strip()
    location = response.headers.get("Location") or response.headers.get("HX-Redirect")
    return f"{status} {location}" if location else status


def refused_csrf(response: TestResponse) -> bool:
    if response.is_json:
        return bool(error_of(response).get("details", {}).get("reason") == "csrf")
    return "came from another site" in response.get_data(as_text=True)  # views/errors.py


def problem(response: TestResponse, expected: str, api: bool) -> str | None:
    """Why the answer is not `expected`, or None. htmx alerts keep their status in a header."""
    status = response.status_code
    got = describe(response)
    if status == 500:
        return f"crashed ({got})"
    if status == 400 and refused_csrf(response):
        return f"the test's CSRF token was refused ({got}): access went unchecked"
    if expected == OK:
        refused = signs_in(response) or status in (401, 403, 404, 429)
        return f"expected access, got {got}" if refused else None
    if expected == SIGN_IN and not api:
        return None if signs_in(response) else f"expected a redirect to sign in, got {got}"
    code = UNAUTHORIZED if expected == SIGN_IN else expected
    if status != STATUS[code]:
        return f"expected {STATUS[code]} {code}, got {got}"
    if response.is_json and error_of(response).get("code") != code:
        return f"expected the error code {code}, got {got}"
    return None


def test_it_has_an_access_policy_for_every_route(access_app: Flask) -> None:
    endpoints = {rule.endpoint for rule in access_app.url_map.iter_rules()} - IGNORED
    missing = sorted(endpoints - ROUTES.keys())
    assert not missing, (
        f"routes without an access policy: {missing}. Add each to ROUTES in "
        "tests/views/test_route_access.py with who may call it (PUBLIC, SIGNED_IN, CUSTOMERS, "
        "OWNER_OR_STAFF, STAFF, ADMIN, ... or a new policy)."
    )
    gone = sorted(ROUTES.keys() - endpoints)
    assert not gone, f"ROUTES names endpoints that no longer exist: {gone}; remove them."
    unknown = sorted({key for key in KNOWN_DEFECTS if key[0] not in ROUTES})
    assert not unknown, f"KNOWN_DEFECTS names endpoints not in ROUTES: {unknown}"


@pytest.mark.parametrize("endpoint", endpoint_params())
def test_it_answers_each_caller_as_the_route_policy_says(
    endpoint: str, access_app: Flask, session: Session
) -> None:
    route = as_route(ROUTES[endpoint])
    rules = [rule for rule in access_app.url_map.iter_rules() if rule.endpoint == endpoint]
    assert rules, f"{endpoint} is in ROUTES but is no longer a route: remove it"
    world = build_world(access_app, session)
    callers = Callers(access_app, world)
    adapter = access_app.url_map.bind("localhost")
    values = world.path_values()
    # Refusals first, on the objects as built: a call let through may change them (open a
    # return, release a hold, cancel a sale).
    order = sorted(route.policy.expect.items(), key=lambda item: item[1] == OK)
    failures: list[str] = []
    defects: list[str] = []
    for rule in rules:
        unknown = sorted(rule.arguments - values.keys())
        assert not unknown, f"{rule.rule}: add {unknown} to World.path_values"
        url = adapter.build(endpoint, {name: values[name] for name in rule.arguments})
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for caller, expected in order:
                response = callers.call(route, url, method, caller)
                trouble = problem(response, expected, url.startswith("/api/"))
                response.close()  # a photo's file stays open until then
                if trouble is None:
                    continue
                line = f"{method} {url} as {caller} ({route.policy.name}): {trouble}"
                known = (endpoint, method, caller) in KNOWN_DEFECTS
                (defects if known else failures).append(line)
    assert not failures, "\n".join(failures)
    if defects:
        raise KnownDefect("\n".join(defects))
