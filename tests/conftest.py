"""Shared fixtures: a database per backend, an app per test, rolled back after each test.

The suite runs on SQLite always and on PostgreSQL when TEST_DATABASE_URL is set (it makes
and drops its own database there). With REQUIRE_SERVICES=1 a missing service fails the run
instead of skipping.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import app.models
from app import create_app
from app.config import Config
from app.db import Base, Database
from app.models.users import User
from tests.builders import make_user
from workflows import engine as engine_module

REQUIRE = os.environ.get("REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """Hashing at full cost would dominate the suite's time; the algorithm is unchanged."""
    import app.services.users as users

    original, users.HASH_METHOD = users.HASH_METHOD, "scrypt:1024:8:1"
    yield
    users.HASH_METHOD = original


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per skip reason (with a count) instead of one line per skipped test."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        terminalreporter.section("skipped, by reason")
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(f"{count:5d}  {reason}")


def need(service: str, available: bool, how: str) -> None:
    """Skip (or, under REQUIRE_SERVICES=1, fail) when a service is not available."""
    if available:
        return
    message = f"{service} not available: {how}"
    if REQUIRE:
        pytest.fail(f"REQUIRE_SERVICES=1 but {message}")
    pytest.skip(message)


def create_postgres_database(base_url: str) -> str:
    """Create a uniquely named database next to TEST_DATABASE_URL's; return its URL."""
    name = f"backroom_test_{secrets.token_hex(4)}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(base_url: str, url: str) -> None:
    name = make_url(url).database
    assert name
    assert re.match(r"^backroom_test_[0-9a-f]+$", name)
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database URL with the schema created, one per backend for the whole run."""
    with database_with_schema(request.param, tmp_path_factory.mktemp("db") / "test.db") as url:
        yield url


@contextmanager
def database_with_schema(kind: str, sqlite_file: Path) -> Iterator[str]:
    """The URL of a new database with the schema: SQLite at `sqlite_file`, or PostgreSQL
    beside TEST_DATABASE_URL (skipped without it, failed under REQUIRE_SERVICES=1), which
    is dropped afterwards."""
    base = ""
    if kind == "sqlite":
        url = f"sqlite:///{sqlite_file}"
    else:
        base = os.environ.get("TEST_DATABASE_URL", "")
        need("PostgreSQL", bool(base), "set TEST_DATABASE_URL=postgresql+psycopg://...")
        url = create_postgres_database(base)
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    try:
        yield url
    finally:
        if base:
            drop_postgres_database(base, url)


@pytest.fixture(scope="session")
def database(backend: str) -> Iterator[Database]:
    db = Database(backend, pool_size=2)
    yield db
    db.dispose()


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The database with every session bound to one connection inside a transaction that
    is rolled back after the test (services' commits become savepoint releases)."""
    connection = database.engine.connect()
    outer = connection.begin()
    database.sessions.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield database
    finally:
        database.sessions.configure(
            bind=database.engine, join_transaction_mode="conservative_savepoint"
        )
        outer.rollback()
        connection.close()
        forget_rolled_back_versions(database)


def forget_rolled_back_versions(database: Database) -> None:
    """A test's workflow versions are rolled back with it and the next test numbers its own
    from 2 again; the engines built for them (cached per database and version, as a saved
    version never changes) must not serve it. Version 1 is the shipped one everywhere."""
    engines = engine_module._ENGINES.get(database, {})
    for key in [key for key in engines if key[1] > 1]:
        del engines[key]


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    s = db.session()
    yield s
    s.close()


def app_settings(database_url: str, data_dir: Path, **overrides: Any) -> dict[str, Any]:
    """The settings every test app starts from: this database and data folder, a fixed
    key, no scheduler, no Redis (unless `overrides` say otherwise)."""
    return {
        "database_url": database_url,
        "secret_key": "test-secret",
        "testing": True,
        "data_dir": data_dir,
        "upload_dir": data_dir / "uploads",
        "scheduler_enabled": False,
        "feed_worker": "thread",  # jobs run imports in the test's own transaction
        "traffic_flush_seconds": 0,  # no flushing thread: the dashboard flushes its own
        "dashboard_cache_seconds": 0,  # each look reads afresh
        "redis_url": None,
        **overrides,
    }


@pytest.fixture
def app(db: Database, tmp_path: Path) -> Flask:
    return create_app(app_settings(db.url, tmp_path), config=Config(), database=db)


@pytest.fixture
def make_app(db: Database, tmp_path: Path) -> Callable[..., Flask]:
    """Build another app on the test's database with some settings changed."""

    def build(**overrides: Any) -> Flask:
        settings = app_settings(db.url, tmp_path, **overrides)
        return create_app(settings, config=Config(), database=db)

    return build


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def customer(session: Session) -> User:
    return make_user(session, "customer", username="casey")


@pytest.fixture
def admin(session: Session) -> User:
    return make_user(session, "admin", username="ada")


def bearer(client: FlaskClient, user: User, password: str = "password123") -> dict[str, str]:
    """Authorization headers for `user`, obtained through POST /api/v1/auth/token."""
    response = client.post(
        "/api/v1/auth/token", json={"username": user.username, "password": password}
    )
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def sign_in(client: FlaskClient, user: User, password: str = "password123") -> str:
    """Sign in through the /login form like a browser; returns the page's CSRF token."""
    page = client.get("/login")
    token = CSRF_META.search(page.get_data(as_text=True))
    assert token, "the login page must carry <meta name='csrf-token'>"
    response = client.post(
        "/login",
        data={"username": user.username, "password": password, "csrf_token": token.group(1)},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return csrf_token(client)


def csrf_token(client: FlaskClient, path: str = "/products") -> str:
    page = client.get(path)
    token = CSRF_META.search(page.get_data(as_text=True))
    assert token, f"{path} must carry <meta name='csrf-token'>"
    return token.group(1)


@pytest.fixture
def served_state(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh `app.shared_state` served from this process (as `backroom serve` does), found
    through the environment; returns that environment."""
    from tests.shared_state import serve_here

    return serve_here(monkeypatch)


@contextmanager
def statements_run(session: Session) -> Iterator[list[str]]:
    """The SQL statements sent on `session`'s engine (any connection, the app's requests'
    too) while the block runs: for tests that count queries or look for one kind."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
