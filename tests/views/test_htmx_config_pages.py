"""The htmx configuration every page sends names only settings the vendored htmx knows
(an unknown key is silently ignored: `allowScript` once left script tags allowed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.views.conftest import text

HTMX = next((Path(__file__).resolve().parents[2] / "app" / "static").glob("htmx-*.min.js"))


def known_settings() -> set[str]:
    source = HTMX.read_text()
    defaults = re.search(r"config:\{(.*?)responseHandling:", source, re.S)
    assert defaults, "htmx's config defaults were not found in the vendored file"
    return set(re.findall(r"(?:^|,)([A-Za-z]+):", defaults.group(1))) | {"responseHandling"}


def test_every_htmx_setting_a_page_sends_is_one_htmx_knows(client):
    page = text(client.get("/login"))
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page)
    assert meta
    settings = json.loads(meta.group(1))
    assert set(settings) <= known_settings(), set(settings) - known_settings()
    assert settings == {
        "includeIndicatorStyles": False,  # indicators are styled by app.css (CSP)
        "allowEval": False,  # no eval under the CSP, and no hx-on
        "allowScriptTags": False,  # swapped-in <script> tags are never run
    }


def test_it_reads_the_defaults_it_checks_against():
    assert {"allowEval", "allowScriptTags", "includeIndicatorStyles"} <= known_settings()
    assert "allowScript" not in known_settings()
