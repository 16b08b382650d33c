"""Issue 11 in Chromium: an admin adds AWAITING_INFO to the returns workflow in the editor,
checks and publishes it; a new return passes through it in the support queue while an older
one finishes on version 1; both versions' diagrams show their live counts. Every workflow
page the admin passes (the list, the versions, a new draft, the editor with its problems
shown and without, publishing, the migration's plan, the diagram) has no serious or critical
axe-core violation at 1280 or at 375 px (issue 14).

The server is the session's: this file runs after the returns journeys (alphabetical order),
and the version it publishes keeps every path of version 1.
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import pytest

from tests.e2e.axe import describe, violations
from tests.e2e.conftest import shot, sign_in
from tests.e2e.test_returns_journeys import api, confirm, in_queue, moved, paid_order
from workflows.definitions import load_shipped

pytestmark = pytest.mark.e2e


def customer_token(base: str) -> str:
    body = {"username": "customer", "password": "customer-demo-2026"}
    token: str = api(base, "/api/v1/auth/token", body)["token"]
    return token


def opened(base: str, product: str) -> dict[str, Any]:
    """The demo customer buys one unit and asks to return it, through the API (set-up)."""
    order = paid_order(base, product)
    body = {
        "order_id": order["id"],
        "reason": "damaged",
        "description": "",
        "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": 1}],
    }
    created: dict[str, Any] = api(base, "/api/v1/returns", body, customer_token(base))
    return created


def read(base: str, return_id: int) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}/api/v1/returns/{return_id}",
        headers={"Authorization": f"Bearer {customer_token(base)}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def add_row(page: Any, kind: str, index: int) -> Any:
    """Press "Add a state/transition" and wait for the new row `index` (a server round trip)."""
    page.get_by_role("button", name=f"Add a {kind}").click()
    row = page.locator(f"#{kind}-{index}")
    row.wait_for()
    return row


def severe(page: Any, where: str, name: str = "") -> list[str]:
    """axe-core's serious and critical violations of the page as it stands, at 1280 and at
    375 px (then back to 1280); screenshots `workflow-<name>-<width>` when named."""
    found: list[str] = []
    for width, height in ((1280, 900), (375, 800)):
        page.set_viewport_size({"width": width, "height": height})
        found += describe(f"{where} at {width} px", violations(page))
        if name:
            shot(page, f"workflow-{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})
    return found


def click(row: Any, label: str) -> None:
    """Fire a queue row's action that asks for nothing."""
    row.locator("button[type=submit]", has_text=label).click()


