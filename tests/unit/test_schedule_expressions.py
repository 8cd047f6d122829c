"""EventBridge schedule expressions (shop_local.schedules): what AWS accepts, the next time
each fires (UTC), and the platform's Schedule source firing at it."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shop_local.event_sources import Schedule
from shop_local.schedules import Cron, Rate, parse_schedule

# A Thursday, mid-morning, in December 2026.
NOW = datetime(2026, 12, 10, 10, 30, 15, tzinfo=UTC)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def next_fire(expression: str, after: datetime = NOW) -> datetime | None:
    return parse_schedule(expression).next_after(after)


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(12 hours)", 43200),
        ("rate(1 day)", 86400),
        ("rate(7 days)", 604800),
    ],
)
def test_a_rate_fires_every_interval_from_when_it_starts(expression: str, seconds: int) -> None:
    assert parse_schedule(expression) == Rate(seconds)
    assert next_fire(expression) == NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("expression", "fires"),
    [
        # AWS's documented examples
        ("cron(0 10 * * ? *)", at(2026, 12, 11, 10, 0)),  # 10:00 every day: today's has passed
        ("cron(15 12 * * ? *)", at(2026, 12, 10, 12, 15)),
        ("cron(0 18 ? * MON-FRI *)", at(2026, 12, 10, 18, 0)),
        ("cron(0 8 1 * ? *)", at(2027, 1, 1, 8, 0)),
        ("cron(0/15 * * * ? *)", at(2026, 12, 10, 10, 45)),
        ("cron(0/10 * ? * MON-FRI *)", at(2026, 12, 10, 10, 40)),
        ("cron(0/5 8-17 ? * MON-FRI *)", at(2026, 12, 10, 10, 35)),
        ("cron(0 9 ? * 2#1 *)", at(2027, 1, 4, 9, 0)),  # the first Monday of the month
        # each field's wildcards
        ("cron(* * * * ? *)", at(2026, 12, 10, 10, 31)),  # the next minute, not this one
        ("cron(5,35 * * * ? *)", at(2026, 12, 10, 10, 35)),
        ("cron(10-20/5 11 * * ? *)", at(2026, 12, 10, 11, 10)),
        ("cron(0 0 L * ? *)", at(2026, 12, 31, 0, 0)),  # the month's last day
        ("cron(0 0 L-2 * ? *)", at(2026, 12, 29, 0, 0)),
        ("cron(0 0 L 2 ? *)", at(2027, 2, 28, 0, 0)),
        ("cron(0 0 LW 1 ? *)", at(2027, 1, 29, 0, 0)),  # Jan 31 2027 is a Sunday
        ("cron(0 0 16W 1 ? *)", at(2027, 1, 15, 0, 0)),  # Saturday: the Friday before
        ("cron(0 0 17W 1 ? *)", at(2027, 1, 18, 0, 0)),  # Sunday: the Monday after
        ("cron(0 0 1W 5 ? *)", at(2027, 5, 3, 0, 0)),  # Saturday the 1st: not into April
        ("cron(0 0 ? * 6L *)", at(2026, 12, 25, 0, 0)),  # the month's last Friday
        ("cron(0 0 ? * L *)", at(2026, 12, 12, 0, 0)),  # the week's last day: Saturday
        ("cron(0 0 ? * FRI-MON *)", at(2026, 12, 11, 0, 0)),  # a range that wraps
        ("cron(0 0 ? * 1 *)", at(2026, 12, 13, 0, 0)),  # 1 is Sunday
        ("cron(0 12 ? JAN,jul * *)", at(2027, 1, 1, 12, 0)),  # names, in any case
        ("cron(0 0 29 2 ? *)", at(2028, 2, 29, 0, 0)),  # the next leap day
        ("cron(0 0 1 1 ? 2030-2032)", at(2030, 1, 1, 0, 0)),
        ("cron(0 0 31 * ? *)", at(2026, 12, 31, 0, 0)),
        ("cron(0 0 31 11 ? *)", None),  # November has no 31st
        ("cron(0 0 1 1 ? 2020)", None),  # only in the past
    ],
)
def test_a_cron_fires_at_the_next_utc_minute_it_names(
    expression: str, fires: datetime | None
) -> None:
    assert next_fire(expression) == fires


def test_a_cron_fires_strictly_after_the_time_it_is_asked_about() -> None:
    on_the_minute = at(2026, 12, 10, 18, 0)
    assert next_fire("cron(0 18 ? * MON-FRI *)", on_the_minute) == at(2026, 12, 11, 18, 0)
    assert next_fire("cron(0 18 ? * MON-FRI *)", at(2026, 12, 11, 18, 0)) == at(2026, 12, 14, 18, 0)


def test_a_cron_reads_a_time_given_in_another_zone_as_the_same_instant_in_utc() -> None:
    an_hour_east = datetime(2026, 12, 10, 12, 30, 15, tzinfo=timezone(timedelta(hours=1)))
    assert next_fire("cron(0 12 * * ? *)", an_hour_east) == at(2026, 12, 10, 12, 0)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("rate(1 minutes)", "singular for 1"),
        ("rate(5 minute)", "plural otherwise"),
        ("rate(0 minutes)", "positive number"),
        ("rate(2 weeks)", "minutes/hours/days"),
        ("cron(0 10 * * *)", "6 fields, got 5"),
        ("cron(0 10 * * ? * *)", "6 fields, got 7"),
        ("cron(0 10 * * * *)", "exactly one of day-of-month and day-of-week"),  # both
        ("cron(0 10 ? * ? *)", "exactly one of day-of-month and day-of-week"),  # neither
        ("cron(60 10 * * ? *)", "'60' is not a value from 0 to 59"),
        ("cron(0 24 * * ? *)", "'24' is not a value from 0 to 23"),
        ("cron(0 10 32 * ? *)", "'32' is not a value from 1 to 31"),
        ("cron(0 10 ? 13 * *)", "'13' is not a value from 1 to 12"),
        ("cron(0 10 ? * 8 *)", "'8' is not a value from 1 to 7"),
        ("cron(0 10 ? * FUN *)", "'FUN' is not a value"),
        ("cron(0 10 ? * 2#6 *)", "'6' is not a value from 1 to 5"),
        ("cron(0 10 * * ? 1969)", "'1969' is not a value from 1970 to 2199"),
        ("cron(0/0 10 * * ? *)", "'0' is not a value"),
        ("at(2027-01-01T00:00:00)", "neither rate"),  # EventBridge Scheduler's, not a rule's
        ("every day", "neither rate"),
    ],
)
def test_expressions_aws_refuses_are_refused(expression: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_schedule(expression)


def test_a_cron_keeps_its_fields() -> None:
    cron = parse_schedule("cron(0/20 9-10 ? JAN-MAR MON#2 2027)")
    assert isinstance(cron, Cron)
    assert cron.minutes == {0, 20, 40}
    assert cron.hours == {9, 10}
    assert cron.months == {1, 2, 3}
    assert cron.years == {2027}
    assert cron.days(2027, 2) == {8}  # the second Monday of February 2027


def test_the_schedule_source_fires_a_cron_at_its_next_minute() -> None:
    due = at(2026, 12, 10, 10, 31)
    # A clock 1.5 s before `due` (and running at the real pace, so the source really waits).
    offset = due - timedelta(seconds=1.5) - datetime.now(UTC)
    fired: list[datetime] = []
    done = threading.Event()

    def fire(moment: datetime) -> None:
        fired.append(moment)
        done.set()

    schedule = Schedule(
        "every-minute", "cron(* * * * ? *)", fire, clock=lambda: datetime.now(UTC) + offset
    )
    schedule.start()
    try:
        assert done.wait(10), "the schedule did not fire"
    finally:
        schedule.stop()
        schedule.join(5)
    assert fired[0] == due
    assert not schedule.is_alive()


def test_a_schedule_with_no_time_left_ends() -> None:
    schedule = Schedule("past", "cron(0 0 1 1 ? 2020)", lambda _moment: None)
    schedule.start()
    schedule.join(5)
    assert not schedule.is_alive()


def test_a_schedule_source_refuses_an_expression_aws_refuses() -> None:
    with pytest.raises(ValueError, match="singular"):
        Schedule("bad", "rate(1 minutes)", lambda _moment: None)
