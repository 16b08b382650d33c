"""A published workflow version reaches every process at once, without a restart (issue 11):
another process that has just read version 1 starts the next return on version 2."""

from __future__ import annotations

import multiprocessing

from app.db import Database, utcnow
from app.services.workflows import RMA, create_draft, ensure_shipped, publish_version
from tests.builders import make_user, rma_with_awaiting_info
from tests.concurrency.workflow_workers import version_reader


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
            assert answers.get(timeout=60) == 1  # read over there
            draft = create_draft(
                session, RMA, rma_with_awaiting_info(), actor=admin.id, now=utcnow()
            )
            publish_version(session, RMA, draft.version, actor=admin.id, now=utcnow())
        asks.put("version")
        assert answers.get(timeout=60) == draft.version  # the very next read
    finally:
        asks.put("stop")
        reader.join(timeout=30)
        database.dispose()
