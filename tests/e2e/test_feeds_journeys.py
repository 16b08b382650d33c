"""Issue 12 in Chromium: an admin onboards a partner, sees its API key once, uploads the
standard sample as a dry run, reads what it would create, and imports it for real; the
server's own scheduler runs both imports while the report page follows them by htmx."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest

from app.config import ROOT
from tests.e2e.conftest import shot, sign_in

pytestmark = pytest.mark.e2e
SAMPLE = ROOT / "data" / "samples" / "feeds" / "standard.csv"
LIVE = 20_000  # ms: the worker's 1 s tick and a 2 s poll, with room for a small machine


def count(page: Any, label: str) -> int:
    """The number beside `label` in the report's counts."""
    value = page.locator("#import-counts dt", has_text=label).locator(
        "xpath=following-sibling::dd[1]"
    )
    return int(value.inner_text())


def finished(page: Any) -> None:
    """Wait until the report, refreshed by htmx, says the import succeeded."""
    page.locator("#import-status .badge", has_text="Succeeded").wait_for(timeout=LIVE)


def nav_link(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def both_widths(page: Any, name: str) -> None:
    shot(page, f"{name}-1280")
    page.set_viewport_size({"width": 375, "height": 800})
    shot(page, f"{name}-375")
    page.set_viewport_size({"width": 1280, "height": 900})


def sample_without_images(folder: Path) -> Path:
    """The sample feed with its image URLs emptied: its hosts do not resolve here, and the
    later journeys' pages would show the imported products (a console error each)."""
    copy = folder / "standard.csv"
    copy.write_text(re.sub(r"https?://[^;\n]*", "", SAMPLE.read_text("utf-8-sig")), "utf-8")
    return copy


def test_an_admin_onboards_a_partner_and_imports_its_feed(page: Any, tmp_path: Path) -> None:
    name = f"Acme Supplies {secrets.token_hex(3)}"
    sign_in(page, "admin", "admin-demo-2026")
    nav_link(page, "Partners").click()
    page.wait_for_url("**/admin/partners")
    both_widths(page, "feeds-partners")

    # Onboarding answers with the key, once.
    page.fill("#field-name", name)
    page.get_by_role("button", name="Onboard the partner").click()
    page.get_by_text("copy it now; it will not be shown again").wait_for()
    secret = page.input_value("#api-key")
    assert secret.startswith("bk_")
    both_widths(page, "feeds-key")
    page.get_by_role("link", name=f"Go to {name}'s page").click()
    page.wait_for_url(re.compile(r"/admin/partners/\d+$"))
    assert secret not in page.content()

    # A dry run of the sample: the report shows what it would create, and writes nothing.
    page.set_input_files("#upload-file", str(sample_without_images(tmp_path)))
    page.check("#upload-dry-run")
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_url(re.compile(r"/admin/partners/\d+/imports/\d+$"))
    finished(page)
    would_create = count(page, "Would create")
    assert would_create > 0
    assert count(page, "Rejected") > 0  # the sample has a broken row on purpose
    page.locator("#import-changes").get_by_text("ACM-MUG-001").wait_for()
    both_widths(page, "feeds-dry-run")
    dry_run_url = page.url

    # The real import of the same file.
    page.get_by_role("button", name="Import this file for real").click()
    page.wait_for_url(lambda url: url != dry_run_url and "/imports/" in url)
    finished(page)
    assert count(page, "Created") == would_create
    assert page.get_by_role("button", name="Import this file for real").count() == 0
    both_widths(page, "feeds-import")

    nav_link(page, "Partners").click()
    row = page.locator("tr", has_text=name)
    row.get_by_text("Succeeded").wait_for()
