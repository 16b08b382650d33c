"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import app.models  # noqa: F401
from app.db import Base
from app.migrations import upgrade_database
from tests.conftest import create_postgres_database, drop_postgres_database, need


def _assert_matches_models(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert set(Base.metadata.tables) <= tables


def test_it_migrates_an_empty_sqlite_database_to_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh' / 'backroom.db'}"
    upgrade_database(url)
    upgrade_database(url)  # a second upgrade is a no-op
    _assert_matches_models(url)


@pytest.mark.postgres
def test_it_migrates_an_empty_postgres_database_to_the_models():
    base = os.environ.get("TEST_DATABASE_URL", "")
    need("PostgreSQL", bool(base), "set TEST_DATABASE_URL=postgresql+psycopg://...")
    url = create_postgres_database(base)
    try:
        upgrade_database(url)
        _assert_matches_models(url)
    finally:
        drop_postgres_database(base, url)
