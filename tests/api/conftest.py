"""API fixtures: signed-in headers per role and an app factory for settings overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from app import create_app
from app.config import Config
from app.db import Database
from app.models.users import User
from tests.builders import make_user
from tests.conftest import bearer


@pytest.fixture(autouse=True)
def _cheap_dummy_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown usernames are checked against a dummy hash made at full cost at import; match
    it to the lowered cost the suite uses for real passwords (timing stays equal)."""
    import app.services.users as users

    monkeypatch.setattr(users, "_DUMMY_HASH", generate_password_hash("x", method=users.HASH_METHOD))


@pytest.fixture
def make_app(db: Database, tmp_path: Path) -> Callable[..., Flask]:
    """Build another app on the test's database with some settings changed."""

    def build(**overrides: Any) -> Flask:
        settings: dict[str, Any] = {
            "database_url": db.url,
            "secret_key": "test-secret",
            "testing": True,
            "data_dir": tmp_path,
            "upload_dir": tmp_path / "uploads",
            "scheduler_enabled": False,
            "redis_url": None,
            **overrides,
        }
        return create_app(settings, config=Config(), database=db)

    return build


@pytest.fixture
def customer_headers(client: FlaskClient, customer: User) -> dict[str, str]:
    return bearer(client, customer)


@pytest.fixture
def admin_headers(client: FlaskClient, admin: User) -> dict[str, str]:
    return bearer(client, admin)


@pytest.fixture
def support(session: Session) -> User:
    return make_user(session, "support", username="sam")


@pytest.fixture
def support_headers(client: FlaskClient, support: User) -> dict[str, str]:
    return bearer(client, support)
