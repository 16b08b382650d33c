"""The admin's flash-sale form in Chromium, on a desktop and a phone: find products by
name, add two, remove one, pick a time zone, type the times and see their UTC, fix an
error, save, and find the right UTC times on the sale's page (issue 14)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.axe import describe, violations
from tests.e2e.conftest import shot, sign_in

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api").expect  # the dev extra

# Each width sells other products on another day: a product is in one sale at a time.
CASES = {
    1280: ("wool throw", "Wool Throw Blanket", "headlamp", "Camping Headlamp", "2031-01-15"),
    375: ("candle", "Scented Candle Trio", "wall clock", "Wall Clock", "2031-02-18"),
}


def assert_fits(page: Any, width: int) -> None:
    """No sideways scroll: neither of the page nor of a table's box (rows become cards)."""
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    assert wide <= width, f"the page is {wide} px wide at {width} px"
    boxes = page.evaluate(
        "() => [...document.querySelectorAll('.table-wrap')]"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className)"
    )
    assert boxes == [], f"these scroll sideways at {width} px: {boxes}"


def assert_accessible(page: Any, where: str) -> None:
    found = violations(page)
    assert found == [], "\n".join(describe(where, found))


def add(page: Any, query: str, name: str) -> None:
    search = page.locator("#product-search")
    search.fill(query)
    result = page.locator("#product-results li", has_text=name)
    result.get_by_role("button", name=f"Add {name}").click()
    row = page.locator("#items-body tr", has_text=name)
    row.wait_for()
    # The cursor goes to the new row's sale price, ready to type.
    expect(row.get_by_label(f"Sale price ($) for {name}")).to_be_focused()
    page.locator("#product-search-status", has_text=f"Added {name}").wait_for()


@pytest.mark.parametrize("width", [1280, 375])
def test_an_admin_builds_a_sale_in_their_time_zone(page, width):
    query_a, name_a, query_b, name_b, day = CASES[width]
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, "admin", "admin-demo-2026")
    page.goto("/admin/flash-sales/new")
    page.wait_for_load_state("networkidle")

    # With no zone remembered, the page offers the browser's.
    tz = page.locator("#field-tz")
    browser_zone = page.evaluate("() => Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert tz.input_value() == browser_zone
    assert_accessible(page, f"empty form at {width}")
    assert_fits(page, width)

    page.locator("#product-search").fill("zzzz-no-such-thing")
    page.get_by_text("No active product matches").wait_for()
    add(page, query_a, name_a)
    add(page, query_b, name_b)
    # The matches follow the rows: an added product is no longer offered.
    match = page.locator("#product-results li", has_text=name_b)
    match.get_by_text("Already in this sale").wait_for()
    assert match.get_by_role("button").count() == 0
    assert page.locator("#items-body tr").count() == 2

    # Remove the first; focus moves to the remaining row's Remove.
    page.get_by_role("button", name=f"Remove {name_a}").click()
    assert page.locator("#items-body tr").count() == 1
    page.locator("#product-search-status", has_text=f"Removed {name_a}").wait_for()
    expect(page.get_by_role("button", name=f"Remove {name_b}")).to_be_focused()
    page.locator("#product-search").fill(query_a)  # and a removed one is offered again
    page.locator("#product-results li", has_text=name_a).get_by_role("button").wait_for()

    row = page.locator("#items-body tr", has_text=name_b)
    row.get_by_label(f"Sale price ($) for {name_b}").fill("10")
    row.get_by_label(f"Quantity for {name_b}").fill("2")
    row.get_by_label(f"Limit per customer for {name_b}").fill("1")

    tz.fill("America/New_York")
    page.locator("#field-tz-check", has_text="America/New_York is UTC-0").wait_for()
    page.locator("#field-starts_at").fill(f"{day}T09:00")
    page.locator("#field-ends_at").fill(f"{day}T11:30")
    page.locator("#field-starts_at-utc", has_text=f"= {day} 14:00 UTC").wait_for()
    page.locator("#field-ends_at-utc", has_text=f"= {day} 16:30 UTC").wait_for()
    assert_accessible(page, f"form with a row at {width}")
    assert_fits(page, width)
    shot(page, f"flash-admin-form-{width}")

    # No name: the form comes back with the error, every row and value kept.
    page.get_by_role("button", name="Create flash sale").click()
    page.wait_for_load_state("networkidle")
    page.get_by_text("Name is required").wait_for()
    assert page.locator("#items-body tr", has_text=name_b).count() == 1
    assert page.locator("#items-body tr").count() == 1
    assert page.locator("#field-tz").input_value() == "America/New_York"
    assert page.get_by_text(f"= {day} 14:00 UTC").count() == 1
    assert_accessible(page, f"form with errors at {width}")
    assert_fits(page, width)

    page.locator("#field-name").fill(f"Admin journey {width}")
    page.locator("#field-name").press("Enter")  # Enter in a field saves, as the button does
    page.wait_for_url(re.compile(r"/admin/flash-sales/\d+$"))
    page.get_by_text(f"Created Admin journey {width}").wait_for()
    window = page.locator("#flash-sale-live p.muted").first.inner_text()
    assert "09:00 EST → 11:30 EST (America/New_York)" in window
    assert "14:00 → 16:30 UTC" in window
    assert_accessible(page, f"sale page at {width}")
    assert_fits(page, width)
    shot(page, f"flash-admin-sale-{width}")

    # The zone is remembered for this admin's next sale.
    page.goto("/admin/flash-sales/new")
    assert page.locator("#field-tz").input_value() == "America/New_York"


def test_without_javascript_the_form_still_finds_adds_removes_and_saves(browser, live_server):
    """ARCHITECTURE: every form works without JS. Find, Add and Remove post the form, which
    comes back with everything typed; Enter finds (never saves by surprise); the button saves."""
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, "admin", "admin-demo-2026")
        page.goto("/admin/flash-sales/new")
        page.locator("#field-name").fill("Without scripts")
        page.locator("#field-tz").fill("Europe/Berlin")
        page.locator("#field-starts_at").fill("2031-03-10T09:00")
        page.locator("#field-ends_at").fill("2031-03-10T10:00")
        for query, name in (("chess", "Chess Set"), ("kite", "Kite")):
            page.locator("#product-search").fill(query)
            if name == "Kite":
                page.get_by_role("button", name="Find", exact=True).click()
            else:
                page.locator("#product-search").press("Enter")  # searches, saves nothing
            page.get_by_role("button", name=f"Add {name}").click()
            page.locator("#product-search-status", has_text=f"Added {name}").wait_for()
            expect(page.get_by_label(f"Sale price ($) for {name}")).to_be_focused()
        assert page.locator("#items-body tr").count() == 2
        assert page.locator("#field-name").input_value() == "Without scripts"  # kept
        page.get_by_role("button", name="Remove Chess Set").click()
        page.locator("#product-search-status", has_text="Removed Chess Set").wait_for()
        assert page.locator("#items-body tr").count() == 1
        row = page.locator("#items-body tr", has_text="Kite")
        row.get_by_label("Sale price ($) for Kite").fill("5")
        row.get_by_label("Quantity for Kite").fill("1")
        row.get_by_label("Limit per customer for Kite").fill("1")
        page.get_by_role("button", name="Create flash sale").click()
        page.wait_for_url(re.compile(r"/admin/flash-sales/\d+$"))
        page.get_by_text("Created Without scripts").wait_for()
        assert "09:00 CET → 10:00 CET (Europe/Berlin)" in page.locator("main").inner_text()
    finally:
        context.close()
