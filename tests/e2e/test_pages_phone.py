"""Every page of CONTRACT §4, for every role that may open it, at 375 px and at 1280 px in
Chromium (issue 14): the page answers, nothing scrolls sideways (neither the page nor a table
in its box), the console stays clean, on a phone each queue row shows its state, its SLA
and its primary action inside the screen, and each row of the workflow editor its inputs,
their labels and its Remove button. A screenshot per page, role and width is saved when
E2E_SCREENSHOTS is set (`phone-<role>-<page>-<width>.png`)."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import shot, sign_in
from tests.e2e.test_returns_journeys import api

pytestmark = pytest.mark.e2e
WIDTHS = (1280, 375)
TEAMS = ("support", "warehouse", "finance")
# Long unbroken words a staff page must wrap rather than widen itself for.
TRACKING = "1Z999AA1012345678400000000000000000042"
NOTES = "Scuffed-on-the-left-side-near-the-hinge;box-crushed;all-parts-present-and-working."


def token(base: str, username: str) -> str:
    body = {"username": username, "password": f"{username}-demo-2026"}
    return str(api(base, "/api/v1/auth/token", body)["token"])


@dataclass(frozen=True)
class Data:
    product: int
    other_product: int  # a second line for the carts
    order: int  # the customer's
    other_order: int  # customer2's
    returns: dict[str, int]  # team -> a return waiting in its queue (the customer's)
    draft: int  # a draft of the returns workflow, one label changed from the published one


def product_id(base: str, query: str) -> int:
    url = f"{base}/api/v1/products?q={urllib.parse.quote(query)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return int(json.loads(response.read())["items"][0]["id"])


def order_for(base: str, customer: str, product: int) -> dict[str, Any]:
    body = {
        "lines": [{"product_id": product, "quantity": 2}],
        "payment": {"card_number": "4242424242424242"},
    }
    return dict(api(base, "/api/v1/orders", body, token(base, customer)))


def read(base: str, path: str, who: str) -> Any:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {who}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def draft_of_returns_workflow(base: str) -> int:
    """A draft copied from the published returns workflow with one label changed (so its
    editor and publish pages show a change), never published."""
    admin = token(base, "admin")
    published = read(base, "/api/v1/workflows/rma", admin)["published"]
    definition = read(base, f"/api/v1/workflows/rma/versions/{published}", admin)["definition"]
    state = next(s for s in definition["states"] if s["name"] == "VALIDATING")
    state["label"] = "Awaiting review by support"
    return int(
        api(base, "/api/v1/workflows/rma/versions", {"definition": definition}, admin)["version"]
    )


def fire(base: str, who: str, return_id: int, trigger: str, **fields: Any) -> None:
    api(base, f"/api/v1/returns/{return_id}/transitions", {"trigger": trigger, **fields}, who)


@pytest.fixture(scope="module")
def data(live_server: str) -> Data:
    """Through the API (set-up, not the journey): orders for both customers, one return
    waiting in each team's queue, with a long tracking number and inspection notes, and a
    draft of the returns workflow."""
    base = live_server
    product, other_product = (product_id(base, name) for name in ("Skillet", "French Press"))
    customer, support, warehouse = (token(base, name) for name in ("customer", *TEAMS[:2]))
    returns: dict[str, int] = {}
    for team in TEAMS:
        order = order_for(base, "customer", product)
        body = {"order_id": order["id"], "reason": "damaged", "description": "Dented lid.",
                "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": 1}]}  # fmt: skip
        rid = int(api(base, "/api/v1/returns", body, customer)["id"])
        returns[team] = rid
        if team == "support":
            continue
        fire(base, support, rid, "approve", note="Send it back, please.")
        fire(base, customer, rid, "ship", carrier="UPS", tracking_number=TRACKING)
        if team == "warehouse":
            continue
        fire(base, warehouse, rid, "receive")
        fire(base, warehouse, rid, "start_inspection")
        fire(base, warehouse, rid, "complete_inspection", condition="used", notes=NOTES)
        fire(base, support, rid, "decide", disposition="REFUND")
    first = order_for(base, "customer", product)
    other = order_for(base, "customer2", product)
    draft = draft_of_returns_workflow(base)
    return Data(product, other_product, int(first["id"]), int(other["id"]), returns, draft)


def pages_for(role: str, data: Data) -> list[tuple[str, int]]:
    """(path, expected status) for every §4 page this role may open; /cart answers staff
    and admins 403 (shopping is for customers)."""
    shop = [("/products", 200), ("/products?q=kettle", 200), (f"/products/{data.product}", 200)]
    shop.append(("/flash-sales", 200))
    if role == "visitor":
        return [("/login", 200), ("/register", 200), *shop, ("/cart", 200)]
    if role in ("customer", "customer2"):
        mine = data.order if role == "customer" else data.other_order
        pages = [*shop, ("/cart", 200), ("/orders", 200), (f"/orders/{mine}", 200)]
        pages.append(("/returns", 200))
        if role == "customer":
            pages += [(f"/returns/{rid}", 200) for rid in data.returns.values()]
        return pages
    teams = TEAMS if role == "admin" else (role,)
    pages = [*shop, ("/cart", 403), ("/staff", 200), ("/orders", 200)]
    pages += [(f"/orders/{data.order}", 200), ("/returns", 200)]
    pages += [(f"/staff/queues/{team}", 200) for team in teams]
    pages += [(f"/staff/returns/{rid}", 200) for rid in data.returns.values()]
    pages += [("/monitoring/dashboard", 200), ("/monitoring/returns", 200)]
    if role == "admin":
        admin = ("products", "users", "flash-sales", "partners", "workflows")
        pages += [(f"/admin/{name}", 200) for name in admin]
        pages += [("/admin/products/new", 200), ("/monitoring/logs", 200)]
        pages += workflow_pages(data)
    return pages


def workflow_pages(data: Data) -> list[tuple[str, int]]:
    """The admin's workflow pages: the returns workflow's versions, the published version's
    diagram, the draft's page, editor and publish page, a new draft, the migration page."""
    rma, draft = "/admin/workflows/rma", f"/admin/workflows/rma/versions/{data.draft}"
    pages = [rma, f"{rma}/versions/1", f"{rma}/drafts/new", draft, f"{draft}/edit"]
    pages += [f"{draft}/publish", f"{rma}/migrate", "/admin/workflows/flash_sale"]
    return [(path, 200) for path in pages]


def slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"


SIDEWAYS = """() => {
  const width = window.innerWidth;
  const out = [];
  if (document.documentElement.scrollWidth > width) {
    out.push('page ' + document.documentElement.scrollWidth + ' px wide');
    for (const el of document.querySelectorAll('main *')) {
      const box = el.getBoundingClientRect();
      if (box.width > 0 && box.right > width + 1) {
        out.push(el.tagName.toLowerCase() + '.' + el.className + ' to ' + Math.round(box.right));
        if (out.length > 6) break;
      }
    }
  }
  if (width < 600) {
    for (const box of document.querySelectorAll('.table-wrap')) {
      if (box.scrollWidth > box.clientWidth + 1) {
        const what = (box.querySelector('caption') || box).textContent.trim().slice(0, 60);
        out.push('a table scrolls sideways in its box: ' + box.scrollWidth + ' px (' + what + ')');
      }
    }
  }
  return out;
}"""


def in_view(locator: Any, width: int) -> bool:
    box = locator.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5


def check_queue_rows(page: Any, role: str, team: str) -> list[str]:
    """At 375 px: every queue row's state badge, SLA and primary action lie on screen."""
    problems: list[str] = []
    rows = page.locator("#queue-table tbody tr")
    assert rows.count() >= 1, f"{role}: the {team} queue shows no return"
    for i in range(min(rows.count(), 5)):
        row = rows.nth(i)
        name = row.get_attribute("id")
        parts = {
            "state": row.locator(".queue-state .badge").first,
            "SLA": row.locator(".queue-sla > *").first,
        }
        action = row.locator(".queue-actions").locator("button, summary").first
        if role in (team, "admin") or action.count():
            parts["primary action"] = action
        for what, locator in parts.items():
            if not locator.count() or not in_view(locator, 375):
                problems.append(f"{role} {team} queue {name}: the {what} is not on screen")
    # An action with fields opens its form inside the card, on screen too.
    summary = rows.first.locator(".queue-actions summary").first
    if role == team and summary.count():
        summary.click()
        form = rows.first.locator(".queue-actions details[open] form")
        if not in_view(form, 375):
            problems.append(f"{role} {team} queue: the opened action form is off screen")
        summary.click()
    return problems


