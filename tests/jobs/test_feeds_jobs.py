"""Feed jobs, called with an explicit `now`, twice, to prove a repeat does nothing more."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.config import Config
from app.db import Database, utcnow
from app.migrations import upgrade_database
from app.models.catalog import Product
from app.models.feeds import FeedImport, FeedRejection
from jobs import JobContext
from jobs.feeds import CHILDREN, poll_feeds, prune_imports, run_imports
from tests.builders import make_partner, make_user, queue_feed
from tests.feed_server import serve_feeds

FEED = b"sku,name,price,stock\nJ-1,Jam,4.50,3\nJ-2,Jelly,2,1\n"


def test_it_runs_a_queued_import_once(session, ctx):
    partner, _ = make_partner(session, make_user(session, "admin"))
    record = queue_feed(session, partner, FEED, ctx.config.upload_dir)
    now = utcnow()
    assert run_imports(session, now, ctx) == 1
    assert run_imports(session, now, ctx) == 0
    session.expire_all()
    done = session.get(FeedImport, record.id)
    assert (done.status, done.created, done.claimed_by) == ("succeeded", 2, None)
    prices = session.scalars(select(Product.price_cents).where(Product.partner_id == partner.id))
    assert sorted(prices) == [200, 450]


def test_it_takes_over_an_import_whose_worker_died(session, ctx):
    partner, _ = make_partner(session, make_user(session, "admin"))
    record = queue_feed(session, partner, FEED, ctx.config.upload_dir)
    with session.begin():
        claimed = session.get_one(FeedImport, record.id)
        claimed.status, claimed.claimed_by = "running", "a-worker-that-died"
        claimed.lease_until, claimed.attempts = utcnow() + timedelta(seconds=60), 1
    assert run_imports(session, utcnow(), ctx) == 0  # its lease still runs
    later = utcnow() + timedelta(seconds=61)
    assert run_imports(session, later, ctx) == 1
    assert run_imports(session, later, ctx) == 0
    session.expire_all()
    done = session.get_one(FeedImport, record.id)
    assert (done.status, done.attempts, done.created) == ("succeeded", 2, 2)


def test_it_polls_a_due_feed_once(session, ctx):
    server = serve_feeds()
    feed = next(server)
    try:
        partner, _ = make_partner(
            session, make_user(session, "admin"), feed_url=feed.url("/feed.csv"), poll_minutes=5
        )
        now = utcnow()
        assert poll_feeds(session, now, ctx) == 1
        assert poll_feeds(session, now, ctx) == 0
        queued = session.scalars(select(FeedImport).where(FeedImport.partner_id == partner.id))
        assert [record.source for record in queued] == ["poll"]
    finally:
        next(server, None)


def test_it_runs_an_import_in_a_child_process_at_a_lower_priority(tmp_path):
    """The default worker: a child process on the same database file and data folder."""
    url = f"sqlite:///{tmp_path / 'backroom.db'}"
    upgrade_database(url)
    config = Config(database_url=url, data_dir=tmp_path, upload_dir=tmp_path / "uploads")
    db = Database(url)
    session = db.session()
    try:
        partner, _ = make_partner(session, make_user(session, "admin"))
        record = queue_feed(session, partner, FEED, config.upload_dir)
        ctx = JobContext(config=config, db=db, payments=None, holder="parent")  # type: ignore[arg-type]
        assert run_imports(session, utcnow(), ctx) == 1
        assert run_imports(session, utcnow(), ctx) == 0  # one child at a time, not waited for
        assert CHILDREN.wait(timeout=60) == 0
        session.expire_all()
        done = session.get_one(FeedImport, record.id)
        assert (done.status, done.created, done.claimed_by) == ("succeeded", 2, None)
        assert run_imports(session, utcnow(), ctx) == 0  # reaps the child; nothing queued
    finally:
        session.close()
        db.dispose()


def test_it_clears_old_imports_details_once_and_keeps_their_counts(session, ctx):
    partner, _ = make_partner(session, make_user(session, "admin"))
    bad = FEED + b"J-3,,1\n"
    record = queue_feed(session, partner, bad, ctx.config.upload_dir, dry_run=True)
    run_imports(session, utcnow(), ctx)
    file = ctx.config.upload_dir / "feeds" / record.file_name
    assert file.exists()  # a dry run's file waits to be imported for real
    assert prune_imports(session, utcnow(), ctx) == 0
    later = utcnow() + timedelta(days=15)
    assert prune_imports(session, later, ctx) == 1
    assert prune_imports(session, later, ctx) == 0
    session.expire_all()
    done = session.get_one(FeedImport, record.id)
    assert (done.rows_total, done.created, done.rejected) == (3, 2, 1)
    assert done.cleaned_at == later
    assert not file.exists()
    rejections = session.scalars(select(FeedRejection).where(FeedRejection.import_id == record.id))
    assert rejections.all() == []
