"""Wall-clock times in an admin's time zone, and the one rule that turns them into UTC.

Zones are IANA names read by `zoneinfo` from the system's zone data or, where it has none
(or not a browser's older alias, such as Asia/Calcutta), the `tzdata` package; only names
that data lists are accepted, so a typed name never becomes a path. A local time the
clocks skip (a DST gap) is refused; one they show twice (a DST fold) is read as the first
of the two (or the second, for an edited sale that was at it), and the conversion says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

MAX_ZONE = 64
NOT_PLACES = frozenset({"Factory", "localtime", "posixrules"})
LOCAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?")
UNKNOWN_ZONE = "is not a time zone we know: use an IANA name, like Europe/London or UTC"
WHEN_HINT = "must be a date and time, like 2026-12-01 09:00"


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name known, sorted (UTC always among them; not the zone files that
    name no place: `Factory`, `localtime`, `posixrules`)."""
    return tuple(sorted(available_timezones() - NOT_PLACES | {"UTC"}))


def find_zone(name: str) -> ZoneInfo | None:
    """The zone called `name` (surrounding spaces ignored), or None when there is none."""
    name = name.strip()
    if not name or len(name) > MAX_ZONE or name not in _known():
        return None
    return ZoneInfo(name)


@cache
def _known() -> frozenset[str]:
    return frozenset(zone_names())


def offset_text(moment: datetime) -> str:
    """`UTC+05:30`, `UTC-05:00`, `UTC+00:00` for an aware time."""
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def utc_text(moment: datetime) -> str:
    """A UTC time as people read it: `2026-12-01 14:00 UTC` (seconds only when some)."""
    return moment.astimezone(UTC).strftime(_clock(moment) + " UTC")


def _clock(moment: datetime) -> str:
    return "%Y-%m-%d %H:%M:%S" if moment.second else "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class Converted:
    """A typed local time read in a zone: the UTC time, or the problem; `note` says how a
    time shown twice by the clocks was read."""

    utc: datetime | None = None
    problem: str = ""
    note: str = ""

    @property
    def text(self) -> str:
        """What to show beside the input: the UTC time (with the note when there is one),
        or why there is none."""
        if self.utc is None:
            return f"That time {self.problem}."
        return f"{self.note} {utc_text(self.utc)}" if self.note else utc_text(self.utc)


def parse_local(raw: str) -> datetime | None:
    """A `datetime-local` value (`2026-12-01T09:00`, seconds optional) as a naive time."""
    raw = raw.strip()
    if not LOCAL_TIME.fullmatch(raw):
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if 1970 <= value.year <= 9000 else None


def to_utc(raw: str, zone: ZoneInfo, *, later: bool = False) -> Converted:
    """Read `raw` as a wall-clock time in `zone`, as an aware UTC time. At a time the clocks
    show twice, the first of the two is read, or the later one when `later` (so an edited
    sale whose time was the later one keeps it)."""
    local = parse_local(raw)
    if local is None:
        return Converted(problem="is required" if not raw.strip() else WHEN_HINT)
    first = local.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        return Converted(
            problem=(
                f"does not exist in {zone.key}: the clocks go forward at that hour on "
                f"{local:%d %b %Y}, so {local:%H:%M} is skipped; choose a time outside the gap"
            )
        )
    last = local.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == last.utcoffset():
        return Converted(utc=first.astimezone(UTC))
    chosen, other = (last, first) if later else (first, last)
    note = (
        f"{local:%H:%M} happens twice that night in {zone.key}; the "
        f"{'second' if later else 'first'} ({chosen.tzname()}, {offset_text(chosen)}) is "
        f"used, not {utc_text(other.astimezone(UTC))}:"
    )
    return Converted(utc=chosen.astimezone(UTC), note=note)


def is_second(moment: datetime, zone: ZoneInfo) -> bool:
    """Whether a UTC time reads in `zone` as the second of a wall-clock time shown twice."""
    local = _shown(moment, zone)
    return local is not None and local.fold == 1


def _shown(moment: datetime, zone: ZoneInfo | None) -> datetime | None:
    """A UTC time (naive or aware) in `zone`; None past what `datetime` can hold there (a
    sale the API took at year 1 or 9999, in a zone that would move it across)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        return aware.astimezone(zone or UTC)
    except OverflowError:
        return None


def from_utc(moment: datetime, zone: ZoneInfo) -> datetime:
    """A UTC time (naive or aware) as the naive wall-clock time in `zone` (in UTC when the
    zone would carry it past what `datetime` holds)."""
    shown = _shown(moment, zone) or _shown(moment, None)
    assert shown is not None  # UTC to UTC never overflows
    return shown.replace(tzinfo=None)


def local_value(moment: datetime, zone: ZoneInfo) -> str:
    """A UTC time as a `datetime-local` value in `zone` (seconds only when there are some)."""
    local = from_utc(moment, zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S" if local.second else "%Y-%m-%dT%H:%M")


def in_zone(moment: datetime, zone: ZoneInfo | None, fmt: str = "%d %b %Y, %H:%M") -> str:
    """Template filter: a UTC time as wall-clock text in `zone` with its abbreviation
    (`01 Dec 2026, 09:00 EST`); in UTC when there is no zone (or it would overflow)."""
    shown = _shown(moment, zone) or _shown(moment, None)
    assert shown is not None  # UTC to UTC never overflows
    return f"{shown.strftime(fmt)} {shown.tzname() or offset_text(shown)}"


def zone_line(zone: ZoneInfo | None, typed: str, now: datetime) -> str:
    """What the zone field says under itself: the zone's offset now, or that it is unknown."""
    if zone is None:
        return f"“{typed[:40]}” {UNKNOWN_ZONE}."
    here = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(zone)
    return f"{zone.key} is {offset_text(here)} now; the times below are read in it."
