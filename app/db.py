"""Engine, sessions and the one way to write: `transaction(session)`.

SQLite (the embedded default) allows one writer at a time. A read transaction that later
tries to write can fail at once with "database is locked" when another writer got in first,
and SQLite's own busy handler waits by sleeping in growing steps. So every write transaction
here starts with `BEGIN IMMEDIATE` (the write lock is taken up front, never upgraded) and,
inside one process, writers queue on a plain lock first so they wait without sleeping.
PostgreSQL needs neither: writes there rely on row locks and conditional updates.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

_IMMEDIATE: contextvars.ContextVar[bool] = contextvars.ContextVar("immediate", default=False)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# INTEGER columns (ids, cents, stock) are 32-bit on PostgreSQL: values past this are
# refused (or not found) before they reach the database, never a driver error.
MAX_INT = 2**31 - 1


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC; the only clock services use by default."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back aware UTC datetimes, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Database:
    """One engine and its session factory; `is_sqlite` picks the write strategy."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.write_lock = threading.Lock()
        self.engine = _make_engine(url, pool_size=pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info={"db": self})

    def session(self) -> Session:
        return self.sessions()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _make_engine(url: str, *, pool_size: int) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(
            url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True
        )
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=NullPool if memory else None,
        **({} if memory else {"pool_size": pool_size, "max_overflow": pool_size * 2}),
    )
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if _IMMEDIATE.get() else "BEGIN")


def database_of(session: Session) -> Database | None:
    db = session.info.get("db")
    return db if isinstance(db, Database) else None


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Run the block as one write transaction: commit on success, roll back on any error.

    Any read transaction the session had open is ended first, so the write starts from a
    fresh snapshot and (on SQLite) takes the write lock up front.
    """
    db = database_of(session)
    lock = db.write_lock if db is not None and db.is_sqlite else None
    if session.in_transaction():
        session.commit()
    if lock is not None:
        lock.acquire()
    try:
        token = _IMMEDIATE.set(True)
        try:
            session.connection()  # begins now, as IMMEDIATE on SQLite
        finally:
            _IMMEDIATE.reset(token)
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        if lock is not None:
            lock.release()
