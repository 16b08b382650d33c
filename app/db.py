"""Engine, sessions and the one way to write: `transaction(session)`.

SQLite (the embedded default) allows one writer at a time. A read transaction that later
tries to write can fail at once with "database is locked" when another writer got in first,
and SQLite's own busy handler waits by sleeping in growing steps. So every write transaction
here starts with `BEGIN IMMEDIATE` (the write lock is taken up front, never upgraded), and
writers queue first on `WriterLock`: a plain lock inside the process and, for a database
file, an exclusive `flock` on a file beside it across the processes of `backroom serve`.
Both wake the next writer the moment the last one finishes, where SQLite would sleep.
PostgreSQL needs neither: writes there rely on row locks and conditional updates.
"""

from __future__ import annotations

import contextvars
import fcntl
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    DateTime,
    MetaData,
    Select,
    create_engine,
    event,
    inspect,
    make_url,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator


class _Writing:
    """What `transaction()` asks of the next BEGIN in its context: take `lock`, then begin
    IMMEDIATE. `began` says the lock is held for a transaction of our own (not a savepoint
    inside someone else's, as in tests)."""

    __slots__ = ("began", "lock")

    def __init__(self, lock: WriterLock) -> None:
        self.lock = lock
        self.began = False


log = logging.getLogger(__name__)
_WRITING: contextvars.ContextVar[_Writing | None] = contextvars.ContextVar("writing", default=None)

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


def is_row_id(value: int) -> bool:
    """Whether `value` can be a row's id (1 to MAX_INT): the one id guard. Anything else is
    found nowhere, so callers answer "not found" without asking the database."""
    return 0 < value <= MAX_INT


# PostgreSQL's text cannot hold NUL (nor take it in a parameter). The one rule: text to be
# stored is refused with NUL_MESSAGE; text only looked up (search terms, filters) drops it.
NUL = "\x00"
NUL_MESSAGE = "must not contain NUL characters"


def clean_text(value: str) -> str:
    """Text read leniently (a search term, a filter, a page form that keeps what was typed)
    without NUL: no stored name holds one."""
    return value.replace(NUL, "")


def like_escaped(typed: str) -> str:
    """`typed` inside a LIKE pattern (with `escape="\\"`): its %, _ and \\ match themselves."""
    return typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains(column: QueryableAttribute[Any], typed: str) -> ColumnElement[bool]:
    """A search box's match: `column` holds `typed` anywhere, in any case (SQLite folds only
    ASCII letters), LIKE's wildcards in `typed` matching themselves."""
    return column.ilike(f"%{like_escaped(typed)}%", escape="\\")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


M = TypeVar("M", bound=Base)


def as_loaded(model: type[M], values: Mapping[str, Any]) -> M:
    """An instance of `model` holding `values` (column attributes) as if the ORM had just
    loaded them: nothing pending, no attribute events. For rows a hot path read or wrote
    with Core that its callers want as objects; building them through `__init__` fires an
    event per attribute and costs about five times as much."""
    instance = inspect(model).class_manager.new_instance()
    instance.__dict__.update(values)
    return cast(M, instance)


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


class WriterLock:
    """Admits one SQLite writer at a time: a thread lock in this process, then (for a
    database file) an exclusive `flock` on `<database>-writer.lock`, shared by every
    process using the file. The file is opened on first use, so a process that forks
    before writing gets its own lock."""

    def __init__(self, database_path: str | None) -> None:
        self.path = f"{database_path}-writer.lock" if database_path else None
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def acquire(self) -> None:
        self._thread_lock.acquire()
        if self.path is None:
            return
        try:
            if self._fd is None or self._pid != os.getpid():
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


def database_path(url: str) -> str | None:
    """The SQLite database file of `url`, or None (in memory, or not SQLite)."""
    if not url.startswith("sqlite"):
        return None
    path = make_url(url).database
    return os.path.abspath(path) if path and path != ":memory:" else None


