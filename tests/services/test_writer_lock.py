"""WriterLock: one SQLite writer at a time, among the threads of a process and among the
processes of `backroom serve` (an exclusive flock on `<database>-writer.lock`)."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import Base, Database, WriterLock, transaction
from app.models.monitoring import Heartbeat

ROUNDS = 20


def hold_and_mark(database: str, marks: str, start: object, rounds: int) -> None:
    """In a process of its own: take the lock `rounds` times, writing start/end around a pause."""
    lock = WriterLock(database)
    start.wait(30)  # type: ignore[attr-defined]
    for _ in range(rounds):
        lock.acquire()
        try:
            with open(marks, "a") as out:
                out.write(f"start {os.getpid()}\n")
                out.flush()
                time.sleep(0.002)  # long enough for an unlocked rival to write in between
                out.write(f"end {os.getpid()}\n")
        finally:
            lock.release()


def held_elsewhere(path: str) -> bool:
    """Whether another open file (as another process has) is refused the lock now."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock this check took
    return False


def test_it_locks_a_file_beside_the_database(tmp_path):
    lock = WriterLock(str(tmp_path / "backroom.db"))
    assert lock.path == f"{tmp_path}/backroom.db-writer.lock"
    lock.acquire()
    try:
        assert held_elsewhere(lock.path)
    finally:
        lock.release()
    assert not held_elsewhere(lock.path)
    lock.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_a_database_in_memory_queues_on_the_thread_lock_only(url):
    database = Database(url)
    try:
        assert database.write_lock.path is None
        with database.session() as session, transaction(session):
            pass  # takes and releases the thread lock, opens no file
        assert database.write_lock._thread_lock.acquire(blocking=False)
        database.write_lock._thread_lock.release()
    finally:
        database.dispose()


def test_it_makes_threads_of_one_process_wait(tmp_path):
    lock = WriterLock(str(tmp_path / "x.db"))
    lock.acquire()
    got = threading.Event()

    def writer() -> None:
        lock.acquire()
        got.set()
        lock.release()

    thread = threading.Thread(target=writer)
    thread.start()
    assert not got.wait(0.2)
    lock.release()
    assert got.wait(5)
    thread.join(5)
    lock.close()


@pytest.mark.slow
def test_writers_in_two_processes_never_overlap(tmp_path):
    database, marks = str(tmp_path / "x.db"), str(tmp_path / "marks.txt")
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Event()
    processes = [
        spawn.Process(target=hold_and_mark, args=(database, marks, start, ROUNDS)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    lines = Path(marks).read_text().splitlines()
    assert len(lines) == 2 * 2 * ROUNDS
    pairs = list(zip(lines[::2], lines[1::2], strict=True))
    for begun, ended in pairs:
        assert begun.startswith("start ")
        assert ended == begun.replace("start", "end")  # the same process, nothing between
    assert len({begun for begun, _ in pairs}) == 2  # both processes wrote


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_process_takes_the_lock_on_a_file_of_its_own(tmp_path):
    """flock belongs to the open file: a child reusing the parent's would share its lock."""
    lock = WriterLock(str(tmp_path / "x.db"))
    lock.acquire()  # opens the file in this process, before the fork
    lock.release()
    fork = multiprocessing.get_context("fork")
    held, got = fork.Event(), fork.Event()

    def child() -> None:
        held.wait(10)
        lock.acquire()
        got.set()
        lock.release()

    process = fork.Process(target=child)
    process.start()
    lock.acquire()
    try:
        held.set()
        assert not got.wait(0.5)  # the child waits for this process's writer
    finally:
        lock.release()
    assert got.wait(10)
    process.join(10)
    assert process.exitcode == 0
    lock.close()


def test_transactions_commit_through_the_lock_on_a_database_file(tmp_path):
    database = Database(f"sqlite:///{tmp_path}/x.db", pool_size=2)
    try:
        Base.metadata.create_all(database.engine)
        beat = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
        with database.session() as session, transaction(session):
            session.add(Heartbeat(name="lock", beat_at=beat, holder="test"))
        assert not held_elsewhere(database.write_lock.path)  # released after commit

        def write_then_fail() -> None:
            with database.session() as session, transaction(session):
                session.add(Heartbeat(name="rolled-back", beat_at=beat, holder="test"))
                assert held_elsewhere(database.write_lock.path)
                raise RuntimeError("stop")

        with pytest.raises(RuntimeError, match="stop"):
            write_then_fail()
        assert not held_elsewhere(database.write_lock.path)  # released after rollback
        with database.session() as session:
            names = session.scalars(select(Heartbeat.name)).all()
        assert names == ["lock"]
        assert Path(f"{tmp_path}/x.db-writer.lock").exists()
    finally:
        database.dispose()


def test_after_a_fork_a_database_has_its_own_writer_lock_and_connections(tmp_path):
    """What the at-fork hook does in every child (called here in-process): a lock the
    parent's threads may hold is left behind, and new connections are opened on demand."""
    database = Database(f"sqlite:///{tmp_path / 'fork.db'}")
    try:
        Base.metadata.create_all(database.engine)
        inherited = database.write_lock
        # As a fork leaves it when another thread of the parent was writing: its thread
        # lock held, by a thread the child does not have (the flock is per process).
        inherited._thread_lock.acquire()
        try:
            database.after_fork()
            assert database.write_lock is not inherited
            session = database.session()
            with transaction(session):  # would wait for good on the inherited lock
                session.add(Heartbeat(name="child", beat_at=datetime.now(UTC), holder="c"))
            session.close()
        finally:
            inherited._thread_lock.release()
    finally:
        database.dispose()
