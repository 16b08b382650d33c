"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

import app.models  # noqa: F401
from app.db import Base
from app.migrations import alembic_config, upgrade_database
from tests.conftest import create_postgres_database, drop_postgres_database, need
from workflows.definitions import load_shipped


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


def test_it_teaches_a_stored_rma_version_1_how_its_states_show(tmp_path):
    """Version 1 stored before states said how they show (tone, step, notice, guidance) gets
    the shipped words; a downgrade takes them away again."""
    url = f"sqlite:///{tmp_path / 'old' / 'backroom.db'}"
    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True)
    config = alembic_config(url)
    command.upgrade(config, "0005")
    old = load_shipped("rma")
    for state in old["states"]:
        for key in ("tone", "step", "notice", "guidance"):
            state.pop(key, None)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO workflow_definitions (name, version, status, definition, "
                    "created_at, revision) VALUES ('rma', 1, 'published', :d, :at, 1)"
                ),
                {"d": json.dumps(old), "at": "2026-11-01 00:00:00.000000"},
            )
        command.upgrade(config, "head")
        with engine.connect() as conn:
            stored = json.loads(conn.scalar(text("SELECT definition FROM workflow_definitions")))
        assert stored == load_shipped("rma")
        command.downgrade(config, "0005")
        with engine.connect() as conn:
            stored = json.loads(conn.scalar(text("SELECT definition FROM workflow_definitions")))
        assert stored == old
    finally:
        engine.dispose()