class Database:
    """One engine and its session factory; `is_sqlite` picks the write strategy."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.write_lock = WriterLock(database_path(url))
        self.engine = _make_engine(url, pool_size=pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info={"db": self})
        _OPEN.add(self)

    def after_fork(self) -> None:
        """In a forked child: its own connections (the parent's stay the parent's) and its
        own SQLite writer lock (a flock is shared through an inherited descriptor, and a
        thread lock another thread held at the fork would stay held for good)."""
        self.engine.dispose(close=False)
        self.write_lock = WriterLock(database_path(self.url))

    def session(self) -> Session:
        return self.sessions()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        self.write_lock.close()


_OPEN: weakref.WeakSet[Database] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for database in list(_OPEN):
        database.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


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
    # A commit that crosses this many pages of log also copies them into the database
    # (with an fsync) before the writer lets go. `WalCheckpointer` normally does that
    # in the background long before; this is the backstop when nothing runs it.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
    cursor.close()


WAL_BACKSTOP_PAGES = 10_000  # 40 MB of log at 4 KB pages


class WalCheckpointer:
    """Copies committed pages from SQLite's write-ahead log into the database file every
    `seconds`, on its own thread and connection, so that no writer pays for it: SQLite's
    automatic checkpoint runs inside the COMMIT that crosses the threshold, fsync included,
    while every other writer waits. PASSIVE never blocks readers or writers; what it cannot
    copy yet it copies next time."""

    def __init__(self, database_path: str, *, seconds: float = 1.0) -> None:
        self.database_path = database_path
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def checkpoint(self, conn: sqlite3.Connection) -> tuple[int, int, int]:
        """(busy, log pages, pages copied) as SQLite reports them."""
        busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(pages), int(copied)

    def _run(self) -> None:
        conn = sqlite3.connect(self.database_path, timeout=0, check_same_thread=False)
        try:
            while not self._stop.wait(self.seconds):
                try:
                    self.checkpoint(conn)
                except sqlite3.Error:
                    log.exception("WAL checkpoint of %s failed; retrying", self.database_path)
        finally:
            conn.close()


def _sqlite_begin(conn: Connection) -> None:
    # Straight to the driver: every transaction begins here, and the statement needs
    # none of what SQLAlchemy's execution path adds (parameters, types, a result).
    driver = conn.connection.dbapi_connection
    assert driver is not None
    writing = _WRITING.get()
    if writing is None:
        driver.execute("BEGIN")
        return
    # The lock is taken here, once the pool has handed out a connection, so the next
    # writer waits only for the statements of this one.
    writing.lock.acquire()
    try:
        driver.execute("BEGIN IMMEDIATE")
    except BaseException:
        writing.lock.release()
        raise
    writing.began = True


def database_of(session: Session) -> Database | None:
    db = session.info.get("db")
    return db if isinstance(db, Database) else None


def due_ids(session: Session, query: Select[int]) -> list[int]:
    """The ids a job is due to handle (`query` selects them, ordered and limited), read in a
    transaction that ends at once: each is then handled in a transaction of its own."""
    ids = list(session.scalars(query))
    session.commit()
    return ids


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Run the block as one write transaction: commit on success, roll back on any error.

    Any read transaction the session had open is ended first, so the write starts from a
    fresh snapshot and (on SQLite) takes the write lock up front. On SQLite the lock is held
    from BEGIN IMMEDIATE to COMMIT only: the pool's and the session's bookkeeping before
    and after run while the next writer already writes.
    """
    db = database_of(session)
    if session.in_transaction():
        session.commit()
    writing = _Writing(db.write_lock) if db is not None and db.is_sqlite else None
    token = _WRITING.set(writing)
    try:
        conn = session.connection()  # begins now (SQLite: takes the lock, BEGIN IMMEDIATE)
    finally:
        _WRITING.reset(token)
    try:
        yield session
        if writing is not None and writing.began:
            session.flush()
            driver = conn.connection.dbapi_connection
            assert driver is not None
            driver.commit()  # durable now; SQLAlchemy's own commit below finds nothing to do
            writing.began = False
            writing.lock.release()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        if writing is not None and writing.began:
            writing.lock.release()
