"""The log store: what the handler keeps (ids, redaction), the writer (batches, a failing
database, its thread), the reads (filters, pages, exports) and pruning."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

import app.services.monitoring.logs as logs_module
from app.config import Config, ConfigError, check_config
from app.db import Base, Database, utcnow
from app.logs import JsonFormatter, caused_by, job_of, redact, redact_value, request_id_var
from app.models.monitoring import LogEvent
from app.services.monitoring import (
    LogFilter,
    flush_log_store,
    install_log_store,
    list_log_events,
    log_events_csv,
    log_events_jsonl,
    prune_log_events,
)
from app.services.monitoring.logs import LogStore, StoreHandler

log = logging.getLogger("backroom.test.logs")


@pytest.fixture
def store(db: Database, caplog: pytest.LogCaptureFixture) -> Iterator[LogStore]:
    """This process's store on the test's database, writing when the test flushes."""
    caplog.set_level(logging.INFO)
    installed = install_log_store(db, background=False)
    assert installed is not None
    yield installed
    installed.discard()


@pytest.fixture
def other_database(tmp_path: Path) -> Iterator[Database]:
    """A database of its own (a file with the schema), for writer threads: the test's
    database is one connection, which no other thread may use."""
    database = Database(f"sqlite:///{tmp_path / 'logs.db'}", pool_size=2)
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


def add_lines(session: Session, *rows: dict[str, object]) -> None:
    base = {"at": utcnow(), "level": "info", "logger": "t", "message": "", "request_id": "-"}
    session.execute(insert(LogEvent), [{**base, **row} for row in rows])
    session.commit()


def stored(session: Session, **where: str) -> list[LogEvent]:
    query = select(LogEvent).order_by(LogEvent.id)
    for name, value in where.items():
        query = query.where(getattr(LogEvent, name) == value)
    return list(session.scalars(query))


# The handler and the writer -----------------------------------------------------------


def test_it_stores_a_line_with_the_request_id_it_was_logged_under(store, session):
    token = request_id_var.set("req-42")
    try:
        log.info("checked out %s", "order 7", extra={"path": "/cart", "status": 402})
    finally:
        request_id_var.reset(token)
    log.debug("too quiet to keep")
    assert flush_log_store() >= 1
    [line] = stored(session, request_id="req-42")
    assert (line.level, line.logger, line.message) == ("info", log.name, "checked out order 7")
    assert json.loads(line.fields or "") == {"path": "/cart", "status": 402}
    assert line.job_id is None
    assert not stored(session, message="too quiet to keep")


def test_it_keeps_the_job_on_a_line_logged_for_the_request_that_caused_the_work(store, session):
    token = request_id_var.set("job:returns.send_refunds:120000")
    try:
        log.info("picked up")
        with caused_by("req-7"):
            log.info("refund sent")
        with caused_by(""):
            log.info("no request behind this one")
    finally:
        request_id_var.reset(token)
    flush_log_store()
    picked, sent, alone = stored(session, logger=log.name)
    assert (picked.request_id, picked.job_id) == (
        "job:returns.send_refunds:120000",
        "returns.send_refunds",
    )
    assert (sent.request_id, sent.job_id) == ("req-7", "returns.send_refunds")
    assert (alone.request_id, alone.job_id) == (picked.request_id, "returns.send_refunds")
    assert job_of("job::1") is None


def test_it_masks_cards_emails_keys_tokens_and_passwords_before_storing(store, session):
    log.info(
        "card 4242 4242 4242 4242 of casey.doe@example.com, key bk_Zm9vYmFy-x_1, "
        "Authorization: Bearer eyJhbGciOi.xyz, form password=hunter22&next=/",
        extra={"path": "/login?email=casey.doe@example.com", "user_id": {"token": "abc"}},
    )
    try:
        raise ValueError("charge of 4000-0000-0000-0002 failed")
    except ValueError:
        log.exception("gateway said no")
    flush_log_store()
    first, second = stored(session, logger=log.name)
    assert first.message == (
        "card ***4242 of c***@example.com, key bk_***, Authorization: ***, form password=***&next=/"
    )
    assert json.loads(first.fields or "") == {
        "path": "/login?email=c***@example.com",
        "user_id": {"token": "***"},
    }
    exc = json.loads(second.fields or "")["exc"]
    assert "ValueError: charge of ***0002 failed" in exc
    assert "4000-0000-0000-0002" not in exc


@pytest.mark.parametrize(
    ("said", "kept"),
    [
        ('new_password: "s3cret pass" then', 'new_password: "***" then'),
        ("{'password': 'correct horse battery', 'user': 'casey'}",
         "{'password': '***', 'user': 'casey'}"),
        ('{"passphrase": "a b \\" c", "ok": 1}', '{"passphrase": "***", "ok": 1}'),
        ('pwd="no closing quote\nnext line"', 'pwd="***\nnext line"'),
        ("pass=hunter2&next=/", "pass=***&next=/"),
        ("db_pass: hunter2, PASS=x;y passphrase=z", "db_pass: ***, PASS=***;y passphrase=***"),
    ],
)  # fmt: skip
def test_it_masks_a_quoted_secret_to_its_closing_quote_and_a_bare_pass(store, session, said, kept):
    assert redact(said) == kept
    log.info("%s", said)
    flush_log_store()
    [line] = stored(session, logger=log.name)
    assert line.message == kept


def test_it_leaves_words_that_merely_contain_pass_alone(store, session):
    text = "3 tests passed: all, bypass=cache, compass: north, passes=2, Passing: yes"
    assert redact(text) == text
    assert redact_value("bypass", "on") == "on"
    assert redact_value("db_pass", "hunter2") == "***"


def test_it_writes_a_batch_per_transaction(other_database):
    store = LogStore(other_database, background=False)
    commits: list[int] = []
    event.listen(other_database.engine, "commit", lambda conn: commits.append(1))
    for n in range(1_200):
        store.offer(logs_module.line_row(record(f"line {n}")))
    assert store.flush() == 1_200
    assert len(commits) == 3  # 500 + 500 + 200
    with other_database.session() as session:
        assert session.scalar(select(func.count()).select_from(LogEvent)) == 1_200


def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("backroom.test", level, __file__, 1, message, None, None)


def test_it_drops_and_counts_when_the_queue_is_full_and_says_so_later(other_database, monkeypatch):
    monkeypatch.setattr(logs_module, "QUEUE_SIZE", 3)
    store = LogStore(other_database, background=False)
    for n in range(5):
        store.handler.handle(record(f"line {n}"))
    assert (store.queue.qsize(), store.dropped) == (3, 2)
    assert store.flush() == 3
    with other_database.session() as session:
        messages = session.scalars(select(LogEvent.message).order_by(LogEvent.id)).all()
    assert messages[:3] == ["line 0", "line 1", "line 2"]
    assert "2 log lines of process" in messages[3]
    assert store.flush() == 0  # the drop was reported once


def test_it_survives_a_database_that_refuses_the_batch(tmp_path, capsys):
    database = Database(f"sqlite:///{tmp_path / 'empty.db'}", pool_size=1)  # no schema yet
    store = LogStore(database, background=False)
    try:
        store.handler.handle(record("lost"))
        assert store.flush() == 0
        assert store.dropped == 1
        Base.metadata.create_all(database.engine)
        store.handler.handle(record("kept"))
        assert store.flush() == 1
        with database.session() as session:
            messages = session.scalars(select(LogEvent.message).order_by(LogEvent.id)).all()
        assert messages[0] == "kept"
        assert "1 log lines of process" in messages[1]
    finally:
        database.dispose()


def test_it_never_raises_into_the_caller_for_a_line_it_cannot_read(other_database, capsys):
    store = LogStore(other_database, background=False)
    bad = logging.LogRecord("backroom.test", logging.INFO, __file__, 1, "%d", ("x",), None)
    store.handler.handle(bad)  # logging's own handleError reports it on stderr
    assert store.queue.qsize() == 0
    assert "Logging error" in capsys.readouterr().err


def test_its_writer_thread_stores_lines_in_the_background_and_stops_cleanly(other_database):
    store = LogStore(other_database)
    logger = logging.getLogger("backroom.test.background")
    logger.addHandler(store.handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("first")
        assert store._thread is not None
        assert store._thread.is_alive()
        assert wait_for(lambda: count_lines(other_database) == 1)
        logger.info("last")
    finally:
        logger.removeHandler(store.handler)
        store.stop()
    assert not store._thread.is_alive()
    assert count_lines(other_database) == 2  # written before the thread ended
    store.offer(logs_module.line_row(record("after the stop")))  # starts no thread again
    assert not store._thread.is_alive()


def test_its_writer_thread_carries_on_after_a_failed_write(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'later.db'}", pool_size=1)
    store = LogStore(database)
    try:
        store.offer(logs_module.line_row(record("before the schema")))
        assert wait_for(lambda: store.dropped == 1)
        Base.metadata.create_all(database.engine)
        store.offer(logs_module.line_row(record("after the schema")))
        assert wait_for(lambda: count_lines(database) == 2)
        assert store._thread is not None
        assert store._thread.is_alive()
    finally:
        store.stop()
        database.dispose()


def test_a_stopped_store_starts_no_writer(other_database):
    store = LogStore(other_database)
    store.stop()
    store.offer(logs_module.line_row(record("too late")))
    assert store._thread is None
    assert store.queue.qsize() == 1


def count_lines(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(LogEvent)) or 0)


def wait_for(condition, seconds: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# Installing ----------------------------------------------------------------------------


@pytest.fixture
def restore_store(db: Database) -> Iterator[None]:
    """Whatever a test installs, the test database's manual store comes back after it."""
    yield
    install_log_store(db, background=False)


