"""Flash sales in Chromium: a sale scheduled a few seconds ahead starts by itself on the
customer's page, is reserved and paid for, and the shop shows its price while it is on."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import no_sideways_scroll, shot, sign_in

pytestmark = pytest.mark.e2e


def api(base: str, method: str, path: str, body: dict | None = None, token: str = "") -> dict:
    request = urllib.request.Request(
        base + "/api/v1" + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # the live server, loopback
        return json.loads(response.read() or b"{}")


def schedule_sale(
    base: str, *, starts_in: float, lasts: float, name: str, limit: int = 2, pick: int = 0
) -> tuple[dict, dict]:
    """A sale of 3 units of the `pick`-th product that fits (a product is in one sale at a
    time, so tests that run together pick different ones)."""
    token = api(base, "POST", "/auth/token", {"username": "admin", "password": "admin-demo-2026"})
    products = api(base, "GET", "/products?per_page=50")["items"]
    product = [p for p in products if p["stock"] >= 10 and p["price_cents"] > 1000][pick]
    now = datetime.now(UTC)
    sale = api(
        base,
        "POST",
        "/flash-sales",
        {
            "name": name,
            "starts_at": (now + timedelta(seconds=starts_in)).isoformat(),
            "ends_at": (now + timedelta(seconds=starts_in + lasts)).isoformat(),
            "items": [
                {
                    "product_id": product["id"],
                    "sale_price_cents": product["price_cents"] // 2,
                    "quantity": 3,
                    "per_customer_limit": limit,
                }
            ],
        },
        token["token"],
    )
    return sale, product


def test_a_customer_watches_a_sale_start_reserves_and_pays(page, live_server):
    _sale, product = schedule_sale(live_server, starts_in=12, lasts=600, name="Browser flash")
    sign_in(page, "customer", "customer-demo-2026")
    page.goto("/flash-sales")
    upcoming = page.locator(".flash-sale", has_text="Browser flash")
    upcoming.get_by_text("Upcoming").wait_for()
    countdown = upcoming.locator("[data-countdown]")
    first = countdown.inner_text()
    page.wait_for_timeout(2200)
    assert countdown.inner_text() != first  # it ticks between polls

    # Without a reload: the region's poll brings the sale in when it starts.
    page.evaluate("() => (window.__notReloaded = true)")
    live = page.locator(".flash-sale", has_text="Browser flash").filter(has_text="Live")
    live.wait_for(timeout=20_000)
    assert page.evaluate("() => window.__notReloaded") is True
    half = f"${product['price_cents'] // 2 // 100}"
    assert half in live.inner_text()

    live.get_by_role("button", name="Reserve").click()
    holds = page.locator(".flash-holds")
    holds.get_by_text(re.compile("Held for")).wait_for()
    assert "2 of 3 left" in live.inner_text()  # one unit is on hold now
    holds.get_by_label("Card number").fill("4242 4242 4242 4242")
    holds.get_by_role("button", name=re.compile("^Pay ")).click()
    page.wait_for_url(re.compile(r"/orders/\d+$"))
    assert "Paid" in page.locator("body").inner_text()

    # The shop shows the sale price while the sale is on.
    page.goto(f"/products/{product['id']}")
    assert page.locator(".flash-badge").first.is_visible()


def test_an_admin_schedules_a_sale_that_starts_and_ends_on_time(page, live_server):
    sign_in(page, "admin", "admin-demo-2026")
    page.goto("/admin/flash-sales/new")
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now + timedelta(seconds=8), now + timedelta(seconds=20)
    page.fill("#field-name", "Admin's quick sale")
    page.fill("#field-tz", "UTC")  # the page offers the browser's zone; these times are UTC
    page.fill("#field-starts_at", start.strftime("%Y-%m-%dT%H:%M:%S"))
    page.fill("#field-ends_at", end.strftime("%Y-%m-%dT%H:%M:%S"))
    page.fill("#product-search", "tamper")
    page.get_by_role("button", name="Add Espresso Tamper 58mm").click()
    page.fill("input[name='items-0-sale_price']", "1.00")
    page.fill("input[name='items-0-quantity']", "2")
    page.fill("input[name='items-0-per_customer_limit']", "1")
    page.get_by_role("button", name=re.compile("Create", re.I)).click()
    page.wait_for_url(re.compile(r"/admin/flash-sales/\d+$"))
    status = page.locator("#flash-sale-status")
    assert "Scheduled" in status.inner_text()

    # The live page follows both boundaries by itself (polls every 5 s; the state is
    # computed from the sale's times, so it is right as soon as a poll asks).
    status.locator("[data-state=active]").wait_for(timeout=20_000)
    assert datetime.now(UTC) >= start
    status.locator("[data-state=ended]").wait_for(timeout=25_000)
    assert datetime.now(UTC) - end < timedelta(seconds=7)


def test_on_a_phone_a_declined_card_then_the_limit_read_right(page, browser, live_server):
    _sale, product = schedule_sale(live_server, starts_in=-1, lasts=600, name="Phone flash",
                                   limit=1, pick=1)  # fmt: skip
    sign_in(page, "customer2", "customer2-demo-2026")
    page.goto("/flash-sales")
    sale = page.locator(".flash-sale", has_text="Phone flash")
    picker = sale.get_by_label("Quantity")
    assert picker.evaluate("el => getComputedStyle(el).borderTopLeftRadius") == "8px"  # .field
    shot(page, "flash-sales-1280")
    page.set_viewport_size({"width": 375, "height": 800})
    sale.get_by_role("button", name="Reserve").click()
    page.locator("#flash-notice").get_by_text("Reserved").wait_for()
    holds = page.locator(".flash-holds")
    card = holds.get_by_label("Card number")
    assert card.evaluate("el => getComputedStyle(el).borderTopLeftRadius") == "8px"  # .field
    assert no_sideways_scroll(page)
    shot(page, "flash-sales-375-reserved")

    card.fill("4000 0000 0000 0002")
    holds.get_by_role("button", name=re.compile("^Pay ")).click()
    page.locator("#alerts").get_by_text(re.compile("declined", re.I)).wait_for()
    assert page.locator("#flash-notice").inner_text().strip() == ""  # no "Done: Reserved"
    assert page.get_by_text("Done:").count() == 0
    shot(page, "flash-sales-375-declined")

    holds.get_by_label("Card number").fill("4242 4242 4242 4242")
    holds.get_by_role("button", name=re.compile("^Pay ")).click()
    page.wait_for_url(re.compile(r"/orders/\d+$"))
    page.goto("/flash-sales")
    item = page.locator(".flash-sale", has_text="Phone flash").locator(".flash-item")
    item.get_by_text("You have bought your limit (1).").wait_for()
    assert item.get_by_role("button", name="Reserve").count() == 0
    assert no_sideways_scroll(page)
    shot(page, "flash-sales-375-limit")

    # An admin follows the sale but is offered no Reserve and no cart.
    admin = browser.new_context(base_url=live_server, viewport={"width": 375, "height": 800})
    staff = admin.new_page()
    sign_in(staff, "admin", "admin-demo-2026")
    staff.goto("/flash-sales")
    staff.locator(".flash-sale", has_text="Phone flash").wait_for()
    assert staff.get_by_role("button", name="Reserve").count() == 0
    assert staff.locator(".cart-link").count() == 0
    staff.goto(f"/products/{product['id']}")
    assert staff.get_by_role("button", name=re.compile("Add to cart")).count() == 0
    admin.close()
