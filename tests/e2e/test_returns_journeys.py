"""A return taken through every disposition in Chromium: the customer asks for it on their
order (with a photo), support, warehouse and finance work it from their live queues and
the return page, and the customer's open page follows along without reloading."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.conftest import no_sideways_scroll, shot, sign_in

pytestmark = pytest.mark.e2e
LIVE = 15_000  # ms: a poll every 5 s, plus the refund job's 5 s tick, plus slack


def api(base: str, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def paid_order(base: str, product_name: str) -> dict[str, Any]:
    """The demo customer buys one unit through the API (set-up, not the journey)."""
    token = api(
        base, "/api/v1/auth/token", {"username": "customer", "password": "customer-demo-2026"}
    )["token"]
    query = urllib.parse.quote(product_name)
    with urllib.request.urlopen(f"{base}/api/v1/products?q={query}", timeout=10) as response:
        product = json.loads(response.read())["items"][0]
    body = {
        "lines": [{"product_id": product["id"], "quantity": 1}],
        "payment": {"card_number": "4242424242424242"},
    }
    return api(base, "/api/v1/orders", body, token)


@pytest.fixture(scope="module")
def team(browser: Any, live_server: str) -> Iterator[dict[str, Any]]:
    """Support, warehouse and finance each signed in once, in their own browser context."""
    pages: dict[str, Any] = {}
    errors: list[str] = []
    for role in ("support", "warehouse", "finance"):
        context = browser.new_context(base_url=live_server, viewport={"width": 1360, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        # Confirmations ask in the page's own dialog (`confirm`), never the browser's.
        page.on("dialog", lambda d: (errors.append(f"browser dialog: {d.message}"), d.dismiss()))
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(page, role, f"{role}-demo-2026")
        pages[role] = page
    yield pages
    for page in pages.values():
        page.context.close()
    assert errors == [], f"staff browser console errors: {errors}"


def request_return(page: Any, order: dict[str, Any], photo: Path | None = None) -> tuple[int, str]:
    """The customer opens the order, chooses Return items, fills the form, and lands on the
    return's page. Returns (id, number)."""
    page.goto(f"/orders/{order['id']}")
    page.get_by_role("link", name="Return items").click()
    page.wait_for_url(re.compile(r"/returns/new$"))
    check = page.locator("#return-check")
    assert "Yes" in check.inner_text()
    qty = page.locator(".qty-input").first
    qty.fill("2")  # more than was bought: the answer says so at once
    check.get_by_text("only 1 can still be returned").wait_for()
    qty.fill("1")
    check.get_by_text("1 item worth").wait_for()
    page.select_option("select[name=reason]", "damaged")
    page.fill("textarea[name=description]", "The box arrived crushed.")
    if photo is not None:
        page.set_input_files("input[name=photos]", str(photo))
    shot(page, "return-new")
    page.get_by_role("button", name="Request return").click()
    page.wait_for_url(re.compile(r"/returns/\d+$"))
    page.get_by_text(re.compile(r"Return RMA-\w+ is requested")).wait_for()
    number = page.locator("h1").inner_text().removeprefix("Return ").strip()
    return int(page.url.rsplit("/", 1)[1]), number


def in_queue(page: Any, team_name: str, number: str) -> Any:
    """The return's row in the team's queue, found with the queue's search."""
    page.goto(f"/staff/queues/{team_name}")
    page.fill("#queue-q", number)
    page.wait_for_url(re.compile(rf"q={number}"))
    rows = page.locator("#queue-table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1
    return rows.first


def confirm(page: Any, question: str) -> None:
    """The page's confirmation dialog asks `question`; say Confirm."""
    dialog = page.get_by_role("alertdialog", name="Please confirm")
    dialog.wait_for()
    assert dialog.locator("#confirm-question").inner_text() == question
    dialog.get_by_role("button", name="Confirm").click()
    dialog.wait_for(state="hidden")


def act(
    row: Any, label: str, fields: dict[str, str] | None = None, *, asks: str | None = None
) -> None:
    """Fire one action in a queue row: open its form if it has fields, fill, submit, and
    confirm when the page `asks` (the question it must ask)."""
    box = row
    if fields:
        box = row.locator("details").filter(has=row.page.locator("summary", has_text=label))
        box.locator("summary").click()
        for name, value in fields.items():
            field = box.locator(f"[name={name}]")
            if field.evaluate("el => el.tagName") == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)
    box.locator("button[type=submit]", has_text=label).click()
    if asks is not None:
        confirm(row.page, asks)


