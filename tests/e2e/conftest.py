"""Browser tests: real Chromium (Debian's) driven by Playwright against `backroom serve`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.deploy.processes import free_port, running, wait_healthy

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`backroom serve` on a fresh data directory, with demo data, for the whole session."""
    need("Chromium", Path(CHROMIUM).exists(), "apt-get install -y chromium")
    data = tmp_path_factory.mktemp("e2e-data")
    port = free_port()
    env = {
        "BACKROOM_DATA_DIR": str(data),
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "SECRET_KEY": "",
        "BACKROOM_DEMO_DATA": "1",
        "PORT": str(port),
    }
    base = f"http://127.0.0.1:{port}"
    with running(["serve"], env, data / "serve.log"):
        wait_healthy(base)
        yield base


@pytest.fixture(scope="session")
def browser(live_server: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - dev extra not installed
        need("Chromium", False, "pip install playwright (driver only; never `playwright install`)")
        raise
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    """A fresh browser context; console errors (CSP violations included) fail the test."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []

    def on_console(msg: Any) -> None:
        # A page answered with a 4xx on purpose (402 declined, 403 forbidden) is not a fault.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource: the server"):
            errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(20_000)  # generous: CI machines are small and shared
    yield page
    shots = os.environ.get("E2E_SCREENSHOTS")
    if shots:
        page.screenshot(path=str(Path(shots) / "last.png"), full_page=True)
    context.close()
    assert errors == [], f"browser console errors: {errors}"


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_load_state("networkidle")
