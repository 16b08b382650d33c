"""Browser tests: real Chromium (Debian's) driven by Playwright against `backroom serve`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
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


@dataclass
class ServerLog:
    """What `backroom serve` writes (JSON lines: an access line for every 4xx/5xx, and
    errors with their tracebacks), read test by test from where the last reading ended."""

    path: Path
    offset: int = 0
    allowed: set[int] = field(default_factory=set)

    def allow(self, *statuses: int) -> None:
        """For the current test: these 5xx are its point (say, 503 while payments pause)."""
        self.allowed.update(statuses)

    def skip_to_end(self) -> None:
        self.offset = self.path.stat().st_size

    def faults(self) -> list[str]:
        """Lines logged since the last reading that show a 5xx or an unhandled error."""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line being written is read next time
        self.offset += len(complete)
        lines = complete.decode("utf-8", "replace").splitlines()
        return [line[:2000] for line in lines if self.is_fault(line)]

    def is_fault(self, line: str) -> bool:
        try:
            record = json.loads(line)
        except ValueError:
            return "Traceback (most recent call last)" in line
        if not isinstance(record, dict):
            return False
        status = record.get("status")
        if isinstance(status, int) and status >= 500:
            return status not in self.allowed
        unhandled = str(record.get("msg", "")).startswith("unhandled error")
        return unhandled or bool(record.get("exc"))


@dataclass(frozen=True)
class Server:
    base: str
    log: ServerLog


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
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
    log = ServerLog(data / "serve.log")
    with running(["serve"], env, log.path):
        wait_healthy(base)
        log.skip_to_end()  # a 503 from /health while the scheduler starts is no fault
        yield Server(base, log)


@pytest.fixture(scope="session")
def live_server(server: Server) -> str:
    return server.base


@pytest.fixture(autouse=True)
def server_log(server: Server) -> Iterator[ServerLog]:
    """Fails the test when the server logged a 5xx or an unhandled error meanwhile (the
    browser's console shows a failed htmx poll only as "Failed to load resource")."""
    server.log.allowed.clear()
    yield server.log
    faults = server.log.faults()  # set up first, so read after every page has closed
    assert faults == [], "the server logged errors during this test:\n" + "\n".join(faults)


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
def page(browser: Any, live_server: str, server_log: ServerLog) -> Iterator[Any]:
    """A fresh browser context; console errors (CSP violations included) and any answer
    with a 5xx status (pages, htmx requests, assets) fail the test."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    failed: list[str] = []

    def on_console(msg: Any) -> None:
        # A page answered with a 4xx on purpose (402 declined, 403 forbidden) is not a fault;
        # a 5xx is caught by on_response, with its URL.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource: the server"):
            errors.append(msg.text)

    def on_response(response: Any) -> None:
        status = response.status
        if status >= 500 and status not in server_log.allowed:
            failed.append(f"{status} {response.request.method} {response.url}")

    page.on("console", on_console)
    context.on("response", on_response)  # every page of the context, XHR and fetch too
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(20_000)  # generous: CI machines are small and shared
    yield page
    shot(page, "last")
    context.close()
    assert failed == [], f"the server answered with 5xx: {failed}"
    assert errors == [], f"browser console errors: {errors}"


def shot(page: Any, name: str) -> None:
    """A screenshot of the whole page as `<name>.png`, when E2E_SCREENSHOTS names a folder."""
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def no_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"))


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_load_state("networkidle")
