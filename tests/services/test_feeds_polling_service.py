"""Polling a partner's feed URL against a local HTTP server: ETag hit, change, 500, a
timeout, a slow-loris body; what each leaves on the partner and in the import queue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.models.feeds import FeedImport, Partner
from app.services.feeds import due_for_poll, feed_freshness, poll_feed, poll_now
from app.services.feeds.fetching import fetch_feed
from tests.builders import make_partner, make_user, work_feed_imports
from tests.feed_server import FEED_V2, FeedServer, serve_feeds

MB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[FeedServer]:
    yield from serve_feeds()


@pytest.fixture
def uploads(tmp_path):
    return tmp_path / "uploads"


def polled_partner(session, url, **settings):
    partner, _ = make_partner(
        session, make_user(session, "admin"), feed_url=url, poll_minutes=30, **settings
    )
    return partner


def imports_of(session, partner):
    query = select(FeedImport).where(FeedImport.partner_id == partner.id)
    return session.scalars(query.order_by(FeedImport.id)).all()


def poll(session, partner, uploads, now, **fetch_options):
    fetch = partial(fetch_feed, **fetch_options) if fetch_options else fetch_feed
    outcome = poll_feed(session, partner.id, now=now, upload_dir=uploads, max_bytes=MB, fetch=fetch)
    session.expire_all()
    return outcome


def test_a_new_partner_is_due_at_once_and_its_feed_lands_as_a_poll_import(session, server, uploads):
    partner = polled_partner(session, server.url("/feed.csv"))
    now = utcnow()
    assert partner.id in due_for_poll(session, now)
    assert poll(session, partner, uploads, now) == "queued"
    assert poll(session, partner, uploads, now) == "claimed_elsewhere"  # not due again yet
    work_feed_imports(session, uploads)
    session.expire_all()
    (record,) = imports_of(session, partner)
    assert (record.source, record.complete, record.status, record.created) == (
        "poll",
        True,
        "succeeded",
        2,
    )
    stored = session.get(Partner, partner.id)
    assert (stored.poll_etag, stored.poll_failures) == ('"v1"', 0)
    assert stored.next_poll_at == now + timedelta(minutes=30)


def test_an_unchanged_feed_costs_one_304_and_no_import(session, server, uploads):
    partner = polled_partner(session, server.url("/feed.csv"))
    now = utcnow()
    poll(session, partner, uploads, now)
    later = now + timedelta(minutes=31)
    assert poll(session, partner, uploads, later) == "not_modified"
    assert len(imports_of(session, partner)) == 1
    assert server.requests[-1][1]["If-None-Match"] == '"v1"'
    assert session.get(Partner, partner.id).last_polled_at == later


def test_a_changed_feed_is_imported_again(session, server, uploads):
    partner = polled_partner(session, server.url("/feed.csv"))
    now = utcnow()
    poll(session, partner, uploads, now)
    work_feed_imports(session, uploads)
    server.publish(FEED_V2, '"v2"', "Thu, 02 Oct 2025 10:00:00 GMT")
    assert poll(session, partner, uploads, now + timedelta(minutes=31)) == "queued"
    assert session.get(Partner, partner.id).poll_etag == '"v2"'
    assert len(imports_of(session, partner)) == 2


def test_a_server_error_is_retried_soon_and_written_down(session, server, uploads):
    partner = polled_partner(session, server.url("/status/500"))
    now = utcnow()
    assert poll(session, partner, uploads, now) == "failed"
    stored = session.get(Partner, partner.id)
    assert stored.poll_failures == 1
    assert "HTTP 500" in stored.last_poll_error
    assert stored.next_poll_at == now + timedelta(minutes=1)
    assert poll(session, partner, uploads, now + timedelta(minutes=1)) == "failed"
    assert session.get(Partner, partner.id).next_poll_at == now + timedelta(minutes=3)
    assert imports_of(session, partner) == []
    assert list((uploads / "feeds").glob("*")) == []


def test_three_failed_polls_flag_the_feed_stale(session, server, uploads):
    partner = polled_partner(session, server.url("/status/503"))
    at = utcnow()
    for _ in range(3):
        poll(session, partner, uploads, at)
        at = session.get(Partner, partner.id).next_poll_at
    fresh = feed_freshness(session.get(Partner, partner.id), now=at)
    assert fresh.stale
    assert "the last 3 polls failed" in fresh.reason


def test_a_server_that_does_not_answer_in_time_is_a_transient_failure(session, server, uploads):
    partner = polled_partner(session, server.url("/sleepy"))
    assert poll(session, partner, uploads, utcnow(), timeout=0.2) == "failed"
    assert "timed out" in session.get(Partner, partner.id).last_poll_error


def test_a_slow_loris_body_is_cut_at_the_deadline(session, server, uploads):
    partner = polled_partner(session, server.url("/dribble-body"))
    assert poll(session, partner, uploads, utcnow(), deadline=0.5) == "failed"
    assert imports_of(session, partner) == []
    assert "within" in session.get(Partner, partner.id).last_poll_error


def test_a_not_found_feed_waits_for_the_partners_interval(session, server, uploads):
    partner = polled_partner(session, server.url("/status/404"))
    now = utcnow()
    poll(session, partner, uploads, now)
    assert session.get(Partner, partner.id).next_poll_at == now + timedelta(minutes=30)


def test_poll_now_makes_the_feed_due(session, server, uploads):
    partner = polled_partner(session, server.url("/feed.csv"))
    now = utcnow()
    poll(session, partner, uploads, now)
    assert partner.id not in due_for_poll(session, now + timedelta(minutes=1))
    poll_now(session, partner.id, now=now + timedelta(minutes=1))
    assert partner.id in due_for_poll(session, now + timedelta(minutes=1))


def test_an_empty_feed_is_a_recorded_failure(session, server, uploads):
    server.publish(b"", '"empty"', "Fri, 03 Oct 2025 10:00:00 GMT")
    partner = polled_partner(session, server.url("/feed.csv"))
    assert poll(session, partner, uploads, utcnow()) == "failed"
    stored = session.get(Partner, partner.id)
    assert (stored.poll_failures, stored.last_poll_error) == (1, "the feed is empty")
    assert imports_of(session, partner) == []
