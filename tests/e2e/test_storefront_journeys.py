"""A customer and an admin use the real site in Chromium, as people would."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def test_a_customer_searches_fills_a_cart_without_reloads_and_pays(page):
    sign_in(page, "customer", "customer-demo-2026")
    assert page.url.endswith("/products")
    assert page.locator(".who-name").inner_text() == "Casey Customer"

    # Search narrows the results in place (htmx), and the URL follows.
    page.fill("#catalog-q", "knife")
    page.wait_for_url(re.compile(r"q=knife"))
    results = page.locator("#catalog-results")
    results.get_by_text("Chef's Knife 8in").first.wait_for()
    assert "Cast Iron Skillet" not in results.inner_text()

    page.get_by_role("link", name="Chef's Knife 8in").first.click()
    page.wait_for_url(re.compile(r"/products/\d+$"))
    page.get_by_role("button", name=re.compile("Add to cart")).click()
    page.locator(".add-status").filter(has_text=re.compile("cart", re.I)).wait_for()
    page.wait_for_function("document.querySelector('.cart-link').innerText.includes('1')")

    page.goto("/cart")
    marker = page.evaluate("() => (window.__notReloaded = true)")
    assert marker is True
    quantity = page.locator(".qty-input").first
    quantity.fill("2")
    quantity.dispatch_event("change")
    page.locator("#cart-table").get_by_text("$118.00").first.wait_for()
    assert page.evaluate("() => window.__notReloaded") is True  # no page reload happened

    page.fill("input[name=card_number]", "4242 4242 4242 4242")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r"/orders/\d+$"))
    body = page.locator("main").inner_text()
    assert "Paid" in body
    assert "$118.00" in body

    page.goto("/orders")
    assert "$118.00" in page.locator("main").inner_text()
    assert "$25.00" in page.locator("main").inner_text()  # the store-credit balance


def test_a_declined_card_keeps_the_cart_and_says_why(page):
    sign_in(page, "customer2", "customer2-demo-2026")
    page.goto("/products?q=kite")
    page.get_by_role("button", name=re.compile("Add to cart")).first.click()
    page.locator(".add-status").filter(has_text=re.compile("cart", re.I)).first.wait_for()
    page.goto("/cart")
    page.fill("input[name=card_number]", "4000000000000002")
    page.get_by_role("button", name="Place order").click()
    page.get_by_text(re.compile("declined", re.I)).first.wait_for()
    assert page.url.endswith("/cart") or "/cart" in page.url
    assert page.locator(".qty-input").count() == 1


def test_an_admin_adds_a_product_that_customers_then_find(page, browser, live_server):
    sign_in(page, "admin", "admin-demo-2026")
    assert page.url.endswith("/staff")
    page.goto("/admin/products")
    page.get_by_role("link", name="New product").click()
    page.fill("input[name=name]", "Copper Watering Can")
    page.fill("input[name=sku]", "E2E-CAN-1")
    page.fill("input[name=price]", "24.50")
    page.fill("input[name=stock]", "7")
    page.fill("input[name=category]", "Garden")
    page.get_by_role("button", name="Create product").click()
    page.get_by_text("Copper Watering Can").first.wait_for()
    # The admin browses the shop but does not shop: no cart, no Add to cart (issue 14).
    page.goto("/products?q=watering")
    page.locator("#catalog-results").get_by_text("Copper Watering Can").first.wait_for()
    assert page.locator(".cart-link").count() == 0
    assert page.get_by_role("button", name=re.compile("Add to cart")).count() == 0

    shopper = browser.new_context(base_url=live_server).new_page()
    sign_in(shopper, "customer2", "customer2-demo-2026")
    shopper.goto("/products?q=watering")
    text = shopper.locator("#catalog-results").inner_text()
    assert "Copper Watering Can" in text
    assert "$24.50" in text
    shopper.get_by_role("button", name=re.compile("Add to cart")).first.click()
    shopper.locator(".add-status").filter(has_text=re.compile("cart", re.I)).first.wait_for()
    shopper.context.close()


def test_pages_refuse_customers_where_staff_work(page):
    sign_in(page, "customer", "customer-demo-2026")
    response = page.goto("/admin/products")
    assert response is not None
    assert response.status == 403
    assert "script-src 'self'" in response.headers["content-security-policy"]
