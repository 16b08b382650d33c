"""While the database cannot be reached, every call answers 503 with Retry-After (never a 500),
pages say "back in a moment", and the app recovers by itself once the database is back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

import app.models  # noqa: F401
import views.api.catalog
import views.catalog.shop
from app import create_app
from app.config import Config
from app.services.users import issue_token
from tests.api.helpers import assert_error
from tests.builders import make_user
from tests.conftest import app_settings, database_with_schema


def lost_connection(*_args, **_kwargs):
    raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))


def pool_exhausted(*_args, **_kwargs):
    raise PoolTimeout("QueuePool limit of size 10 overflow 20 reached")


@pytest.mark.parametrize("failure", [lost_connection, pool_exhausted])
def test_it_answers_an_api_call_with_503_and_when_to_retry(client, monkeypatch, failure):
    monkeypatch.setattr(views.api.catalog, "list_products", failure)
    response = client.get("/api/v1/products")
    error = assert_error(response, 503, "service_unavailable")
    assert int(response.headers["Retry-After"]) == error["details"]["retry_after"] == 5


def test_it_shows_a_page_saying_back_in_a_moment(client, monkeypatch):
    monkeypatch.setattr(views.catalog.shop, "list_products", lost_connection)
    response = client.get("/products?q=unavailable")
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Back in a moment" in page
    assert "Nothing you did was lost" in page
    assert "Traceback" not in page
    assert "server closed" not in page


def test_it_answers_htmx_with_an_inline_alert(client, monkeypatch):
    monkeypatch.setattr(views.catalog.shop, "list_products", lost_connection)
    response = client.get("/products?q=htmx-unavailable", headers={"HX-Request": "true"})
    assert response.headers["HX-Retarget"] == "#alerts"
    assert response.headers["X-Error-Status"] == "503"
    assert "briefly unavailable" in response.get_data(as_text=True)


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL database of this test's own, with the schema, that it may lock out."""
    with database_with_schema("postgresql", tmp_path / "unused.db") as url:
        try:
            yield url
        finally:
            set_reachable(url, True)


def set_reachable(url: str, reachable: bool) -> None:
    """Let connections in, or refuse new ones and cut those open (as a restart does)."""
    name = make_url(url).database
    admin = create_engine(os.environ["TEST_DATABASE_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(reachable).lower()}'))
        if not reachable:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
    admin.dispose()


@pytest.mark.postgres
def test_it_answers_503_while_postgres_is_away_and_recovers_without_a_restart(
    own_postgres, tmp_path: Path
):
    served = create_app(app_settings(own_postgres, tmp_path), config=Config())
    client = served.test_client()
    try:
        with served.extensions["backroom.db"].session() as session:
            shopper = make_user(session, "customer", username="shopper")
        headers = {"Authorization": f"Bearer {issue_token(shopper, 'test-secret')}"}
        assert client.get("/api/v1/orders", headers=headers).status_code == 200
        set_reachable(own_postgres, False)
        for path in ("/api/v1/products", "/api/v1/products/1", "/api/v1/orders"):
            response = client.get(path, headers=headers)
            assert_error(response, 503, "service_unavailable")
        token = client.post("/api/v1/auth/token", json={"username": "a", "password": "b"})
        assert_error(token, 503, "service_unavailable")
        page = client.get("/products")
        assert page.status_code == 503
        assert "Back in a moment" in page.get_data(as_text=True)
        health = client.get("/health")
        assert health.status_code == 503
        assert health.get_json()["checks"]["database"]["ok"] is False
        set_reachable(own_postgres, True)
        assert client.get("/api/v1/orders", headers=headers).status_code == 200
        assert client.get("/products").status_code == 200
    finally:
        set_reachable(own_postgres, True)
        served.extensions["backroom.db"].dispose()
