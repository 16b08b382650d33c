"""API fixtures: signed-in headers per role and an app factory for settings overrides."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

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
