"""The log store behind `/monitoring/logs`: every process's lines (INFO and up) in the
`log_events` table, the newest LOG_STORE_KEEP of them kept.

A request never waits for it: the handler puts a plain row on a bounded in-memory queue
(when the queue is full the line is dropped and counted) and a writer thread of its own
inserts what gathered, a batch at a time, every half second, through a session of the
app's `Database`. A failed write loses that batch (counted, said on stderr) and the writer
carries on. Dropped lines are reported as a line of their own with the next batch that
lands. Redaction (card numbers, emails, keys, tokens, passwords) happens before a row is
written. Because each process writes into the database, the page shows the lines of every
web process and of the scheduler alike, on SQLite and on PostgreSQL.

One store per process: `install_log_store` is idempotent and re-targets the store when an
app with another database installs it (tests build many apps). The writer thread starts in
the process that logs (a forked web worker starts its own, on fresh locks and connections:
`LogStore.after_fork`) and `background=False` (test apps) starts none: lines wait in the
queue until `flush_log_store` writes them in the caller's own session and transaction.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, delete, insert, select
from sqlalchemy.orm import Session

from app.db import Database, clean_text, transaction
from app.logs import FIELDS, line_ids, redact, redact_value
from app.models.monitoring import LogEvent
from app.services.pagination import Page, paginate
from app.services.spreadsheets import csv_line, safe_cell

LEVELS = ("debug", "info", "warning", "error", "critical")
QUEUE_SIZE = 10_000  # lines waiting in one process; more are dropped, never waited for
BATCH = 500  # rows per insert
FLUSH_SECONDS = 0.5
PRUNE_CHUNK = 5_000  # rows deleted per transaction: the SQLite writer lock is held briefly
MESSAGE_LIMIT = 4_000
EXC_LIMIT = 8_000
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): such
# cells get a leading apostrophe, as the feeds' rejected rows do.
CSV_COLUMNS = ("id", "at", "level", "logger", "message", "request_id", "job_id", "fields")
# The writer's own lines go to stderr only: a failing store must not feed itself.
WRITER = "backroom.logstore"

log = logging.getLogger(WRITER)


class LogStore:
    """A bounded queue of rows and the writer that empties it into `database`."""

    def __init__(self, database: Database, *, background: bool = True) -> None:
        self.database = database
        self.background = background
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=QUEUE_SIZE)
        self.handler = StoreHandler(self)
        self.dropped = 0  # lines this process lost: a full queue or a failed write
        self._reported = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._local = threading.local()

    def offer(self, row: dict[str, Any]) -> None:
        """Queue a row without ever waiting; a full queue drops it (counted)."""
        if self.background and self._pid != os.getpid():
            self._start()
        try:
            self.queue.put_nowait(row)
        except queue.Full:
            self.count_lost(1)

    def count_lost(self, lines: int) -> None:
        with self._lock:
            self.dropped += lines

    def is_writing(self) -> bool:
        """True in the thread while it writes: what the database says then is not stored."""
        return bool(getattr(self._local, "writing", False))

    def _start(self) -> None:
        with self._lock:  # two threads logging the first lines start one writer
            if self._pid != os.getpid() and not self._stop.is_set():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="log-store", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()
        self.flush()  # what was queued before the stop

    def after_fork(self) -> None:
        """In a forked child: fresh locks, queue and counts, and no writer yet (the next line
        starts the child's own). Only the forking thread survives a fork, so a lock another
        thread held then (the writer's, the queue's) would stay held for good; the parent's
        queued and lost lines are the parent's to write and report."""
        stopped = self._stop.is_set()  # a stopped store stays stopped in the child
        self.queue = queue.Queue(maxsize=QUEUE_SIZE)
        self._lock, self._stop, self._local = threading.Lock(), threading.Event(), threading.local()
        if stopped:
            self._stop.set()
        self._thread, self._pid, self.dropped, self._reported = None, 0, 0, 0
        # The database's own pool and writer lock are renewed by app.db's at-fork hook.

    def stop(self) -> None:
        """Stop the writer after it has written what it holds (waits up to 5 s)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=5)

    def discard(self) -> None:
        """Forget the queued lines (a test app starts with none)."""
        while self._take(BATCH):
            pass

    def flush(self) -> int:
        """Write every queued line now, a batch per transaction; how many were stored."""
        stored = 0
        while batch := self._take(BATCH):
            stored += self._write(batch)
        return stored

    def _take(self, limit: int) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        while len(batch) < limit:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[dict[str, Any]]) -> int:
        rows = [stored_row(row) for row in batch]
        with self._lock:
            lost = self.dropped - self._reported
        if lost:
            rows.append(stored_row(lost_row(lost)))
        self._local.writing = True
        session = self.database.session()
        try:
            with transaction(session):
                session.execute(insert(LogEvent), rows)
        except Exception as exc:  # whatever the database says, the process carries on
            self.count_lost(len(batch))
            log.warning("could not store %d log lines: %s", len(batch), type(exc).__name__)
            return 0
        finally:
            session.close()
            self._local.writing = False
        with self._lock:
            self._reported += lost
        return len(batch)


class StoreHandler(logging.Handler):
    """Hands each line, as a plain row, to its store's queue; never blocks, never raises."""

    def __init__(self, store: LogStore) -> None:
        super().__init__(logging.INFO)
        self.store = store

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(WRITER) or self.store.is_writing():
            return
        try:
            self.store.offer(line_row(record))
        except Exception:  # a line that cannot be read (a bad format string) is stderr's
            self.handleError(record)


def line_row(record: logging.LogRecord) -> dict[str, Any]:
    """A record as the row to store, read in the thread that logged it (its ids live
    there); redaction waits for the writer."""
    request_id, job_id = line_ids(record)
    fields = {key: getattr(record, key) for key in FIELDS if hasattr(record, key)}
    if record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)[-EXC_LIMIT:]
    return {
        "at": datetime.fromtimestamp(record.created, UTC),
        "level": record.levelname.lower()[:10],
        "logger": record.name[:100],
        "message": record.getMessage(),
        "request_id": request_id[:128],
        "job_id": job_id[:60] if job_id else None,
        "fields": fields,
    }


