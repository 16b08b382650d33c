"""axe-core in Chromium on every page, for every role, at 1280 and 375 px (issue 14): no
serious or critical violation (WCAG 2.2 A/AA and axe's best practices). The pages of
CONTRACT §4, the pages they lead to (a sale, a partner and its import, a draft workflow and
its editor, the forms), and the states people meet: errors shown beside fields, the page's
confirmation dialog open, a queue action opened, a declined card, a held flash-sale unit.
The pages beyond §4's (which the phone tour holds to fit a phone) are held to it here."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.axe import describe, violations
from tests.e2e.conftest import sign_in
from tests.e2e.test_flash_sales_journeys import api
from tests.e2e.test_pages_phone import ROLES, SIDEWAYS, TEAMS, WIDTHS, Data, data, pages_for

pytestmark = pytest.mark.e2e
__all__ = ["data"]  # the phone tour's set-up, reused: orders and a return in each queue
SALE_PRODUCT = "Puzzle 1000 Pieces"  # in no other browser test's sale
FEED = b"sku,name,price,stock\nA11Y-1,Accessible lamp,19.99,4\nA11Y-2,,oops,-1\n"


def sign_token(base: str, username: str) -> str:
    body = {"username": username, "password": f"{username}-demo-2026"}
    return str(api(base, "POST", "/auth/token", body)["token"])


@dataclass(frozen=True)
class More:
    """What the pages beyond CONTRACT §4 need: a live sale, a partner with an import that
    rejected a row, a draft of the returns workflow."""

    sale: int
    partner: int
    feed_import: int
    draft: int


def upload_feed(base: str, key: str) -> int:
    request = urllib.request.Request(
        base + "/api/v1/feeds",
        data=FEED,
        method="POST",
        headers={"Content-Type": "text/csv", "X-API-Key": key},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # the live server
        return int(json.loads(response.read())["id"])


@pytest.fixture(scope="module")
def more(live_server: str, data: Data) -> Iterator[More]:
    base = live_server
    admin = sign_token(base, "admin")
    products = api(base, "GET", "/products?q=Puzzle")["items"]
    product = next(p for p in products if p["name"] == SALE_PRODUCT)
    now = datetime.now(UTC)
    item = {"product_id": product["id"], "sale_price_cents": product["price_cents"] // 2,
            "quantity": 3, "per_customer_limit": 1}  # fmt: skip
    body = {"name": "Accessible deals", "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(), "items": [item]}  # fmt: skip
    sale = api(base, "POST", "/flash-sales", body, admin)
    partner = api(base, "POST", "/partners", {"name": "Axe Supplies"}, admin)
    feed_import = upload_feed(base, partner["api_key"])
    published = api(base, "GET", "/workflows/rma/versions/1", token=admin)
    body = {"definition": published["definition"]}
    draft = api(base, "POST", "/workflows/rma/versions", body, admin)
    yield More(sale["id"], partner["id"], feed_import, draft["version"])
    api(base, "POST", f"/flash-sales/{sale['id']}/cancel", {}, admin)


def beyond(role: str, data: Data, more: More) -> list[str]:
    """The pages §4's pages lead to, for this role."""
    pages = ["/", "/products/2147483647"]  # the shop's front door and its 404 page
    if role in ("visitor",):
        return pages
    pages.append("/account/password")
    if role == "customer":
        pages.append(f"/orders/{data.order}/returns/new")
    if role == "admin":
        pages += [f"/admin/flash-sales/{more.sale}", "/admin/flash-sales/new"]
        partner = f"/admin/partners/{more.partner}"
        pages += [partner, f"{partner}/imports/{more.feed_import}"]
        pages.append(f"/admin/products/{data.product}")
        draft = f"/admin/workflows/rma/versions/{more.draft}"
        pages += ["/admin/workflows/rma", "/admin/workflows/rma/versions/1", draft]
        pages += [f"{draft}/edit", f"{draft}/publish", "/admin/workflows/rma/migrate"]
    return pages


def sign_in_as(page: Any, username: str) -> None:
    """Signs out whoever the page was signed in as (its cookies), then signs in."""
    page.context.clear_cookies()
    sign_in(page, username, f"{username}-demo-2026")