def test_an_admin_adds_a_state_and_returns_pass_through_it(page, browser, live_server):
    shipped = load_shipped("rma")
    states, transitions = len(shipped["states"]), len(shipped["transitions"])
    older = opened(live_server, "Wireless Earbuds")
    assert older["workflow_version"] == 1

    # The admin starts a draft from the published version and adds the state in the form.
    sign_in(page, "admin", "admin-demo-2026")
    page.goto("/admin/workflows")
    assert severe(page, "the workflows") == []
    page.get_by_role("link", name="Versions of Returns (RMA)").click()
    assert severe(page, "the returns workflow's versions") == []
    page.get_by_role("link", name="New draft").click()
    assert severe(page, "a new draft") == []
    page.get_by_role("button", name="Create the draft").click()
    page.wait_for_url(re.compile(r"/admin/workflows/rma/versions/(\d+)/edit$"))
    version = int(re.findall(r"/versions/(\d+)/edit", page.url)[0])
    state = add_row(page, "state", states)
    state.locator(f"#states-{states}-name").fill("AWAITING_INFO")
    state.locator(f"#states-{states}-label").fill("Waiting for the customer")
    state.locator(f"#states-{states}-team").select_option("support")
    state.locator(f"#states-{states}-sla_hours").fill("48")
    # Checked now, the new state is unreachable: the editor says so beside its row.
    page.get_by_role("button", name="Check for problems").click()
    page.locator(f"#states-{states}-problems li").first.wait_for()
    assert page.locator("#state-0 .wf-row-problems li").count() == 0
    assert severe(page, "the editor with problems shown", "editor-problems") == []
    for n, (trigger, label, source, dest) in enumerate(
        [
            ("ask_info", "Ask the customer", "VALIDATING", "AWAITING_INFO"),
            ("resume_review", "Customer answered", "AWAITING_INFO", "VALIDATING"),
        ],
        start=transitions,
    ):
        row = add_row(page, "transition", n)
        row.locator(f"#transitions-{n}-trigger").fill(trigger)
        row.locator(f"#transitions-{n}-label").fill(label)
        row.locator(f"#transitions-{n}-source").fill(source)
        row.locator(f"#transitions-{n}-dest").select_option(dest)
        row.locator(f"#transitions-{n}-roles-support").check()
    page.get_by_role("button", name="Check for problems").click()
    page.locator("#workflow-form").wait_for()
    assert page.locator(".wf-problem-list").count() == 0
    assert "No problems" in page.inner_text("#workflow-problems")
    assert severe(page, "the editor without problems") == []
    page.locator("button.btn-primary", has_text="Save draft").click()
    page.wait_for_load_state("networkidle")
    shot(page, "workflow-editor")

    # Publishing says what happens to new returns and to those in flight.
    page.goto(f"/admin/workflows/rma/versions/{version}/publish")
    assert f"New returns will start on version {version}" in page.inner_text("main")
    assert severe(page, "publishing") == []
    page.get_by_role("button", name=f"Publish version {version}").click()
    page.wait_for_url(re.compile(rf"/admin/workflows/rma/versions/{version}$"))

    # The older return could move to the new version: the plan says where, and moves nothing.
    page.goto("/admin/workflows/rma/migrate")
    page.locator("#from_version").select_option("1")
    page.get_by_role("button", name="See what would move").click()
    page.locator("#migration-plan").get_by_role("row", name=re.compile("VALIDATING")).wait_for()
    assert severe(page, "the migration's plan", "migration-plan") == []

    # A new return takes version 2 and passes through AWAITING_INFO in the support queue.
    newer = opened(live_server, "Wireless Earbuds")
    assert newer["workflow_version"] == version
    support_context = browser.new_context(
        base_url=live_server, viewport={"width": 1360, "height": 900}
    )
    support = support_context.new_page()
    browser_dialogs: list[str] = []  # confirmations ask in the page, never the browser
    support.on("dialog", lambda d: (browser_dialogs.append(d.message), d.dismiss()))
    sign_in(support, "support", "support-demo-2026")
    row = in_queue(support, "support", newer["number"])
    click(row, "Ask the customer")
    row.locator(".badge", has_text="Waiting for the customer").wait_for()
    shot(support, "workflow-new-state-in-queue")
    click(row, "Customer answered")
    row.locator(".badge", has_text="Awaiting review").wait_for()

    # The older return has no such action: it finishes on version 1.
    old_row = in_queue(support, "support", older["number"])
    assert old_row.locator("button", has_text="Ask the customer").count() == 0
    old_row.locator("details", has_text="Cancel return").locator("summary").click()
    old_row.locator("button[type=submit]", has_text="Cancel return").click()
    confirm(
        support, f"Cancel return {older['number']}? It is closed and nothing more happens to it."
    )
    moved(support, older["number"], "Cancelled")
    support_context.close()
    assert browser_dialogs == []
    assert (
        read(live_server, older["id"])["workflow_version"],
        read(live_server, older["id"])["state"],
    ) == (1, "CANCELLED")
    assert read(live_server, newer["id"])["state"] == "VALIDATING"

    # Both versions' diagrams count their returns.
    page.goto(f"/admin/workflows/rma/versions/{version}")
    drawn = page.locator("svg.wf-svg").text_content() or ""
    assert "Waiting for the customer" in drawn
    assert re.search(r"Awaiting review.*?[1-9]\d* returns?", drawn, re.S)
    shot(page, "workflow-v2-diagram")
    assert severe(page, f"version {version}'s diagram") == []
    page.goto("/admin/workflows/flash_sale/versions/1")
    assert severe(page, "the flash-sale lifecycle's diagram") == []
    page.goto("/admin/workflows/rma/versions/1")
    drawn = page.locator("svg.wf-svg").text_content() or ""
    assert re.search(r"Cancelled.*?[1-9]\d* returns?", drawn, re.S)
