"""Confirmations in Chromium: an action the workflow marks `confirm` asks in the page's own
dialog what will happen (never the browser's confirm); Cancel and Escape change nothing
and give focus back to the button, Confirm does it. At 1280 and 375 px."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import no_sideways_scroll, shot, sign_in
from tests.e2e.test_returns_journeys import api, paid_order

pytestmark = pytest.mark.e2e


def opened(base: str) -> dict[str, Any]:
    """The demo customer buys earbuds and asks to return them, through the API (set-up)."""
    order = paid_order(base, "Wireless Earbuds")
    login = {"username": "customer", "password": "customer-demo-2026"}
    token = api(base, "/api/v1/auth/token", login)["token"]
    body = {"order_id": order["id"], "reason": "damaged", "description": "Dented.",
            "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": 1}]}  # fmt: skip
    created: dict[str, Any] = api(base, "/api/v1/returns", body, token)
    return created


def focused_text(page: Any) -> str:
    return str(page.evaluate("() => document.activeElement && document.activeElement.innerText"))


def nothing_done(page: Any, dialog: Any, button: Any, badge: Any) -> None:
    """The question was turned down: the dialog closes, focus is back on the button, and
    the return stays as it was (a moment later too: nothing was sent)."""
    dialog.wait_for(state="hidden")
    assert button.evaluate("el => el === document.activeElement")
    page.wait_for_timeout(600)
    assert "Awaiting review" in badge.inner_text()


@pytest.mark.parametrize("width", [1280, 375])
def test_rejecting_asks_in_the_page_and_only_confirm_does_it(page, live_server, width):
    created = opened(live_server)
    number = created["number"]
    browser_dialogs: list[str] = []
    page.on("dialog", lambda d: (browser_dialogs.append(d.message), d.dismiss()))
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, "support", "support-demo-2026")
    page.goto(f"/staff/returns/{created['id']}")
    live = page.locator("#return-live")
    badge = live.locator(".status-head .badge")
    assert "Awaiting review" in badge.inner_text()
    live.get_by_label("Reject: reason for the customer").fill("Outside what we can take back.")
    reject = live.get_by_role("button", name=f"Reject {number}")
    dialog = page.get_by_role("alertdialog", name="Please confirm")
    question = (
        f"Reject {number}? The customer is told the reason you give, and the return is closed."
    )

    # Cancel: nothing is sent, focus goes back to the button.
    reject.click()
    dialog.wait_for()
    assert dialog.locator("#confirm-question").inner_text() == question
    assert focused_text(page) == "Cancel"  # the safe choice first
    assert no_sideways_scroll(page)
    shot(page, f"confirm-reject-{width}")
    dialog.get_by_role("button", name="Cancel").click()
    nothing_done(page, dialog, reject, badge)

    # Escape: the same.
    reject.click()
    dialog.wait_for()
    page.keyboard.press("Escape")
    nothing_done(page, dialog, reject, badge)

    # Confirm: the return is rejected, with the reason given.
    reject.click()
    dialog.wait_for()
    dialog.get_by_role("button", name="Confirm").click()
    live.locator(".status-head .badge", has_text="Rejected").wait_for()
    assert "Outside what we can take back." in page.locator("#return-events").inner_text()
    assert browser_dialogs == []


def test_a_customer_cancels_their_return_from_the_keyboard(page, live_server):
    created = opened(live_server)
    number = created["number"]
    browser_dialogs: list[str] = []
    page.on("dialog", lambda d: (browser_dialogs.append(d.message), d.dismiss()))
    sign_in(page, "customer", "customer-demo-2026")
    page.goto(f"/returns/{created['id']}")
    cancel = page.get_by_role("button", name=f"Cancel return {number}")
    cancel.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("alertdialog", name="Please confirm")
    dialog.wait_for()
    assert dialog.locator("#confirm-question").inner_text() == (
        f"Cancel return {number}? It is closed and nothing more happens to it."
    )
    page.keyboard.press("Tab")  # from Cancel to Confirm
    assert focused_text(page) == "Confirm"
    page.keyboard.press("Enter")
    page.locator("#return-live .status-head .badge", has_text="Cancelled").wait_for()
    assert browser_dialogs == []


def test_a_plain_form_asks_in_the_same_dialog_before_it_posts(page, live_server):
    """Cancelling a flash sale is a plain form (data-confirm): Cancel keeps the sale,
    Confirm posts the form."""
    from tests.e2e.test_flash_sales_journeys import schedule_sale

    sale, _ = schedule_sale(live_server, starts_in=3600, lasts=3600, name="Confirm me", pick=-1)
    browser_dialogs: list[str] = []
    page.on("dialog", lambda d: (browser_dialogs.append(d.message), d.dismiss()))
    sign_in(page, "admin", "admin-demo-2026")
    page.goto(f"/admin/flash-sales/{sale['id']}")
    cancel_sale = page.get_by_role("button", name="Cancel sale")
    dialog = page.get_by_role("alertdialog", name="Please confirm")
    cancel_sale.click()
    dialog.wait_for()
    assert dialog.locator("#confirm-question").inner_text().startswith("Cancel Confirm me?")
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="hidden")
    page.wait_for_timeout(500)
    assert page.url.endswith(f"/admin/flash-sales/{sale['id']}")
    assert cancel_sale.is_visible()

    cancel_sale.click()
    dialog.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state("networkidle")
    page.get_by_text("Cancelled").first.wait_for()
    assert cancel_sale.count() == 0
    assert browser_dialogs == []
