"""Shared short-lived reads (services.read_cache): fresh at once after a change made here,
within the time limit after a change made elsewhere, never shared between databases."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session

from app.models.returns import ReturnRequest
from app.services.read_cache import ReadCache
from app.services.returns import queue_counts
from tests.views.returns_helpers import open_return


def test_it_reads_once_until_the_time_limit_or_a_change_made_here():
    cache = ReadCache(ttl=0.2)
    session = Session(create_engine("sqlite://"))
    reads = []

    def load():
        reads.append(1)
        return len(reads)

    assert [cache.get(session, "k", load) for _ in range(3)] == [1, 1, 1]
    cache.changed()
    assert cache.get(session, "k", load) == 2
    time.sleep(0.25)
    assert cache.get(session, "k", load) == 3


def test_it_keeps_each_database_apart():
    cache = ReadCache(ttl=60)
    first, second = Session(create_engine("sqlite://")), Session(create_engine("sqlite://"))
    assert cache.get(first, "k", lambda: "first") == "first"
    assert cache.get(second, "k", lambda: "second") == "second"
    assert cache.get(first, "k", lambda: "again") == "first"


def test_queue_counts_follow_returns_opened_here_at_once_and_others_within_a_second(
    app, session, customer
):
    before = queue_counts(session)["support"]
    record = open_return(app, session, customer)
    assert queue_counts(session)["support"] == before + 1
    # a change made by another process (written here without telling the cache)
    session.execute(update(ReturnRequest).where(ReturnRequest.id == record.id).values(team=None))
    assert queue_counts(session)["support"] == before + 1  # still the value read a moment ago
    time.sleep(1.05)
    assert queue_counts(session)["support"] == before