def store_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, StoreHandler)]


def test_it_installs_once_per_database_and_retargets_or_turns_off(
    db, other_database, restore_store
):
    first = install_log_store(db, background=False)
    assert install_log_store(db, background=False) is first
    logging.getLogger().removeHandler(first.handler)  # as configure_logging would
    assert install_log_store(db, background=False) is first
    assert store_handlers() == [first.handler]
    moved = install_log_store(other_database, background=False)
    assert moved is not first
    assert store_handlers() == [moved.handler]
    assert install_log_store(other_database, enabled=False) is None
    assert store_handlers() == []
    assert flush_log_store() == 0
    logs_module._write_before_exit()  # nothing to write, no queue to forget
    logs_module._forget_the_parents_lines()


def test_a_retargeted_store_stops_its_thread_after_writing_what_it_held(
    db, other_database, restore_store, caplog
):
    caplog.set_level(logging.INFO)
    running = install_log_store(other_database)
    assert install_log_store(other_database) is running
    log.info("held when the app changed")
    install_log_store(db, background=False)
    assert running is not None
    assert running._thread is not None
    assert not running._thread.is_alive()
    with other_database.session() as session:
        assert "held when the app changed" in session.scalars(select(LogEvent.message)).all()


def test_it_writes_what_it_holds_at_exit(other_database, restore_store, caplog):
    caplog.set_level(logging.INFO)
    running = install_log_store(other_database)
    log.info("the last words")
    logs_module._write_before_exit()
    assert running is not None
    assert running._thread is not None
    assert not running._thread.is_alive()
    with other_database.session() as session:
        assert "the last words" in session.scalars(select(LogEvent.message)).all()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_child_forked_while_the_writer_held_its_locks_stores_its_own_lines(
    other_database, restore_store, caplog
):
    caplog.set_level(logging.INFO)
    running = install_log_store(other_database)
    assert running is not None
    log.info("the parent's line")  # the parent's writer is running
    # Fork as if the writer were halfway through a batch: its lock and SQLite's writer lock
    # held by a thread the child will not have.
    held = (running._lock, other_database.write_lock._thread_lock)
    for lock in held:
        lock.acquire()
    try:
        pid = os.fork()
        if pid == 0:  # the child: leaves through os._exit whatever happens, never into pytest
            code = 3
            try:
                log.info("the child's line")
                code = 0 if running._pid == os.getpid() else 2  # its own writer started
                running.stop()  # writes what it holds
            finally:
                os._exit(code)
    finally:
        for lock in held:
            lock.release()
    assert exit_code_of(pid, seconds=20) == 0
    running.stop()
    messages = stored_messages(other_database)
    # The child stored its line; the parent's, queued before the fork, was the parent's.
    assert (messages.count("the child's line"), messages.count("the parent's line")) == (1, 1)


