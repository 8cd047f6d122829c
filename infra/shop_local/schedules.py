"""EventBridge schedule expressions: `rate(5 minutes)` and AWS's six-field `cron(...)`, and the
next time each fires, in UTC (rules' schedules have no time zone).

cron(Minutes Hours Day-of-month Month Day-of-week Year)

| field        | values              | wildcards        |
| ------------ | ------------------- | ---------------- |
| Minutes      | 0-59                | , - * /          |
| Hours        | 0-23                | , - * /          |
| Day-of-month | 1-31                | , - * ? / L W    |
| Month        | 1-12 or JAN-DEC     | , - * /          |
| Day-of-week  | 1-7 or SUN-SAT      | , - * ? L #      |
| Year         | 1970-2199           | , - * /          |

One of Day-of-month and Day-of-week must be `?` (AWS refuses a value in both). `L` is the last
day of the month (`L-2`: two days before it) or, alone in Day-of-week, Saturday; `6L` the last
Friday of the month; `15W` the weekday nearest the 15th (never crossing into another month),
`LW` the last weekday; `2#1` the first Monday. A range may wrap (`FRI-MON`).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_RATE = re.compile(r"^rate\(\s*(\d+)\s+([a-z]+)\s*\)$", re.IGNORECASE)
_CRON = re.compile(r"^cron\((.*)\)$", re.IGNORECASE)
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_LAST_YEAR = 2199


@dataclass(frozen=True)
class Rate:
    """rate(value unit): every `seconds`, counted from when the schedule starts."""

    seconds: int

    def next_after(self, moment: datetime) -> datetime | None:
        return moment + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day_of_month: str  # the raw fields: which days they name depends on the month
    day_of_week: str

    def next_after(self, moment: datetime) -> datetime | None:
        """The first minute strictly after `moment` that the expression names; None if none is
        left before the end of 2199."""
        moment = moment.astimezone(UTC)
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for year in sorted(y for y in self.years if y >= start.year):
            for month in sorted(self.months):
                if (year, month) < (start.year, start.month):
                    continue
                for day in sorted(self.days(year, month)):
                    if (year, month, day) < (start.year, start.month, start.day):
                        continue
                    for hour in sorted(self.hours):
                        if (year, month, day, hour) < (
                            start.year,
                            start.month,
                            start.day,
                            start.hour,
                        ):
                            continue
                        for minute in sorted(self.minutes):
                            candidate = datetime(year, month, day, hour, minute, tzinfo=UTC)
                            if candidate >= start:
                                return candidate
        return None

    def days(self, year: int, month: int) -> set[int]:
        """The days of this month that the day-of-month or day-of-week field names."""
        if self.day_of_month == "?":
            return _weekdays_named(self.day_of_week, year, month)
        return _month_days_named(self.day_of_month, year, month)


ScheduleExpression = Rate | Cron


def parse_schedule(expression: str) -> ScheduleExpression:
    """Parse a rule's ScheduleExpression; ValueError, naming what is wrong, if AWS would refuse
    it (so a template the platform runs is one CloudFormation would deploy)."""
    text = expression.strip()
    if rate := _RATE.match(text):
        value, unit = int(rate.group(1)), rate.group(2).lower()
        singular = unit.rstrip("s")
        if singular not in _UNIT_SECONDS or value < 1:
            raise ValueError(f"{expression!r}: a rate is a positive number of minutes/hours/days")
        if (value == 1) != (unit == singular):
            raise ValueError(f"{expression!r}: the unit is singular for 1 and plural otherwise")
        return Rate(value * _UNIT_SECONDS[singular])
    if cron := _CRON.match(text):
        return _parse_cron(expression, cron.group(1).split())
    raise ValueError(f"{expression!r} is neither rate(...) nor cron(...)")


def _parse_cron(expression: str, fields: list[str]) -> Cron:
    if len(fields) != 6:
        raise ValueError(f"{expression!r}: cron takes 6 fields, got {len(fields)}")
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError(f"{expression!r}: exactly one of day-of-month and day-of-week is '?'")
    try:
        parsed = Cron(
            minutes=frozenset(_values(minutes, 0, 59)),
            hours=frozenset(_values(hours, 0, 23)),
            months=frozenset(_values(month, 1, 12, _MONTHS)),
            years=frozenset(_values(year, 1970, _LAST_YEAR)),
            day_of_month=day_of_month.upper(),
            day_of_week=day_of_week.upper(),
        )
        # The day fields depend on the month: read them once now so that errors show here.
        parsed.days(2024, 2)
    except ValueError as error:
        raise ValueError(f"{expression!r}: {error}") from None
    return parsed


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    """A numeric field: comma-separated `*`, `n`, `a-b` (which may wrap), each with `/step`."""
    values: set[int] = set()
    for part in field.upper().split(","):
        values.update(_part(part, low, high, names or {}))
    return values


def _part(part: str, low: int, high: int, names: dict[str, int]) -> Iterator[int]:
    span, _, step_text = part.partition("/")
    step = _number(step_text, 1, high - low + 1, {}) if step_text else 1
    if span == "*":
        first, last = low, high
    elif "-" in span:
        first_text, last_text = span.split("-", 1)
        first, last = _number(first_text, low, high, names), _number(last_text, low, high, names)
    else:
        first = _number(span, low, high, names)
        last = high if step_text else first  # `5/15` runs from 5 to the end of the range
    ordered = (
        list(range(first, last + 1))
        if first <= last
        else [*range(first, high + 1), *range(low, last + 1)]  # a range that wraps: FRI-MON
    )
    return iter(ordered[::step])


def _number(text: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text) if text in names else int(text) if text.isdigit() else None
    if value is None or not low <= value <= high:
        raise ValueError(f"{text!r} is not a value from {low} to {high}")
    return value


def _month_days_named(field: str, year: int, month: int) -> set[int]:
    last = calendar.monthrange(year, month)[1]
    days: set[int] = set()
    for part in field.split(","):
        if part == "L":
            days.add(last)
        elif part.startswith("L-"):
            days.add(max(1, last - _number(part[2:], 0, 30, {})))
        elif part == "LW":
            days.add(_nearest_weekday(last, year, month))
        elif part.endswith("W"):
            days.add(_nearest_weekday(min(_number(part[:-1], 1, 31, {}), last), year, month))
        else:
            days.update(day for day in _part(part, 1, 31, {}) if day <= last)
    return days


def _weekdays_named(field: str, year: int, month: int) -> set[int]:
    last = calendar.monthrange(year, month)[1]
    by_weekday: dict[int, list[int]] = {}
    for day in range(1, last + 1):
        by_weekday.setdefault(_aws_weekday(year, month, day), []).append(day)
    days: set[int] = set()
    for part in field.split(","):
        if part == "L":
            days.update(by_weekday[7])  # the last day of the week: Saturday
        elif part.endswith("L"):
            days.add(by_weekday[_number(part[:-1], 1, 7, _DAYS)][-1])
        elif "#" in part:
            weekday_text, nth_text = part.split("#", 1)
            occurrences = by_weekday[_number(weekday_text, 1, 7, _DAYS)]
            nth = _number(nth_text, 1, 5, {})
            if nth <= len(occurrences):
                days.add(occurrences[nth - 1])
        else:
            for weekday in _part(part, 1, 7, _DAYS):
                days.update(by_weekday[weekday])
    return days


def _aws_weekday(year: int, month: int, day: int) -> int:
    """1 for Sunday ... 7 for Saturday (Python counts Monday as 0)."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


def _nearest_weekday(day: int, year: int, month: int) -> int:
    """The weekday nearest `day` in the same month: a Saturday moves to Friday (or Monday on the
    1st), a Sunday to Monday (or Friday on the month's last day)."""
    last = calendar.monthrange(year, month)[1]
    weekday = _aws_weekday(year, month, day)
    if weekday == 7:
        return day - 1 if day > 1 else day + 2
    if weekday == 1:
        return day + 1 if day < last else day - 2
    return day
