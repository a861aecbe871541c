"""Cron schedules of recurring KFP runs: checked locally, sent in KFP v2's 6-field form."""

from __future__ import annotations

import dataclasses
import re
from typing import Optional, Tuple

_CRON_FORM = (
    "Expected a cron expression of 5 fields 'minute hour day-of-month month day-of-week' "
    "(e.g. '0 3 * * *', daily at 03:00) or 6 fields with seconds first "
    "(e.g. '0 0 3 * * *')"
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_ITEM_RE = re.compile(r"^(\*|\?|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/([0-9]+))?$")


@dataclasses.dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: Tuple[str, ...] = ()  # names[i] means low + i
    allows_question_mark: bool = False


# The 6-field order of KFP v2 (robfig/cron): seconds first.
_CRON_FIELDS = (
    _CronField("second", 0, 59),
    _CronField("minute", 0, 59),
    _CronField("hour", 0, 23),
    _CronField("day-of-month", 1, 31, allows_question_mark=True),
    _CronField("month", 1, 12, names=_MONTHS),
    _CronField("day-of-week", 0, 6, names=_WEEKDAYS, allows_question_mark=True),
)


def _cron_value(field: _CronField, token: str) -> Optional[int]:
    """A field value, number or name (JAN, MON), or None when out of range or unknown."""
    if token.isdigit():
        value = int(token)
    elif token.upper() in field.names:
        value = field.low + field.names.index(token.upper())
    else:
        return None
    return value if field.low <= value <= field.high else None


def _cron_item_error(field: _CronField, item: str) -> Optional[str]:
    """Why one comma-separated item of a cron field is invalid, or None when it is valid."""
    match = _CRON_ITEM_RE.match(item)
    allowed = f"{field.low}-{field.high}" + (f" or {field.names[0]}-{field.names[-1]}" if field.names else "")
    if not match:
        return f"{field.name} item {item!r} is not '*', a value, a range 'a-b' or a step '*/n'"
    base, step = match.groups()
    if step is not None and int(step) < 1:
        return f"{field.name} step in {item!r} must be at least 1"
    if base == "?":
        if not field.allows_question_mark or step is not None:
            return f"'?' is only allowed alone in day-of-month or day-of-week, not in {field.name} {item!r}"
        return None
    if base == "*":
        return None
    bounds = [_cron_value(field, token) for token in base.split("-")]
    if any(value is None for value in bounds):
        return f"{field.name} {item!r} is outside {allowed}"
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return f"{field.name} range {item!r} runs backwards"
    return None


def to_kfp_cron(schedule: str) -> str:
    """Validates a 5- or 6-field cron expression and returns KFP v2's 6-field form.

    KFP v2 schedules with robfig/cron, seconds first; a 5-field expression gets '0 ' in front
    (at second 0). Raises ValueError naming the bad expression and the expected form.
    """
    fields = schedule.split() if isinstance(schedule, str) else []
    if len(fields) == 5:
        fields = ["0"] + fields
    if len(fields) != 6:
        count = len(schedule.split()) if isinstance(schedule, str) else "no"
        raise ValueError(f"Invalid schedule {schedule!r}: it has {count} fields. {_CRON_FORM}.")
    for field, text in zip(_CRON_FIELDS, fields):
        for item in text.split(","):
            error = _cron_item_error(field, item)
            if error:
                raise ValueError(f"Invalid schedule {schedule!r}: {error}. {_CRON_FORM}.")
    return " ".join(fields)
