"""/health and /health/ready ask the shared state the deployment counts limits and the payment
circuit in (Redis, or the serve process's memory) when there is one; /health/live asks nothing
(CONTRACT §3.7)."""

from __future__ import annotations

import os

import pytest

from app.db import utcnow
from app.services.monitoring import SCHEDULER, record_heartbeat
from tests.conftest import need
from tests.shared_state import dead_address, reach


@pytest.fixture
def beating(session):
    record_heartbeat(session, name=SCHEDULER, now=utcnow(), holder="test")


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", "")
    need("Redis", bool(url), "set TEST_REDIS_URL=redis://...")
    return url


@pytest.mark.usefixtures("beating")
@pytest.mark.parametrize("path", ["/health", "/health/ready"])
def test_it_asks_nothing_more_when_nothing_is_shared(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert set(response.get_json()["checks"]) == {"database", "scheduler"}


@pytest.mark.redis
@pytest.mark.usefixtures("beating")
def test_it_is_ready_when_redis_answers(make_app, redis_url):
    body = make_app(redis_url=redis_url).test_client().get("/health/ready").get_json()
    assert body["status"] == "ok"
    assert body["checks"]["redis"] == {"ok": True}


@pytest.mark.usefixtures("beating")
def test_it_is_unavailable_naming_redis_when_redis_does_not_answer(make_app):
    client = make_app(redis_url="redis://127.0.0.1:1/0").test_client()
    response = client.get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["error"] == "ConnectionError"
    assert body["checks"]["database"] == {"ok": True}
    assert client.get("/health/live").status_code == 200  # the process itself is fine


@pytest.mark.usefixtures("beating")
def test_it_is_ready_when_the_serve_processs_state_answers(make_app, served_state):
    body = make_app().test_client().get("/health").get_json()
    assert body["checks"]["shared_state"] == {"ok": True}
    assert body["status"] == "ok"


@pytest.mark.usefixtures("beating")
def test_it_is_unavailable_when_the_serve_processs_state_is_gone(make_app, monkeypatch, tmp_path):
    reach(monkeypatch, dead_address(tmp_path))
    response = make_app().test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.get_json()["checks"]["shared_state"]["ok"] is False


def test_it_is_live_whatever_the_database_says(client, monkeypatch):
    import views.monitoring.health

    def broken(*_args, **_kwargs):
        raise AssertionError("liveness must not ask the database")

    monkeypatch.setattr(views.monitoring.health, "check_health", broken)
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
