"""`aggregator check --online`: read each feed once, as a poll would, and say in a table how each is.

Nothing is stored: this is for the curator editing feeds.yaml, or a CI job
on the repository that keeps it, to see every feed work before it is
synced. A feed is broken (exit 1) when it is gone, is not a feed, or cannot
be read; moved, slow and quiet feeds are worth a look but do not break a
build.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aggregator.config import AuthorConfig, FeedConfig
from aggregator.fetch import Fetcher, FetchError, FetchRequest
from aggregator.parse import ParseError, iso_date, parse_feed
from aggregator.wagtail import NEWEST_FIRST, WagtailAPI, field_report

SLOW_SECONDS = 10.0
QUIET_FOR = timedelta(days=183)
BROKEN = ("gone", "not a feed", "error")
# Worst first: the state a feed is shown in when several apply.
STATES = ("gone", "not a feed", "error", "moved", "slow", "no posts in 6 months", "ok")
MAX_FEED_COLUMN = 72


@dataclass(frozen=True)
class Reading:
    """What one read of a feed found."""

    author: str
    source: str
    state: str
    entries: int | None = None
    newest: datetime | None = None
    details: tuple[str, ...] = ()  # lines shown under the feed's row

    @property
    def broken(self) -> bool:
        return self.state in BROKEN


def feed_state(
    *, failure: str | None, moved: bool, seconds: float, entries: int | None, newest: datetime | None, now: datetime
) -> str:
    """The one state a read of a feed shows: its failure if any, else the first of moved, slow, quiet, ok.

    `failure` is "gone", "not a feed" or "error". A feed with no dated post
    counts as quiet only when it has no posts at all.
    """
    if failure:
        return failure
    if moved:
        return "moved"
    if seconds > SLOW_SECONDS:
        return "slow"
    if entries == 0 or (newest is not None and now - newest > QUIET_FOR):
        return "no posts in 6 months"
    return "ok"


def check_online(feeds: list[tuple[AuthorConfig, FeedConfig]], now: datetime | None = None) -> tuple[list[str], int]:
    """The table for the curator, and how many feeds are broken."""
    now = now or datetime.now(UTC)
    readings = []
    with Fetcher() as fetcher:
        for author, feed in feeds:
            readings.append(read_feed(fetcher, author.slug, feed, now))
    broken = sum(reading.broken for reading in readings)
    return table(readings) + [summary(readings)], broken


def read_feed(fetcher: Fetcher, author: str, feed: FeedConfig, now: datetime) -> Reading:
    started = time.monotonic()
    try:
        if feed.type == "wagtail" and feed.location.startswith(("http://", "https://")):
            return _read_wagtail(fetcher, author, feed, now, started)
        result = fetcher.fetch(FetchRequest(feed.location, source=feed.source))
        parsed = parse_feed(result.body or b"", result.url, result.content_type, feed.type)
    except FetchError as exc:
        return Reading(author, feed.source, "gone" if exc.gone else "error", details=(f"error: {exc}",))
    except ParseError as exc:
        return Reading(author, feed.source, "not a feed", details=(f"error: {exc}",))
    dates = [entry.published or entry.updated for entry in parsed.entries]
    newest = max((d for d in dates if d), default=None)
    seconds = time.monotonic() - started
    details = [f"{parsed.format}, read in {seconds:.1f} s"]
    if result.permanent_redirect:
        details.append(f"moved: it answers from {result.permanent_redirect}; put that address in feeds.yaml (aggregator fix does)")
    details += [f"warning: {warning}" for warning in parsed.warnings]
    state = feed_state(
        failure=None, moved=bool(result.permanent_redirect), seconds=seconds, entries=len(parsed.entries), newest=newest, now=now
    )
    return Reading(author, feed.source, state, len(parsed.entries), newest, tuple(details))


def _read_wagtail(fetcher: Fetcher, author: str, feed: FeedConfig, now: datetime, started: float) -> Reading:
    report = field_report(fetcher, feed.location, feed.source_options)
    newest_page = WagtailAPI(fetcher, feed.location).listing(offset=0, order=NEWEST_FIRST, fields=[], limit=1)
    items = newest_page.items
    newest = iso_date((items[0].get("meta") or {}).get("first_published_at")) if items else None
    lines = [f"Wagtail pages API; a page offers: {', '.join(report.offered) or 'nothing'}"]
    for role, asked, answer in report.found:
        lines.append(f"  {role:<8} {asked:<24} " + (f"found in {answer}" if answer else "not found"))
    if not report.edits_tracked:
        lines.append("note: last_published_at is not offered (add it to api_fields): every poll reads the whole listing")
    lines += [f"error: {problem}" for problem in report.problems]
    seconds = time.monotonic() - started
    state = feed_state(
        failure=None if report.ok else "error", moved=False, seconds=seconds, entries=newest_page.total, newest=newest, now=now
    )
    return Reading(author, feed.source, state, newest_page.total, newest, tuple(lines))


def table(readings: list[Reading]) -> list[str]:
    """One row per feed (feed, state, entries, newest post), what the read found indented under it."""
    rows = [("feed", "state", "entries", "newest")]
    rows += [
        (
            _cut(f"{r.author}: {r.source}"), r.state, "-" if r.entries is None else str(r.entries),
            f"{r.newest:%Y-%m-%d}" if r.newest else "-",
        )
        for r in readings
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]), row[3]]))
        if index:
            lines += [f"    {detail}" for detail in readings[index - 1].details]
    return lines


def summary(readings: list[Reading]) -> str:
    counts = {state: sum(r.state == state for r in readings) for state in STATES}
    parts = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    broken = sum(r.broken for r in readings)
    verdict = f"{broken} broken (exit 1)" if broken else "none broken"
    return f"{len(readings)} feed{'s' if len(readings) != 1 else ''}: {parts}; {verdict}."


def _cut(text: str) -> str:
    return text if len(text) <= MAX_FEED_COLUMN else text[: MAX_FEED_COLUMN - 1] + "…"
