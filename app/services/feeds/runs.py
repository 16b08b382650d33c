"""One worker's run of one import: what staging and applying share, and the lease."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.models.feeds import FeedImport
from app.services.feeds.queue import LEASE


class LostClaim(Conflict):
    """Another worker took the import over (this one's lease ran out): stop at once."""


@dataclass
class Run:
    session: Session
    record: FeedImport
    holder: str
    clock: Callable[[], datetime]
    batch_size: int = 1000

    @property
    def direct(self) -> bool:
        """Write rows to products while staging: a real import of a partner that had
        nothing on sale when it started (`existing`, read before the first batch)."""
        return not self.record.dry_run and self.record.existing == 0

    def save(self, **values: Any) -> None:
        """Write the import's progress and renew the lease, inside the caller's transaction,
        only while this run still holds the import (`lease_until` given: the lease's end
        instead). Raises LostClaim otherwise."""
        values.setdefault("lease_until", self.clock() + LEASE)
        result = self.session.execute(
            update(FeedImport)
            .where(
                FeedImport.id == self.record.id,
                FeedImport.claimed_by == self.holder,
                FeedImport.status == "running",
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LostClaim("another worker took this import over")
        self.session.refresh(self.record)
