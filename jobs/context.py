"""What a job may use besides its session and clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.config import Config
from app.db import Database
from app.payments import Payments


@dataclass(frozen=True)
class JobContext:
    config: Config
    db: Database
    payments: Payments
    holder: str
    # The runner's memory of each job's last written state: (monotonic time, outcome).
    written: dict[str, tuple[float, str]] = field(default_factory=dict, compare=False)
