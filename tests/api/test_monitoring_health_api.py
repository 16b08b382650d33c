"""GET /health (CONTRACT §3.7): the database answers and the scheduler beats."""

from __future__ import annotations

from datetime import timedelta

from app.db import utcnow
from app.services.monitoring import SCHEDULER, record_heartbeat


def test_it_is_unavailable_naming_the_scheduler_when_it_never_beat(client):
    response = client.get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] != "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["scheduler"]["ok"] is False
    assert body["checks"]["scheduler"]["error"]


def test_it_is_healthy_after_a_heartbeat(client, session):
    record_heartbeat(session, name=SCHEDULER, now=utcnow(), holder="test")
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["scheduler"]["ok"] is True


def test_it_is_unavailable_when_the_heartbeat_is_stale(client, session):
    record_heartbeat(session, name=SCHEDULER, now=utcnow() - timedelta(seconds=31), holder="test")
    response = client.get("/health")
    assert response.status_code == 503
    scheduler = response.get_json()["checks"]["scheduler"]
    assert scheduler["ok"] is False
    assert "stale" in scheduler["error"]
    assert scheduler["age_seconds"] >= 31


def test_it_recovers_when_the_scheduler_beats_again(client, session):
    record_heartbeat(session, name=SCHEDULER, now=utcnow() - timedelta(minutes=5), holder="old")
    assert client.get("/health").status_code == 503
    record_heartbeat(session, name=SCHEDULER, now=utcnow(), holder="new")
    assert client.get("/health").status_code == 200


def test_it_ignores_heartbeats_of_other_names(client, session):
    record_heartbeat(session, name="something-else", now=utcnow(), holder="test")
    assert client.get("/health").status_code == 503


def test_it_allows_a_heartbeat_as_old_as_three_intervals(make_app, session):
    client = make_app(heartbeat_seconds=60).test_client()
    record_heartbeat(session, name=SCHEDULER, now=utcnow() - timedelta(seconds=170), holder="t")
    assert client.get("/health").status_code == 200
