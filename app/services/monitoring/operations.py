"""The operational numbers behind `/metrics` (issue 13's cards): how long refunds take from
decision to money moved, store credit issued, units oversold (which must stay 0), and each
scheduled job's runs and last success. Read from the rows at scrape time, like the business
numbers, so every web process and host reports the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.models.catalog import Product
from app.models.credit import CreditEntry
from app.models.flash_sales import FlashSaleItem
from app.models.monitoring import JobRun
from app.models.returns import OutboxMessage


@dataclass(frozen=True)
class Latency:
    count: int
    seconds: float  # the sum, as Prometheus summaries carry it


@dataclass(frozen=True)
class OperationsMetrics:
    refund_latency: Latency
    store_credit_issued_cents: dict[str, int]  # by reason
    oversold_units: dict[str, int]  # "stock" and "flash_sale"
    job_runs: dict[tuple[str, str], int]  # (job, outcome) -> kept runs
    job_last_success_age_seconds: dict[str, float]


def read_operations_metrics(session: Session, *, now: datetime) -> OperationsMetrics:
    """Read-only; each number is one aggregate query over an indexed or small table."""
    return OperationsMetrics(
        refund_latency=_refund_latency(session),
        store_credit_issued_cents={
            str(reason): int(total)
            for reason, total in session.execute(
                select(CreditEntry.reason, func.sum(CreditEntry.amount_cents))
                .where(CreditEntry.amount_cents > 0)
                .group_by(CreditEntry.reason)
            )
        },
        oversold_units=_oversold(session),
        job_runs={
            (str(job), str(outcome)): int(count)
            for job, outcome, count in session.execute(
                select(JobRun.job_id, JobRun.outcome, func.count()).group_by(
                    JobRun.job_id, JobRun.outcome
                )
            )
        },
        job_last_success_age_seconds={
            str(job): max(0.0, (now - last).total_seconds())
            for job, last in session.execute(
                select(JobRun.job_id, func.max(JobRun.started_at))
                .where(JobRun.outcome == "ok")
                .group_by(JobRun.job_id)
            )
        },
    )


def _refund_latency(session: Session) -> Latency:
    """Gateway refunds done: from the decision that queued them to the money moving."""
    done = select(OutboxMessage.created_at, OutboxMessage.done_at).where(
        OutboxMessage.kind == "refund",
        OutboxMessage.status == "done",
        OutboxMessage.done_at.is_not(None),
    )
    count, total = 0, 0.0
    for created_at, done_at in session.execute(done.execution_options(yield_per=1000)):
        if done_at is not None:  # the query asks for done ones; this tells the type checker
            count += 1
            total += max(0.0, (done_at - created_at).total_seconds())
    return Latency(count, total)


def _oversold(session: Session) -> dict[str, int]:
    negative_stock = select(func.coalesce(func.sum(-Product.stock), 0)).where(Product.stock < 0)
    # The schema refuses both (CHECK stock >= 0, sold + returned <= quantity): this is the
    # tripwire that shows it if a migration or a hand-made fix ever lets one through.
    taken = FlashSaleItem.sold + FlashSaleItem.returned
    over_allocation = case(
        (taken > FlashSaleItem.quantity, taken - FlashSaleItem.quantity), else_=0
    )
    flash = select(func.coalesce(func.sum(over_allocation), 0))
    return {
        "stock": int(session.scalar(negative_stock) or 0),
        "flash_sale": int(session.scalar(flash) or 0),
    }