def scan(page: Any, where: str) -> list[str]:
    """The page at both widths (a phone lays it out anew: stacked tables, the menu). The
    pages beyond §4's, which the phone tour does not open, are held to fit here too: nothing
    scrolls sideways, the page or a table in its box."""
    found: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900 if width > 600 else 800})
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(null)))")
        found += describe(f"{where} at {width}", violations(page))
        found += [f"{where} at {width}: {p}" for p in page.evaluate(SIDEWAYS)]
    return found


@pytest.fixture
def signed_in(browser: Any, live_server: str) -> Iterator[Any]:
    """A fresh context per test (what the test signs in as stays its own)."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.mark.parametrize("role", ROLES)
def test_no_page_has_a_serious_violation(signed_in: Any, data: Data, more: More, role: str):
    page = signed_in
    if role != "visitor":
        sign_in_as(page, role)
    paths = dict.fromkeys([path for path, _ in pages_for(role, data)] + beyond(role, data, more))
    if role == "admin":  # pages an admin reaches by a link: a user's password, revoking a key
        links = {"/admin/users": "/password", f"/admin/partners/{more.partner}": "/revoke"}
        for where, ending in links.items():
            page.goto(where)
            link = page.locator(f"main a[href$='{ending}']").first
            paths[str(link.get_attribute("href"))] = None
    found: list[str] = []
    for path in paths:
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(path)
        page.wait_for_load_state("load")
        found += scan(page, f"{role} {path}")
    assert found == [], "\n".join(found)


def test_forms_showing_their_errors_have_no_serious_violation(signed_in: Any, data: Data):
    page = signed_in
    found: list[str] = []
    page.goto("/login")
    page.fill("input[name=username]", "customer")
    page.fill("input[name=password]", "not the password")
    page.locator("form button[type=submit]").first.click()
    page.locator(".alert-error").first.wait_for()
    found += scan(page, "sign-in refused")
    page.goto("/register")
    page.locator("main form button[type=submit]").first.click()
    page.locator(".field-error").first.wait_for()
    found += scan(page, "register with empty fields")
    sign_in_as(page, "customer")
    page.goto(f"/orders/{data.order}/returns/new")
    page.locator("main form button[type=submit]").last.click()
    page.locator(".field-error, .alert-error").first.wait_for()
    found += scan(page, "return form with nothing chosen")
    page.goto("/products")
    page.get_by_role("button", name="Add to cart").first.click()
    page.goto("/cart")
    page.get_by_label("Card number").fill("4000000000000002")  # the demo's declined card
    page.get_by_role("button", name="Place order").click()
    page.locator(".alert-error").first.wait_for()
    found += scan(page, "checkout declined")
    sign_in_as(page, "admin")
    page.goto("/admin/products/new")
    page.locator("main form button[type=submit]").first.click()
    page.locator(".field-error").first.wait_for()
    found += scan(page, "new product with empty fields")
    assert found == [], "\n".join(found)


def test_live_states_have_no_serious_violation(signed_in: Any, data: Data, more: More):
    """A held flash-sale unit, a queue's action form opened, the confirmation dialog open."""
    page = signed_in
    found: list[str] = []
    sign_in_as(page, "customer2")
    page.goto("/flash-sales")
    page.get_by_role("button", name="Reserve").first.click()
    page.locator("#flash-notice .alert").first.wait_for()
    found += scan(page, "flash sale with a hold")
    sign_in_as(page, "support")
    page.goto(f"/staff/queues/{TEAMS[0]}")
    page.locator("#queue-table .queue-actions summary").first.click()
    found += scan(page, "support queue with an action opened")
    page.goto(f"/staff/returns/{data.returns['support']}")
    page.get_by_label("Reject: reason for the customer").fill("Outside the window.")
    page.get_by_role("button", name="Reject").first.click()
    dialog = page.get_by_role("alertdialog", name="Please confirm")
    dialog.wait_for()
    found += describe("confirmation dialog open", violations(page))
    dialog.get_by_role("button", name="Cancel").click()
    assert found == [], "\n".join(found)
