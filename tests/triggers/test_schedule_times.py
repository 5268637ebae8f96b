"""When a Schedule trigger fires (``flowvault.triggers.schedule``, pure): elapsed-time intervals, wall-clock
days/weeks and cron expressions in the schedule's time zone, across DST changes.

Decided behaviour, for a local time that does not exist (spring forward) or happens twice (fall back):
a nonexistent 02:30 fires at 03:30 local (the instant 02:30 would have been: shifted by the gap);
an ambiguous 02:30 fires once, at its first (summer-time) occurrence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from flowvault.integrations.triggers.schedule import ScheduleConfig
from flowvault.triggers.schedule import ScheduleSpec, next_fire_after

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def fires(spec: ScheduleSpec, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times after ``after``, as an injected clock advancing tick by tick sees them."""
    times = []
    for _ in range(count):
        after = next_fire_after(spec, after)
        times.append(after)
    return times


def local(times: list[datetime], zone: ZoneInfo) -> list[str]:
    return [t.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") for t in times]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_daily_0900_stays_0900_local_across_both_berlin_dst_changes() -> None:
    spec = ScheduleSpec(start=datetime(2030, 3, 29, 9, 0), timezone="Europe/Berlin", every=1, unit="days")
    spring = fires(spec, utc("2030-03-28T12:00"), 3)
    assert local(spring, BERLIN) == ["2030-03-29 09:00 CET", "2030-03-30 09:00 CET", "2030-03-31 09:00 CEST"]
    assert [t.hour for t in spring] == [8, 8, 7]  # in UTC the time moves; on the wall it does not
    autumn = fires(spec, utc("2030-10-26T00:00"), 3)
    assert local(autumn, BERLIN) == ["2030-10-26 09:00 CEST", "2030-10-27 09:00 CET", "2030-10-28 09:00 CET"]


def test_daily_0230_berlin_nonexistent_time_fires_at_0330_and_ambiguous_time_fires_once() -> None:
    spec = ScheduleSpec(start=datetime(2030, 3, 1, 2, 30), timezone="Europe/Berlin", every=1, unit="days")
    # 2030-03-31: clocks jump 02:00 → 03:00, so 02:30 does not exist.
    spring = fires(spec, utc("2030-03-29T12:00"), 3)
    assert local(spring, BERLIN) == ["2030-03-30 02:30 CET", "2030-03-31 03:30 CEST", "2030-04-01 02:30 CEST"]
    # 2030-10-27: clocks go back 03:00 → 02:00, so 02:30 happens twice; it fires once, at the first.
    autumn = fires(spec, utc("2030-10-25T12:00"), 3)
    assert local(autumn, BERLIN) == ["2030-10-26 02:30 CEST", "2030-10-27 02:30 CEST", "2030-10-28 02:30 CET"]
    assert autumn[1] == utc("2030-10-27T00:30") and autumn[2] - autumn[1] == timedelta(hours=25)


def test_daily_0230_new_york_across_both_dst_changes() -> None:
    spec = ScheduleSpec(start=datetime(2030, 1, 1, 2, 30), timezone="America/New_York", every=1, unit="days")
    spring = fires(spec, utc("2030-03-09T12:00"), 2)  # 2030-03-10: 02:00 → 03:00
    assert local(spring, NEW_YORK) == ["2030-03-10 03:30 EDT", "2030-03-11 02:30 EDT"]
    # 2030-11-03: 02:00 EDT → 01:00 EST; 02:30 happens once, 01:30 twice (first occurrence: EDT).
    autumn = fires(spec, utc("2030-11-02T12:00"), 2)
    assert local(autumn, NEW_YORK) == ["2030-11-03 02:30 EST", "2030-11-04 02:30 EST"]
    at_0130 = ScheduleSpec(start=datetime(2030, 1, 1, 1, 30), timezone="America/New_York", every=1, unit="days")
    assert local(fires(at_0130, utc("2030-11-02T12:00"), 2), NEW_YORK) == [
        "2030-11-03 01:30 EDT", "2030-11-04 01:30 EST",
    ]


def test_hourly_interval_is_elapsed_time_across_dst() -> None:
    spec = ScheduleSpec(start=datetime(2030, 3, 31, 0, 0), timezone="Europe/Berlin", every=1, unit="hours")
    times = fires(spec, utc("2030-03-30T22:30"), 4)
    assert [b - a for a, b in pairwise(times)] == [timedelta(hours=1)] * 3
    assert local(times, BERLIN) == [
        "2030-03-31 00:00 CET", "2030-03-31 01:00 CET", "2030-03-31 03:00 CEST", "2030-03-31 04:00 CEST",
    ]


@pytest.mark.parametrize(
    ("every", "unit", "after", "expected"),
    [
        (15, "minutes", "2030-01-01T10:00", ["2030-01-01 10:15", "2030-01-01 10:30"]),
        (15, "minutes", "2030-01-01T10:07", ["2030-01-01 10:15", "2030-01-01 10:30"]),
        (6, "hours", "2030-01-01T10:00", ["2030-01-01 12:00", "2030-01-01 18:00"]),
        (3, "days", "2030-01-05T00:00", ["2030-01-07 06:00", "2030-01-10 06:00"]),
        (2, "weeks", "2030-01-02T00:00", ["2030-01-15 06:00", "2030-01-29 06:00"]),
    ],
)
def test_intervals(every: int, unit: str, after: str, expected: list[str]) -> None:
    spec = ScheduleSpec(start=datetime(2030, 1, 1, 6, 0), timezone="UTC", every=every, unit=unit)  # type: ignore[arg-type]
    assert [t.strftime("%Y-%m-%d %H:%M") for t in fires(spec, utc(after), 2)] == expected


def test_nothing_fires_before_start() -> None:
    spec = ScheduleSpec(start=datetime(2031, 5, 1, 8, 0), timezone="Europe/Berlin", every=5, unit="minutes")
    assert next_fire_after(spec, utc("2030-01-01T00:00")) == utc("2031-05-01T06:00")
    cron = ScheduleSpec(start=datetime(2031, 5, 1, 8, 0), timezone="Europe/Berlin", cron="0 * * * *")
    assert next_fire_after(cron, utc("2030-01-01T00:00")) == utc("2031-05-01T06:00")


def test_cron_is_wall_clock_in_the_time_zone_across_dst() -> None:
    weekdays = ScheduleSpec(start=datetime(2030, 1, 1), timezone="America/New_York", cron="30 9 * * 1-5")
    times = fires(weekdays, utc("2030-03-07T00:00"), 4)  # Thu, Fri, (weekend: DST starts Sunday), Mon, Tue
    assert local(times, NEW_YORK) == [
        "2030-03-07 09:30 EST", "2030-03-08 09:30 EST", "2030-03-11 09:30 EDT", "2030-03-12 09:30 EDT",
    ]


def test_cron_times_inside_the_spring_gap_fire_once_and_the_repeated_hour_once() -> None:
    half_hourly = ScheduleSpec(start=datetime(2030, 1, 1), timezone="Europe/Berlin", cron="*/30 * * * *")
    spring = fires(half_hourly, utc("2030-03-31T00:00"), 4)  # 01:00 CET .. the gap 02:00-03:00 .. 03:30 CEST
    assert spring == [utc("2030-03-31T00:30"), utc("2030-03-31T01:00"), utc("2030-03-31T01:30"),
                      utc("2030-03-31T02:00")]
    assert len(set(spring)) == 4
    daily = ScheduleSpec(start=datetime(2030, 1, 1), timezone="Europe/Berlin", cron="30 2 * * *")
    autumn = fires(daily, utc("2030-10-26T12:00"), 2)
    assert local(autumn, BERLIN) == ["2030-10-27 02:30 CEST", "2030-10-28 02:30 CET"]


def test_an_offset_in_the_start_keeps_the_instant() -> None:
    config = ScheduleConfig.model_validate(
        {"start": "2030-06-01T07:00:00Z", "timezone": "Europe/Berlin", "every": 1, "unit": "days"}
    )
    spec = config.spec()
    assert spec.start == datetime(2030, 6, 1, 9, 0)
    assert next_fire_after(spec, utc("2030-12-01T12:00")) == utc("2030-12-02T08:00")  # 09:00 CET


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"start": "2030-01-01T00:00", "timezone": "Mars/Olympus"}, "not a known time zone"),
        ({"start": "2030-01-01T00:00", "repeat": "cron", "cron": "every day"}, "not a cron expression"),
        ({"start": "2030-01-01T00:00", "repeat": "cron", "cron": "0 9 * * * *"}, "not a cron expression"),
        ({"start": "2030-01-01T00:00", "every": 0}, "greater than or equal to 1"),
        ({"start": "soon"}, "datetime"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScheduleConfig.model_validate(config)
