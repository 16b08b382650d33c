"""Concurrency fixtures: a fresh, really-committing database per test on each backend.

These tests cannot use the rolled-back `db` fixture: real threads and processes need real
commits on their own connections.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

import app.models  # noqa: F401
from app.db import Base
from tests.conftest import create_postgres_database, drop_postgres_database, need


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database with the schema, dropped after the test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'concurrency.db'}"
        engine = create_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    base = os.environ.get("TEST_DATABASE_URL", "")
    need("PostgreSQL", bool(base), "set TEST_DATABASE_URL=postgresql+psycopg://...")
    url = create_postgres_database(base)
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    drop_postgres_database(base, url)
