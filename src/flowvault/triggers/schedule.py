"""When a Schedule trigger fires (pure: the instant to look after is passed in, nothing reads the clock).

Times are computed in the schedule's time zone:

- every N **minutes / hours** is elapsed time: fires at ``start + k·N`` (a DST change does not move it);
- every N **days / weeks** and **cron** expressions are wall-clock time: "every day at 09:00
  Europe/Berlin" fires at 09:00 local on both sides of a DST change.

A wall-clock time that does not exist (spring forward, e.g. 02:30 on the last Sunday of March in
Berlin) fires at the same instant it would have without the change, that is shifted forward by the
gap (03:30 local). A wall-clock time that happens twice (fall back) fires once, at its first
occurrence (the summer-time one). Both are what ``fold=0`` means in PEP 495. Several cron times that
fall in one gap collapse into one firing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from croniter import croniter

Unit = Literal["minutes", "hours", "days", "weeks"]
_ELAPSED = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1)}
_WALL_CLOCK_DAYS = {"days": 1, "weeks": 7}
_GAP_MARGIN = timedelta(hours=3)
"""Longer than any DST gap: cron candidates are looked for from this far before the instant (local)."""


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule: first fire at ``start`` (naive = wall clock in ``timezone``), then every ``every``
    ``unit`` — or, when ``cron`` is set, at the cron expression's times (on or after ``start``)."""

    start: datetime
    timezone: str
    every: int = 1
    unit: Unit = "days"
    cron: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start_local(self) -> datetime:
        """The start as a naive wall-clock time in the schedule's time zone."""
        if self.start.tzinfo is None:
            return self.start
        return self.start.astimezone(self.zone).replace(tzinfo=None)


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time in ``zone`` as a UTC instant (``fold=0``: see the module docstring)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_fire_after(spec: ScheduleSpec, after: datetime) -> datetime:
    """The first fire time (UTC) strictly after ``after`` (an aware instant)."""
    zone = spec.zone
    start_local = spec.start_local
    start = to_utc(start_local, zone)
    if spec.cron is not None:
        return _next_cron(spec.cron, zone, start, after)
    if after < start:
        return start
    if spec.unit in _ELAPSED:
        step = _ELAPSED[spec.unit] * spec.every
        return start + step * ((after - start) // step + 1)
    step_days = _WALL_CLOCK_DAYS[spec.unit] * spec.every
    after_local = after.astimezone(zone).replace(tzinfo=None)
    k = max(0, (after_local - start_local).days // step_days - 1)
    while True:
        candidate = to_utc(start_local + timedelta(days=k * step_days), zone)
        if candidate > after:
            return candidate
        k += 1


def _next_cron(expression: str, zone: ZoneInfo, start: datetime, after: datetime) -> datetime:
    # Iterating naive wall-clock times keeps cron's meaning local; each is then resolved to UTC.
    # Resolution is not monotonic inside a DST gap, so the first candidate past ``after`` is taken.
    floor = max(after, start - timedelta(microseconds=1))
    base = floor.astimezone(zone).replace(tzinfo=None) - _GAP_MARGIN
    times = croniter(expression, base)
    while True:
        candidate = to_utc(times.get_next(datetime), zone)
        if candidate > floor:
            return candidate


def valid_cron(expression: str) -> bool:
    return len(expression.split()) == 5 and bool(croniter.is_valid(expression))