def moved(page: Any, number: str, words: str) -> None:
    """The queue says where the return went (the row itself goes at the next refresh)."""
    notice = page.locator("#queue-notice")
    notice.filter(has_text=number).filter(has_text=words).wait_for()


def live_state(page: Any, label: str, timeout: int = LIVE) -> None:
    page.locator("#return-live .status-head .badge", has_text=label).wait_for(timeout=timeout)


def reload_until(page: Any, path: str, label: str) -> None:
    """Open the page again until the state shows (quicker than waiting for the next poll)."""
    badge = page.locator("#return-live .status-head .badge", has_text=label)
    for _ in range(LIVE // 500):
        page.goto(path)
        if badge.count():
            return
        page.wait_for_timeout(500)
    badge.wait_for(timeout=1)


def ship_back(page: Any, return_id: int) -> None:
    page.goto(f"/returns/{return_id}")
    page.fill("input[name=carrier]", "DHL")
    page.fill("input[name=tracking_number]", f"JD{return_id:010d}")
    page.get_by_role("button", name="I have shipped it").click()
    live_state(page, "On its way back", timeout=5_000)


def inspect(team_pages: dict[str, Any], return_id: int, number: str, condition: str) -> None:
    warehouse = team_pages["warehouse"]
    act(in_queue(warehouse, "warehouse", number), "Mark received")
    row = warehouse.locator(f"#return-{return_id}")
    row.locator(".badge", has_text="Received").wait_for()
    act(row, "Start inspection")
    row.locator(".badge", has_text="Being inspected").wait_for()
    act(row, "Record inspection", {"condition": condition, "notes": "Checked on the bench."})
    moved(warehouse, number, "Inspected: awaiting decision")


def test_a_refund_goes_from_the_order_to_the_card_while_the_customer_watches(
    page, team, live_server, tmp_path
):
    order = paid_order(live_server, "Wireless Earbuds")
    photo = tmp_path / "crushed.png"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(photo)
    sign_in(page, "customer", "customer-demo-2026")
    return_id, number = request_return(page, order, photo)
    assert page.locator("#return-photos img").count() == 1
    page.set_input_files("#photo-upload", str(photo))  # one more, from the return's page
    page.get_by_role("button", name="Upload photo").click()
    page.locator("#return-photos img").nth(1).wait_for()
    assert "2 of 5" in page.locator("#return-photos h2").inner_text()
    assert page.locator(".step[aria-current=step]").inner_text().startswith("2")
    page.evaluate("() => (window.__notReloaded = true)")
    shot(page, "return-submitted")

    support = team["support"]
    row = in_queue(support, "support", number)
    assert "Arrived damaged" in row.inner_text()
    assert "Casey Customer (customer)" in row.inner_text()  # one display name everywhere
    # Counts are read at most once a second per web process, and the page may have come from
    # another one: a second later every process counts the new return.
    support.wait_for_timeout(1100)
    support.reload()
    waiting = int(support.locator("#nav-queues .count-pill").inner_text())
    shot(support, "queue-support")
    act(row, "Approve", {"note": "Sorry about that, please send it back."})
    moved(support, number, "waits on the customer")
    # HX-Trigger: queue-changed refreshes the nav count at once.
    support.locator("#nav-queues .count-pill", has_text=str(waiting - 1)).wait_for()

    # The customer's open page follows by itself.
    live_state(page, "Approved: ship it back")
    assert page.evaluate("() => window.__notReloaded") is True
    assert "Sorry about that" in page.locator("#return-timeline").inner_text()
    page.fill("input[name=carrier]", "DHL")
    page.fill("input[name=tracking_number]", "JD014600006281")
    page.get_by_role("button", name="I have shipped it").click()
    live_state(page, "On its way back", timeout=5_000)

    inspect(team, return_id, number, "like_new")
    staff_page = team["support"]
    staff_page.goto(f"/staff/returns/{return_id}")
    shown = staff_page.locator("#return-photos img").first
    shown.scroll_into_view_if_needed()
    staff_page.wait_for_function(
        "img => img.complete && img.naturalWidth === 64", arg=shown.element_handle()
    )
    assert staff_page.locator("#return-photos img").count() == 2
    facts = staff_page.locator("#return-facts").inner_text()
    assert "Like new" in facts
    assert "Checked on the bench." in facts
    assert "Within the return window" in staff_page.locator("#return-checks").inner_text()
    assert "Customer Casey Customer (customer)" in staff_page.locator(".page-head").inner_text()
    trail = staff_page.locator("#return-events").inner_text()
    assert "Casey Customer (customer)" in trail
    assert "Sam Support (support)" in trail
    assert "Wes Warehouse (warehouse)" in trail
    decision = {"disposition": "REFUND", "amount_cents": "50.00"}
    act(in_queue(support, "support", number), "Decide", decision,
        asks=f"Decide a refund of $50.00 for {number}?")  # fmt: skip
    moved(support, number, "finance team")

    finance = team["finance"]
    act(in_queue(finance, "finance", number), "Issue refund",
        asks=f"Refund $50.00 to the card ending 4242 for {number}?")  # fmt: skip
    finance.locator(f"#return-{return_id}").get_by_text("completes by itself").wait_for()
    shot(finance, "queue-finance")

    live_state(page, "Completed")  # the refund job settles it; the page notices
    assert page.evaluate("() => window.__notReloaded") is True
    outcome = page.locator("#return-outcome").inner_text()
    assert "Refund: $50.00" in outcome
    assert re.search(r"re_\w+", outcome)
    assert page.locator(".step-done").count() == 8
    shot(page, "return-completed")

    page.goto("/returns")
    assert "Refund: $50.00" in page.locator(f"#return-{return_id}").inner_text()
    page.get_by_text(re.compile(f"Your return {number} was approved")).first.wait_for()

    # The money shows on the order too: the customer's (1280 px) ...
    paid = order["total_cents"] / 100
    net = f"Paid ${paid:,.2f} \N{MINUS SIGN} refunded $50.00 = kept ${paid - 50:,.2f}"
    page.goto(f"/orders/{order['id']}")
    money = page.locator("#order-money")
    assert f"Refund to the card for {number}" in money.inner_text()
    assert page.locator("#order-net").inner_text() == net
    shot(page, "order-money-customer")
    # ... and finance's, found on a phone by searching every order for its number.
    finance.set_viewport_size({"width": 375, "height": 800})
    finance.goto("/orders")
    finance.fill("#orders-q", order["number"])
    finance.wait_for_url(re.compile(rf"q={order['number']}"))
    finance.locator(f"#order-{order['id']}").get_by_role("link", name=order["number"]).click()
    finance.wait_for_url(re.compile(rf"/orders/{order['id']}$"))
    assert finance.locator("#order-net").inner_text() == net
    assert re.search(r"Reference re_\w+", finance.locator("#order-money").inner_text())
    assert no_sideways_scroll(finance)
    shot(finance, "order-money-finance-375")
    finance.set_viewport_size({"width": 1360, "height": 900})


@pytest.mark.parametrize(
    ("disposition", "finish", "outcome", "decision"),
    [
        ("STORE_CREDIT", None, "Store credit: $79.00", "Decide $79.00 store credit for {}?"),
        ("REPLACEMENT", ("Ship replacement", "tracking_number"), "Replacement order",
         "Decide a replacement for {}?"),
        ("REPAIR", ("Send back to customer", "return_tracking"), "Sent to you",
         "Decide a repair for {}?"),
        ("REJECT", ("Send back to customer", "return_tracking"), "Not accepted: sent back",
         "Decide not to accept {} and send the item back to the customer?"),
    ],
)  # fmt: skip
def test_every_other_outcome_reaches_the_customer(
    page, team, live_server, disposition, finish, outcome, decision
):
    order = paid_order(live_server, "Wireless Earbuds")
    sign_in(page, "customer", "customer-demo-2026")
    return_id, number = request_return(page, order)

    support = team["support"]
    support.goto(f"/staff/returns/{return_id}")  # the detail page works the same actions
    support.locator("#return-live").get_by_role("button", name=re.compile("^Approve")).click()
    support.locator("#return-live .status-head .badge", has_text="Approved").wait_for()

    ship_back(page, return_id)
    inspect(team, return_id, number, "used")
    act(in_queue(support, "support", number), "Decide", {"disposition": disposition},
        asks=decision.format(number))  # fmt: skip
    moved(support, number, "team")

    if finish is None:
        act(in_queue(team["finance"], "finance", number), "Issue store credit",
            asks=f"Add $79.00 store credit for {number}?")  # fmt: skip
    else:
        warehouse = team["warehouse"]
        row = in_queue(warehouse, "warehouse", number)
        act(row, "Start processing")
        row.locator(".badge", has_text="Processing").wait_for()
        label, field = finish
        act(row, label, {field: f"OUT-{return_id}"})
        moved(warehouse, number, "Completed")

    reload_until(page, f"/returns/{return_id}", "Completed")
    text = page.locator("#return-outcome").inner_text()
    assert outcome in text
    if finish is not None:
        assert f"OUT-{return_id}" in page.locator("#return-live").inner_text()
    if disposition == "REPLACEMENT":
        page.get_by_role("link", name=re.compile(r"^BR-")).last.click()
        page.wait_for_url(re.compile(r"/orders/\d+$"))
        assert "$0.00" in page.locator("main").inner_text()
    shot(page, f"return-{disposition.lower()}")


def test_staff_find_a_customers_returns_on_a_phone(page, live_server):
    """At 375 px support searches every return by number, opens the customer's other returns
    from the row, sees the labelled actions on the return's page, and nothing scrolls sideways."""
    order = paid_order(live_server, "Wireless Earbuds")
    login = {"username": "customer", "password": "customer-demo-2026"}
    token = api(live_server, "/api/v1/auth/token", login)["token"]
    body = {"order_id": order["id"], "reason": "damaged", "description": "Dented.",
            "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": 1}]}  # fmt: skip
    created = api(live_server, "/api/v1/returns", body, token)
    number = created["number"]
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, "support", "support-demo-2026")
    page.goto("/returns")
    page.fill("#returns-q", number)
    page.wait_for_url(re.compile(rf"q={number}"))
    rows = page.locator("#returns-table tbody tr")
    page.wait_for_function("() => document.querySelectorAll('#returns-table tbody tr').length == 1")
    assert "Casey Customer (customer)" in rows.first.inner_text()
    assert no_sideways_scroll(page)
    shot(page, "returns-staff-search-375")

    page.fill("#returns-q", "")
    row = page.locator(f"#return-{created['id']}")
    row.wait_for()
    row.get_by_role("link", name="Casey Customer").click()
    page.wait_for_url(re.compile(r"customer=\d+"))
    assert "Casey Customer (customer)" in page.locator(".filter-chip").inner_text()
    assert number in page.locator("#returns-table").inner_text()
    assert all("Casey Customer" in text for text in rows.all_inner_texts())
    assert no_sideways_scroll(page)
    shot(page, "returns-staff-customer-375")

    page.goto(f"/staff/returns/{created['id']}")
    panel = page.locator(".actions-card")
    for label in ("Approve: note to the customer", "Reject: reason for the customer",
                  "Cancel return: note"):  # fmt: skip
        assert panel.get_by_label(re.compile(f"^{label}")).count() == 1
    shot(page, "return-staff-actions-375")
