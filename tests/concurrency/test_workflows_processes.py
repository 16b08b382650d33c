"""A published workflow version reaches every process without a restart (issue 11): another
process that has already read version 1 starts new returns on version 2 within its read
cache's second."""

from __future__ import annotations

import multiprocessing
import time

from app.db import Database, utcnow
from app.services.workflows import RMA, create_draft, ensure_shipped, publish_version
from tests.builders import make_user, rma_with_awaiting_info
from tests.concurrency.workflow_workers import version_reader

FRESH_WITHIN = 5.0  # seconds: the read cache keeps a version 1 s; the rest is slack


def test_another_process_takes_a_newly_published_version(fresh_url):
    database = Database(fresh_url, pool_size=2)
    spawn = multiprocessing.get_context("spawn")
    asks, answers = spawn.Queue(), spawn.Queue()
    reader = spawn.Process(target=version_reader, args=(fresh_url, asks, answers))
    reader.start()
    try:
        with database.session() as session:
            ensure_shipped(session, RMA)
            admin = make_user(session, "admin")
            session.commit()
            asks.put("version")
            assert answers.get(timeout=60) == 1  # read, and now cached, over there
            draft = create_draft(
                session, RMA, rma_with_awaiting_info(), actor=admin.id, now=utcnow()
            )
            publish_version(session, RMA, draft.version, actor=admin.id, now=utcnow())
        seen, deadline = 1, time.monotonic() + FRESH_WITHIN
        while seen != draft.version and time.monotonic() < deadline:
            asks.put("version")
            seen = answers.get(timeout=60)
            time.sleep(0.1)
        assert seen == draft.version
    finally:
        asks.put("stop")
        reader.join(timeout=30)
        database.dispose()
