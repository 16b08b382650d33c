"""CPU accounting from /proc (Linux): the server's process groups and the whole machine.

Reported next to every run so a reader can tell a saturated machine (the load generator,
PostgreSQL and Redis compete with the server for 2 cores) from a server that waits on locks
with cores to spare. Elsewhere than Linux the figures are simply left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def _ticks() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100


TICKS = _ticks()


def group_cpu_seconds(pgids: set[int]) -> float | None:
    """User + system CPU seconds of the live processes in these process groups."""
    if not PROC.is_dir():
        return None
    total = 0
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        rest = stat.rsplit(")", 1)[-1].split()
        # rest: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        if len(rest) > 12 and int(rest[2]) in pgids:
            total += int(rest[11]) + int(rest[12])
    return total / TICKS


def machine_busy_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the machine since boot, summed over cores."""
    try:
        first = (PROC / "stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    values = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    total = sum(values)
    return (total - idle) / TICKS, total / TICKS


@dataclass
class CpuSample:
    server: float | None
    machine: tuple[float, float] | None


def sample(pgids: set[int]) -> CpuSample:
    return CpuSample(group_cpu_seconds(pgids), machine_busy_seconds())


def usage(before: CpuSample, after: CpuSample, wall: float) -> dict[str, float]:
    """Cores used over `wall` seconds: by the server, and by everything on the machine."""
    out: dict[str, float] = {}
    if before.server is not None and after.server is not None and wall > 0:
        out["server_cores"] = round(max(0.0, after.server - before.server) / wall, 2)
    if before.machine is not None and after.machine is not None:
        busy = after.machine[0] - before.machine[0]
        total = after.machine[1] - before.machine[1]
        cores = os.cpu_count() or 1
        if total > 0:
            out["machine_cores"] = round(cores * busy / total, 2)
    return out
