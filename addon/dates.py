"""Dates as a clinic reads them: in the clinic's time zone, in one format on every screen, email, PDF and export.

Times are stored in UTC (see ``addon.models``); this module is the one place they become the clinic's local time.
Dates are written ``2 December 2026`` (unambiguous wherever the reader lives) and times ``2:40 pm``; exports use
ISO 8601 with the clinic's offset, which a spreadsheet reads and sorts.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from addon.errors import InvalidInput

DEFAULT_TIMEZONE = "Australia/Sydney"
# Offered on the settings page; any IANA name is accepted.
COMMON_TIMEZONES = (
    "Australia/Sydney", "Australia/Melbourne", "Australia/Brisbane", "Australia/Adelaide", "Australia/Darwin",
    "Australia/Perth", "Australia/Hobart", "Pacific/Auckland", "Asia/Singapore", "Europe/London", "UTC",
)  # fmt: skip
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@cache
def zone(name: str | None) -> ZoneInfo:
    """The named IANA zone; an unknown or empty name (an old row, a zone since renamed) falls back to the default."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def parse_timezone(value: object, *, field: str = "timezone") -> str:
    """A time zone a clinic may choose: an IANA name such as ``Australia/Perth``."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("Choose the clinic's time zone, such as Australia/Sydney.", field=field)
    name = value.strip()
    if name not in timezone_names():
        raise InvalidInput(f"'{name}' is not a time zone. Use a name such as Australia/Perth.", field=field)
    return name


@cache
def timezone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def local(value: datetime, tz: str | None) -> datetime:
    return value.astimezone(zone(tz))


def local_date(value: datetime, tz: str | None) -> date:
    """The calendar day ``value`` falls on in the clinic: the service date on a receipt."""
    return local(value, tz).date()


def format_date(value: date | datetime, tz: str | None = None) -> str:
    """``2 December 2026``. A datetime is first moved into the clinic's zone."""
    day = local(value, tz).date() if isinstance(value, datetime) else value
    return f"{day.day} {day:%B %Y}"


def format_time(value: datetime, tz: str | None) -> str:
    """``2:40 pm`` in the clinic's zone."""
    moment = local(value, tz)
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment:%M} {'am' if moment.hour < 12 else 'pm'}"


@overload
def format_datetime(value: datetime, tz: str | None) -> str: ...


@overload
def format_datetime(value: datetime | None, tz: str | None) -> str | None: ...


def format_datetime(value: datetime | None, tz: str | None) -> str | None:
    """``2 December 2026, 2:40 pm`` in the clinic's zone; None stays None."""
    if value is None:
        return None
    return f"{format_date(value, tz)}, {format_time(value, tz)}"


def iso_local(value: datetime | None, tz: str | None) -> str:
    """ISO 8601 with the clinic's offset (``2026-12-02T14:40:23+11:00``), for exports; empty for no time."""
    if value is None:
        return ""
    return local(value, tz).replace(microsecond=0).isoformat()


def parse_bound(value: str, tz: str | None, *, field: str, end: bool) -> datetime:
    """A filter's ``from``/``to``: a day (``YYYY-MM-DD``, in the clinic's zone) or an ISO time, as a UTC instant.

    A day given as ``to`` includes the whole of that day, so the bound returned for it is the next midnight and
    callers compare with ``<``; an ISO time is taken as it is.
    """
    text = value.strip()
    if DAY.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInput(f"'{text}' is not a date. Use YYYY-MM-DD, such as 2026-11-30.", field=field) from exc
        if end:
            day += timedelta(days=1)
        return datetime.combine(day, time(0), tzinfo=zone(tz)).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(
            f"'{text}' is not a date or time. Use YYYY-MM-DD, or an ISO time such as 2026-11-30T09:00:00Z.",
            field=field,
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(tz))
    return moment.astimezone(UTC)
