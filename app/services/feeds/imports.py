"""Running an import: stage the file, weigh the change guard, apply; and an admin's say.

`run_import` takes a claimed import from where it stands (`phase`, `staged_rows`,
`applied_through`) to the end, or to the change guard, or to a visible failure. A file
that cannot be read fails its import with the reason and nothing applied; any other error
leaves the import queued for a later attempt (with the error shown) until MAX_ATTEMPTS.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from app.db import is_row_id, transaction, utcnow
from app.errors import Conflict, NotFound
from app.feeds import FeedError, parse
from app.models.feeds import FeedChange, FeedImport, Partner
from app.models.users import User
from app.services.feeds.applying import apply_changes
from app.services.feeds.partners import get_partner, partner_mapping
from app.services.feeds.queue import MAX_ATTEMPTS, feed_path, remove_feed_file
from app.services.feeds.runs import LostClaim, Run
from app.services.feeds.staging import count_on_sale, stage_drops, stage_rows

log = logging.getLogger("backroom.feeds")
RETRY_AFTER = timedelta(seconds=30)


def run_import(
    session: Session,
    import_id: int,
    *,
    holder: str,
    upload_dir: Path,
    clock: Callable[[], datetime] = utcnow,
    batch_size: int = 1000,
) -> str:
    """Carry a claimed import as far as it goes; its status afterwards.

    Never raises for the import's own trouble: a bad file fails it, the guard holds it,
    another error (the database went away) queues it again with the error until it has
    been tried MAX_ATTEMPTS times. LostClaim (another worker took over) stops quietly."""
    record = session.get(FeedImport, import_id, populate_existing=True)
    session.commit()
    if record is None or record.status != "running" or record.claimed_by != holder:
        return record.status if record else "missing"
    run = Run(session, record, holder, clock, batch_size)
    try:
        if record.attempts > MAX_ATTEMPTS:
            raise FeedError(
                f"the import stopped {MAX_ATTEMPTS} times: {record.error or 'no reason kept'}"
            )
        if record.phase == "stage":
            _stage(run, upload_dir)
        if record.status == "running" and record.phase == "apply":
            if not record.dry_run:
                apply_changes(run)
            _finish(run, upload_dir, status="succeeded")
    except LostClaim:
        session.rollback()
        log.warning("feed import %s was taken over by another worker", import_id)
    except FeedError as error:
        session.rollback()
        _finish(run, upload_dir, status="failed", error=str(error))
    except Exception as error:
        session.rollback()
        log.exception("feed import %s stopped; it will be tried again", import_id)
        _requeue(run, f"{type(error).__name__}: {error}"[:2000])
    session.refresh(record)
    return record.status


def _stage(run: Run, upload_dir: Path) -> None:
    record, session = run.record, run.session
    partner = get_partner(session, record.partner_id)
    if record.staged_rows == 0:  # what was on sale before this run: the guard's measure
        existing = count_on_sale(session, record.partner_id)
        session.commit()
        with transaction(session):
            run.save(existing=existing)
    path = feed_path(upload_dir, record.file_name)
    if not path.exists():
        raise FeedError("the feed file is gone (it was removed before the import ran)")
    with path.open("rb") as source:
        rows = parse(
            source,
            format=record.format,
            content_type=record.content_type,
            mapping=partner_mapping(partner) if record.format == "standard" else None,
        )
        seen = stage_rows(run, rows)
    if record.rows_total == 0:
        raise FeedError("the feed has no rows")
    drops = stage_drops(session, record, seen) if record.complete else []
    session.commit()
    # What comes after staging is decided in the transaction that ends it: a run that
    # stops right after cannot resume a dry run into writing, nor past the guard.
    decision: dict[str, object] = {"phase": "apply", "dropped": len(drops)}
    if record.dry_run:
        decision.update(_ended("succeeded", run.clock()))
    elif _guard_trips(partner, record, dropped=len(drops)):
        decision.update(status="queued", approval="required", claimed_by=None, lease_until=None)
    with transaction(session):
        if drops:
            session.execute(insert(FeedChange), drops)
        run.save(**decision)
    if record.status != "running":
        log.info("feed import %s %s", record.id, record.approval or record.status)


def _ended(status: str, now: datetime, error: str | None = None) -> dict[str, object]:
    return {
        "status": status,
        "error": error,
        "finished_at": now,
        "claimed_by": None,
        "lease_until": None,
    }


def _guard_trips(partner: Partner, record: FeedImport, *, dropped: int) -> bool:
    """More than the partner's share of prices changed, or of items dropped? A partner with
    nothing on sale yet has nothing to guard."""
    if record.approval == "approved" or record.existing == 0:
        return False
    prices = record.price_changes * 100 > partner.price_guard_percent * record.existing
    return prices or dropped * 100 > partner.drop_guard_percent * record.existing


def guard_reason(partner: Partner, record: FeedImport) -> str:
    """Why the guard held the import, in words for the admin."""
    reasons = []
    if record.price_changes * 100 > partner.price_guard_percent * max(record.existing, 1):
        reasons.append(
            f"{record.price_changes} of {record.existing} prices change "
            f"(the limit is {partner.price_guard_percent}%)"
        )
    if record.dropped * 100 > partner.drop_guard_percent * max(record.existing, 1):
        reasons.append(
            f"{record.dropped} of {record.existing} products would be taken off sale "
            f"(the limit is {partner.drop_guard_percent}%)"
        )
    return "; ".join(reasons)


def _finish(run: Run, upload_dir: Path, *, status: str, error: str | None = None) -> None:
    record, session = run.record, run.session
    now = run.clock()
    if status == "failed" and run.direct and record.created + record.updated:
        error = (
            f"{error} (this partner's first import writes products as it reads them: the "
            f"{record.created + record.updated} good rows before this point are on sale)"
        )
    with transaction(session):
        run.save(**_ended(status, now, error))
        if status == "succeeded" and not record.dry_run:
            session.execute(
                update(Partner)
                .where(Partner.id == record.partner_id)
                .values(last_success_at=now)
                .execution_options(synchronize_session=False)
            )
            _supersede_held(session, record)
        if status == "failed":  # nothing staged of a failed import lands: it goes
            session.execute(delete(FeedChange).where(FeedChange.import_id == record.id))
    if not (record.dry_run and status == "succeeded"):  # kept for "import it for real"
        remove_feed_file(upload_dir, record.file_name)
    log.info("feed import %s %s", record.id, status, extra={"import_id": record.id})


def _supersede_held(session: Session, record: FeedImport) -> None:
    """Older imports of the partner still held by the guard would apply a diff staged
    against products this import has just changed: they fail, superseded."""
    held = select(FeedImport.id).where(
        FeedImport.partner_id == record.partner_id,
        FeedImport.id < record.id,
        FeedImport.approval == "required",
        FeedImport.status == "queued",
    )
    ids = list(session.scalars(held))
    if not ids:
        return
    session.execute(delete(FeedChange).where(FeedChange.import_id.in_(ids)))
    session.execute(
        update(FeedImport)
        .where(FeedImport.id.in_(ids))
        .values(
            status="failed",
            approval="rejected",
            finished_at=record.finished_at,
            error=f"superseded by import {record.id}, which landed first",
        )
        .execution_options(synchronize_session=False)
    )


def _requeue(run: Run, error: str) -> None:
    session = run.session
    with transaction(session):
        session.execute(
            update(FeedImport)
            .where(FeedImport.id == run.record.id, FeedImport.claimed_by == run.holder)
            .values(
                status="queued",
                claimed_by=None,
                error=error,
                lease_until=run.clock() + RETRY_AFTER * run.record.attempts,
            )
            .execution_options(synchronize_session=False)
        )


def get_import(session: Session, import_id: int) -> FeedImport:
    """The import, or NotFound."""
    record = session.get(FeedImport, import_id) if is_row_id(import_id) else None
    if record is None:
        raise NotFound("no such feed import")
    return record


def decide_import(
    session: Session,
    import_id: int,
    *,
    approve: bool,
    actor: User,
    now: datetime,
    upload_dir: Path,
) -> FeedImport:
    """An admin's answer to an import the change guard held: approved, the worker applies
    the staged changes as shown; rejected, it fails and nothing lands. Raises NotFound,
    Conflict (`not_waiting`) when the import is not waiting for an answer."""
    with transaction(session):
        record = get_import(session, import_id)
        if record.status != "queued" or record.approval != "required":
            raise Conflict("this import is not waiting for approval", code="not_waiting")
        record.approval = "approved" if approve else "rejected"
        record.decided_by, record.decided_at = actor.id, now
        if not approve:
            record.status, record.finished_at = "failed", now
            record.error = f"{actor.username} rejected the changes"
            session.execute(delete(FeedChange).where(FeedChange.import_id == record.id))
    if not approve:
        remove_feed_file(upload_dir, record.file_name)
    return record


def import_dry_run(
    session: Session, import_id: int, *, actor: User | None, upload_dir: Path, now: datetime
) -> FeedImport:
    """Queue the real import of a succeeded dry run's file (a copy of it). Raises NotFound,
    Conflict (`not_a_dry_run`) for anything else, or when its file has been cleaned up."""
    source = get_import(session, import_id)
    session.commit()
    path = feed_path(upload_dir, source.file_name)
    if not source.dry_run or source.status != "succeeded" or not path.exists():
        raise Conflict("only a finished dry run's file can be imported", code="not_a_dry_run")
    copy_name = f"{uuid.uuid4().hex}.feed"
    shutil.copyfile(path, feed_path(upload_dir, copy_name))
    try:
        return _queue_copy(session, source, copy_name, actor=actor, now=now)
    except BaseException:
        remove_feed_file(upload_dir, copy_name)
        raise


def _queue_copy(
    session: Session, source: FeedImport, copy_name: str, *, actor: User | None, now: datetime
) -> FeedImport:
    with transaction(session):
        record = FeedImport(
            partner_id=source.partner_id,
            status="queued",
            dry_run=False,
            complete=source.complete,
            source=source.source,
            format=source.format,
            content_type=source.content_type,
            file_name=copy_name,
            original_name=source.original_name,
            file_size=source.file_size,
            created_at=now,
            requested_by=actor.id if actor else None,
        )
        session.add(record)
    return record
