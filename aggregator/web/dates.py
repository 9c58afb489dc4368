"""Say when something happened in a reader's words: "3 days ago"."""

from __future__ import annotations

from datetime import UTC, datetime


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """Return how long ago `moment` was, in words; the date itself past a month."""
    if moment is None:
        return ""
    now = now or datetime.now(UTC)
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return _plural(minutes, "minute") + " ago"
    hours = minutes // 60
    if hours < 24:
        return _plural(hours, "hour") + " ago"
    days = (now.date() - moment.astimezone(UTC).date()).days
    if days <= 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    if days < 31:
        return _plural(days // 7, "week") + " ago"
    return long_date(moment, with_year=moment.year != now.year)


def long_date(moment: datetime, with_year: bool = True) -> str:
    moment = moment.astimezone(UTC)
    text = f"{moment.day} {moment:%B}"
    return f"{text} {moment.year}" if with_year else text


def exact(moment: datetime | None) -> str:
    """The full date and time, for a tooltip: "Thursday 26 November 2026, 09:30 UTC"."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    return f"{moment:%A} {long_date(moment)}, {moment:%H:%M} UTC"


def iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def day_label(moment: datetime, now: datetime | None = None) -> str:
    """How a list names a day: "Today", "Yesterday", "Tuesday 24 November"."""
    now = now or datetime.now(UTC)
    day = moment.astimezone(UTC).date()
    days = (now.astimezone(UTC).date() - day).days
    if days <= 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    text = f"{moment.astimezone(UTC):%A} {long_date(moment, with_year=day.year != now.year)}"
    return text


def day_key(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()