def check_editor_rows(page: Any) -> list[str]:
    """At 375 px: a state's card, a transition's card and one of its fields' cards show
    every input, its label and the card's Remove button on screen."""
    problems: list[str] = []
    transition = page.locator("fieldset.wf-row:has(.wf-fields-table)").first
    field = transition.locator(".wf-fields-table tbody tr").first
    cards = {
        "state 2": (page.locator("#state-1"), ":scope > .wf-row-actions button"),
        "a transition with fields": (transition, ":scope > .wf-row-actions button"),
        "its first field": (field, "button"),
    }
    for what, (card, remove) in cards.items():
        controls = card.locator("input:visible, select:visible")
        labels = card.locator("label:visible")
        if controls.count() < 3 or labels.count() < controls.count():
            problems.append(
                f"the editor's {what}: {controls.count()} inputs, {labels.count()} labels"
            )
        parts = [controls.nth(i) for i in range(controls.count())]
        parts += [labels.nth(i) for i in range(labels.count())]
        parts.append(card.locator(remove).filter(has_text="Remove").first)
        for part in parts:
            box = part.bounding_box() if part.count() else None
            if box is None or not in_view(part, 375) or box["width"] < 8:
                name = part.get_attribute("id") or part.get_attribute("for") or part.text_content()
                problems.append(f"the editor's {what}: {name} is not on screen")
    return problems


ROLES = ("visitor", "customer", "customer2", "support", "warehouse", "finance", "admin")


@dataclass
class Tab:
    """A role's one page, reused for every URL, and what its console said."""

    page: Any
    errors: list[str]


def watch(page: Any) -> list[str]:
    errors: list[str] = []

    def on_console(msg: Any) -> None:
        # A 403 page (staff on /cart) logs "Failed to load resource"; conftest ignores it too.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(f"{page.url}: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    return errors


@pytest.fixture(scope="module")
def tabs(browser: Any, live_server: str) -> Iterator[dict[str, Tab]]:
    """One browser context per role, signed in once."""
    made: dict[str, Tab] = {}
    for role in ROLES:
        context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        made[role] = Tab(page, watch(page))
        if role != "visitor":
            sign_in(page, role, f"{role}-demo-2026")
    yield made
    for tab in made.values():
        tab.page.context.close()


def fill_cart(page: Any, data: Data) -> None:
    """The shopper puts two products in the cart from their pages (so the cart has lines)."""
    for pid in (data.product, data.other_product):
        page.goto(f"/products/{pid}")
        page.get_by_role("button", name="Add to cart").click()
        page.locator(f"#add-status-{pid}").get_by_text("Added").wait_for()


@pytest.mark.parametrize("role", ROLES)
def test_it_fits_every_page_at_375_and_1280(tabs: dict[str, Tab], data: Data, role: str) -> None:
    page = tabs[role].page
    if role in ("visitor", "customer", "customer2"):
        fill_cart(page, data)
    problems: list[str] = []
    for path, status in pages_for(role, data):
        page.set_viewport_size({"width": 1280, "height": 900})
        response = page.goto(path)
        page.wait_for_load_state("load")
        if response is None or response.status != status:
            got = response.status if response else None
            problems.append(f"{role} {path}: answered {got}, expected {status}")
            continue
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900 if width > 600 else 800})
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(null)))")
            problems += [f"{role} {path} at {width}: {p}" for p in page.evaluate(SIDEWAYS)]
            if width == 375 and path.endswith("/edit"):
                problems += [f"{role} {path} at 375: {p}" for p in check_editor_rows(page)]
            queue = re.fullmatch(r"/staff/queues/(\w+)", path)
            if width == 375 and queue:
                problems += check_queue_rows(page, role, queue.group(1))
            if path == "/cart" and status == 200 and width == 375:
                footer = page.locator("#cart-table tfoot")
                assert re.search(r"\$\d", footer.inner_text()), footer.inner_text()
                remove = page.locator("#cart-table button", has_text="Remove").first
                line_total = page.locator("#cart-table tbody td[data-label=Total]").first
                for what, part in (("total", footer.locator("#cart-total")), ("Remove", remove),
                                   ("line total", line_total)):  # fmt: skip
                    if not in_view(part, 375):
                        problems.append(f"{role} /cart at 375: the {what} is off screen")
            shot(page, f"phone-{role}-{slug(path)}-{width}")
    problems += tabs[role].errors
    tabs[role].errors.clear()
    assert problems == [], "\n".join(problems)
