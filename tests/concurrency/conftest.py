"""Concurrency fixtures: a fresh, really-committing database per test on each backend.

These tests cannot use the rolled-back `db` fixture: real threads and processes need real
commits on their own connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import app.models  # noqa: F401
from tests.conftest import database_with_schema


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database with the schema, dropped after the test."""
    with database_with_schema(request.param, tmp_path / "concurrency.db") as url:
        yield url