def lost_row(lines: int) -> dict[str, Any]:
    return {
        "at": datetime.now(UTC),
        "level": "warning",
        "logger": WRITER,
        "message": f"{lines} log lines of process {os.getpid()} were not stored "
        "(the queue was full or the database refused them)",
        "request_id": "-",
        "job_id": None,
        "fields": {},
    }


def stored_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its message and fields redacted, as the table takes it."""
    fields = {key: redact_value(key, value) for key, value in row["fields"].items()}
    return {
        **row,
        "message": redact(clean_text(row["message"]))[:MESSAGE_LIMIT],
        "fields": clean_text(json.dumps(fields, default=str)) if fields else None,
    }


_STORE: LogStore | None = None
_INSTALLING = threading.Lock()


def install_log_store(
    database: Database, *, enabled: bool = True, background: bool = True
) -> LogStore | None:
    """Keep this process's log lines in `database` (or, not `enabled`, in no database).
    Idempotent: the same database keeps its store and writer (a test app's queue is
    emptied); another one stops the old writer (after it wrote what it held) and starts
    anew, so no thread ever writes to a database nobody uses any more."""
    global _STORE
    root = logging.getLogger()
    with _INSTALLING:
        store = _STORE
        same = store is not None and store.database is database
        if store is not None and same and enabled and store.background == background:
            if not background:
                store.discard()
            if store.handler not in root.handlers:  # configure_logging replaced them
                root.addHandler(store.handler)
            return store
        if store is not None:
            root.removeHandler(store.handler)
            store.stop()
            _STORE = None
        if not enabled:
            return None
        _STORE = LogStore(database, background=background)
        root.addHandler(_STORE.handler)
        return _STORE


def flush_log_store() -> int:
    """Write what this process's store holds now, in the caller's thread (test apps, whose
    store has no writer thread); how many lines were stored."""
    store = _STORE
    return store.flush() if store is not None else 0


@atexit.register
def _write_before_exit() -> None:
    store = _STORE
    if store is not None and store.background:
        store.stop()


def _forget_the_parents_lines() -> None:
    """What a forked child runs first: its store starts afresh (see LogStore.after_fork)."""
    global _INSTALLING
    _INSTALLING = threading.Lock()  # another thread may have held it at the fork
    store = _STORE
    if store is not None:
        store.after_fork()


os.register_at_fork(after_in_child=_forget_the_parents_lines)


@dataclass(frozen=True)
class LogLine:
    id: int
    at: datetime
    level: str
    logger: str
    message: str
    request_id: str
    job_id: str | None
    fields: dict[str, Any]


@dataclass(frozen=True)
class LogFilter:
    """Lines at or above `level`, whose message contains `text` (any case), of exactly
    `request_id`; empty means any."""

    level: str = ""
    text: str = ""
    request_id: str = ""


def _query(filters: LogFilter) -> Select[Any]:
    # Newest first by when each line was logged: processes write their batches in turns.
    query = select(LogEvent).order_by(LogEvent.at.desc(), LogEvent.id.desc())
    if filters.level in LEVELS:
        query = query.where(LogEvent.level.in_(LEVELS[LEVELS.index(filters.level) :]))
    if text := clean_text(filters.text):
        query = query.where(LogEvent.message.icontains(text, autoescape=True))
    if request_id := clean_text(filters.request_id):
        query = query.where(LogEvent.request_id == request_id[:128])
    return query


def _line(event: LogEvent) -> LogLine:
    fields = json.loads(event.fields) if event.fields else {}
    return LogLine(
        event.id, event.at, event.level, event.logger, event.message, event.request_id,
        event.job_id, fields if isinstance(fields, dict) else {},
    )  # fmt: skip


def list_log_events(
    session: Session, filters: LogFilter, *, page: int = 1, per_page: int = 50
) -> Page[LogLine]:
    """One page of stored lines, newest first. Read only."""
    found = paginate(session, _query(filters), page=page, per_page=per_page)
    return Page([_line(e) for e in found.items], found.total, found.page, found.per_page)


def iter_log_events(
    session: Session, filters: LogFilter, *, batch: int = 1000
) -> Iterator[LogLine]:
    """Every stored line that matches, newest first, read `batch` rows at a time (for the
    exports; the store is bounded, so this is too). Read only."""
    for event in session.scalars(_query(filters).execution_options(yield_per=batch)):
        yield _line(event)


def log_events_csv(session: Session, filters: LogFilter) -> Iterator[str]:
    """The matching lines as CSV text, a line at a time, every cell safe in a spreadsheet."""
    yield csv_line(list(CSV_COLUMNS))
    for line in iter_log_events(session, filters):
        yield csv_line([safe_cell(str(value)) for value in _plain(line).values()])


def log_events_jsonl(session: Session, filters: LogFilter) -> Iterator[str]:
    """The matching lines as JSON lines (one object per line), a line at a time."""
    for line in iter_log_events(session, filters):
        plain = {**_plain(line), "job_id": line.job_id, "fields": line.fields}
        yield json.dumps(plain, default=str) + "\n"


def _plain(line: LogLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "at": line.at.isoformat(timespec="milliseconds"),
        "level": line.level,
        "logger": line.logger,
        "message": line.message,
        "request_id": line.request_id,
        "job_id": line.job_id or "",
        "fields": json.dumps(line.fields, default=str) if line.fields else "",
    }


def prune_log_events(session: Session, *, keep: int) -> int:
    """Delete all but the newest `keep` lines (by id), PRUNE_CHUNK rows per transaction;
    how many went. Re-running right after finds nothing to delete."""
    cut = session.scalar(select(LogEvent.id).order_by(LogEvent.id.desc()).offset(keep).limit(1))
    lowest = session.scalar(select(LogEvent.id).order_by(LogEvent.id).limit(1))
    session.commit()
    if cut is None or lowest is None:
        return 0
    deleted = 0
    while lowest <= cut:
        upper = min(cut, lowest + PRUNE_CHUNK - 1)
        with transaction(session):
            result = session.execute(delete(LogEvent).where(LogEvent.id <= upper))
        deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
        lowest = upper + 1
    return deleted