def exit_code_of(pid: int, seconds: float) -> int:
    """The child's exit code; a child still running after `seconds` hangs: killed, failed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child was still running after {seconds} s (a lock held for good?)")


def stored_messages(database: Database) -> list[str]:
    with database.session() as session:
        return list(session.scalars(select(LogEvent.message)))


def test_stderr_lines_are_redacted_too():
    try:
        raise RuntimeError("card 4242424242424242")
    except RuntimeError:
        exc_info = sys.exc_info()
    line = logging.LogRecord("x", logging.ERROR, __file__, 1, "for bob@example.com", None, exc_info)
    line.path = "/login?password=hunter22"
    line.user_id = ["ann@example.com", 7]
    printed = json.loads(JsonFormatter().format(line))
    assert printed["msg"] == "for b***@example.com"
    assert printed["path"] == "/login?password=***"
    assert printed["user_id"] == ["a***@example.com", 7]
    assert "***4242" in printed["exc"]
    assert "4242424242424242" not in printed["exc"]


def test_it_refuses_to_keep_fewer_than_a_thousand_lines():
    with pytest.raises(ConfigError, match="LOG_STORE_KEEP must be at least 1000"):
        check_config(Config(log_store_keep=999))


def test_an_app_with_the_store_off_keeps_nothing(make_app, restore_store):
    make_app(log_store=False)
    assert store_handlers() == []


# Reading -------------------------------------------------------------------------------


def test_it_filters_by_level_text_and_request_id_newest_first(session):
    add_lines(
        session,
        {"level": "info", "message": "GET /cart 200", "request_id": "r1"},
        {"level": "warning", "message": "slow: 100% of the budget", "request_id": "r1"},
        {"level": "error", "message": "Gateway down", "request_id": "r2"},
        {"level": "critical", "message": "disk full", "request_id": "r3"},
    )

    def messages(**filters: str) -> list[str]:
        page = list_log_events(session, LogFilter(**filters))
        return [line.message for line in page.items]

    assert messages() == ["disk full", "Gateway down", "slow: 100% of the budget", "GET /cart 200"]
    assert messages(level="error") == ["disk full", "Gateway down"]
    assert messages(level="nonsense") == messages()
    assert messages(text="GATEWAY") == ["Gateway down"]
    assert messages(text="100%") == ["slow: 100% of the budget"]
    assert messages(text="1_0") == []  # LIKE's wildcards are taken literally
    assert messages(request_id="r1") == ["slow: 100% of the budget", "GET /cart 200"]
    assert messages(request_id="r") == []
    assert messages(level="warning", request_id="r1", text="slow") == ["slow: 100% of the budget"]


def test_it_pages_newest_first(session):
    add_lines(session, *({"message": f"line {n}"} for n in range(120)))
    first = list_log_events(session, LogFilter(), page=1, per_page=50)
    last = list_log_events(session, LogFilter(), page=3, per_page=50)
    assert (first.total, first.pages, first.items[0].message) == (120, 3, "line 119")
    assert [line.message for line in last.items] == [f"line {n}" for n in range(19, -1, -1)]
    assert not last.has_next


def test_it_exports_csv_with_formulas_defused(session):
    add_lines(
        session,
        {"message": '=HYPERLINK("http://evil")', "request_id": "r1"},
        {
            "message": "plain, with a comma",
            "request_id": "r1",
            "fields": json.dumps({"status": 500}),
        },
        {"message": "@SUM(A1)", "logger": "-cmd", "request_id": "other"},
    )
    text = "".join(log_events_csv(session, LogFilter(request_id="r1")))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["message"] for row in rows] == [
        "plain, with a comma",
        '\'=HYPERLINK("http://evil")',
    ]
    assert json.loads(rows[0]["fields"]) == {"status": 500}
    everything = list(csv.DictReader(io.StringIO("".join(log_events_csv(session, LogFilter())))))
    assert (everything[0]["message"], everything[0]["logger"]) == ("'@SUM(A1)", "'-cmd")


def test_it_exports_json_lines_that_parse(session):
    add_lines(
        session,
        {"message": "first", "job_id": "returns.send_refunds"},
        {"message": "second\nline", "level": "error", "fields": json.dumps({"path": "/x"})},
    )
    lines = "".join(log_events_jsonl(session, LogFilter())).splitlines()
    parsed = [json.loads(line) for line in lines]
    assert [p["message"] for p in parsed] == ["second\nline", "first"]
    assert parsed[0]["fields"] == {"path": "/x"}
    assert parsed[1]["fields"] == {}
    assert parsed[1]["job_id"] == "returns.send_refunds"
    assert set(parsed[0]) == {
        "id",
        "at",
        "level",
        "logger",
        "message",
        "request_id",
        "job_id",
        "fields",
    }


# Pruning -------------------------------------------------------------------------------


def test_it_prunes_to_the_newest_lines_in_chunks(session, monkeypatch):
    monkeypatch.setattr(logs_module, "PRUNE_CHUNK", 2)
    add_lines(
        session,
        *({"message": f"line {n}", "at": utcnow() - timedelta(seconds=n)} for n in range(12)),
    )
    assert prune_log_events(session, keep=5) == 7
    assert prune_log_events(session, keep=5) == 0
    assert [line.message for line in stored(session)] == [f"line {n}" for n in range(7, 12)]


def test_it_prunes_nothing_from_an_empty_or_small_store(session):
    assert prune_log_events(session, keep=5) == 0
    add_lines(session, {"message": "only"})
    assert prune_log_events(session, keep=5) == 0


def test_lines_read_newest_first_by_when_they_were_logged_not_by_when_stored(session):
    """Two processes write their batches in turns: a line stored later may be older."""
    now = utcnow()
    add_lines(
        session,
        {"at": now, "message": "web 1, stored first"},
        {"at": now - timedelta(seconds=3), "message": "web 2, stored later but older"},
        {"at": now - timedelta(seconds=1), "message": "web 2, stored last"},
    )
    page = list_log_events(session, LogFilter(), page=1, per_page=10)
    assert [line.message for line in page.items][:3] == [
        "web 1, stored first",
        "web 2, stored last",
        "web 2, stored later but older",
    ]
