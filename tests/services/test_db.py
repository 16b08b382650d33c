"""The database layer: UTC times, and `transaction` committing or rolling back as a whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import make_transient_to_detached

from app.db import Database, as_loaded, database_of, transaction
from app.models.monitoring import Heartbeat


def test_it_stores_and_returns_aware_utc_times(session):
    local = datetime(2026, 11, 25, 15, 0, tzinfo=timezone(timedelta(hours=1)))
    with transaction(session):
        session.add(Heartbeat(name="tz", beat_at=local, holder=""))
    session.expire_all()
    beat = session.get(Heartbeat, "tz")
    assert beat.beat_at == datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert beat.beat_at.utcoffset() == timedelta(0)


def test_it_refuses_naive_datetimes(session):
    session.add(Heartbeat(name="naive", beat_at=datetime(2026, 1, 1), holder=""))
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()
    session.rollback()


def test_it_rolls_back_the_whole_transaction_on_error(session):
    def write_then_fail():
        with transaction(session):
            session.add(Heartbeat(name="half", beat_at=datetime.now(UTC), holder=""))
            session.flush()
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert session.scalars(select(Heartbeat).where(Heartbeat.name == "half")).first() is None


def test_it_knows_which_database_a_session_belongs_to(db, session):
    assert database_of(session) is db
    db.ping()


def test_it_supports_an_in_memory_sqlite_database():
    memory = Database("sqlite://")
    try:
        memory.ping()
        assert memory.is_sqlite
    finally:
        memory.dispose()


def test_it_passes_null_times_through(db):
    from app.db import UTCDateTime

    column = UTCDateTime()
    dialect = db.engine.dialect
    assert column.process_bind_param(None, dialect) is None
    assert column.process_result_value(None, dialect) is None
    aware = column.process_result_value(datetime(2026, 1, 1, 12, tzinfo=UTC), dialect)
    assert aware == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_as_loaded_builds_a_clean_instance_that_flushes_nothing(session):
    with transaction(session):
        session.add(Heartbeat(name="kept", beat_at=datetime(2026, 1, 1, tzinfo=UTC), holder="a"))
    session.expunge_all()
    copy = as_loaded(Heartbeat, {"name": "kept", "beat_at": datetime.now(UTC), "holder": "b"})
    assert (copy.name, copy.holder) == ("kept", "b")
    make_transient_to_detached(copy)
    session.add(copy)
    assert not session.dirty
    assert not session.new
    session.commit()  # nothing pending: the row keeps what was written
    session.expunge_all()
    assert session.get(Heartbeat, "kept").holder == "a"
    copy.holder = "c"  # changed afterwards, it is an ordinary instance again
    session.add(copy)
    session.commit()
    session.expunge_all()
    assert session.get(Heartbeat, "kept").holder == "c"
