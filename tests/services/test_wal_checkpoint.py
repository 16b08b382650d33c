"""SQLite's write-ahead log is copied into the database in the background, not by a writer."""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, datetime

from app.db import WAL_BACKSTOP_PAGES, Database, WalCheckpointer, database_path, transaction
from app.migrations import upgrade_database
from app.models.monitoring import Heartbeat


def _database(tmp_path) -> tuple[Database, str]:
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    upgrade_database(url)
    path = database_path(url)
    assert path is not None
    return Database(url, pool_size=2), path


def _write(db: Database, n: int) -> None:
    session = db.session()
    try:
        for i in range(n):
            with transaction(session):
                session.add(Heartbeat(name=f"beat-{i}", beat_at=datetime.now(UTC), holder="x"))
    finally:
        session.close()


def test_a_writer_leaves_the_log_to_the_checkpointer(tmp_path):
    db, path = _database(tmp_path)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == WAL_BACKSTOP_PAGES
    _write(db, 50)
    conn = sqlite3.connect(path)
    try:
        busy, pages, copied = WalCheckpointer(path).checkpoint(conn)
        assert (busy, copied) == (0, pages)
        assert pages > 0  # the commits above were still in the log, not yet in the database
        assert WalCheckpointer(path).checkpoint(conn)[2] == pages  # nothing new: same frames
    finally:
        conn.close()
        db.dispose()


def test_its_thread_checkpoints_on_time_and_stops(tmp_path):
    db, path = _database(tmp_path)
    checkpointer = WalCheckpointer(path, seconds=0.05)
    seen: list[tuple[int, int, int]] = []
    original = checkpointer.checkpoint
    checkpointer.checkpoint = lambda conn: seen.append(original(conn)) or seen[-1]  # type: ignore[method-assign]
    checkpointer.start()
    try:
        _write(db, 20)
        deadline = time.monotonic() + 5
        while not any(pages and copied == pages for _, pages, copied in seen):
            assert time.monotonic() < deadline, seen
            time.sleep(0.02)
    finally:
        checkpointer.stop()
        db.dispose()
    assert not checkpointer._thread.is_alive()


def test_a_failed_checkpoint_is_logged_and_tried_again(tmp_path, caplog):
    db, path = _database(tmp_path)
    checkpointer = WalCheckpointer(path, seconds=0.02)
    calls = 0

    def failing(conn: sqlite3.Connection) -> tuple[int, int, int]:
        nonlocal calls
        calls += 1
        raise sqlite3.OperationalError("disk I/O error")

    checkpointer.checkpoint = failing  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="app.db"):
        checkpointer.start()
        deadline = time.monotonic() + 5
        while calls < 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        checkpointer.stop()
    db.dispose()
    assert "WAL checkpoint" in caplog.text
