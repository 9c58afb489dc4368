"""`aggregator check --online`: read each feed once, as a poll would, and say what was found.

Nothing is stored: this is for the curator editing feeds.yaml (or a CI job
on the repository that keeps it) to see a feed work before it is synced.
"""

from __future__ import annotations

from aggregator.config import AuthorConfig, FeedConfig
from aggregator.fetch import Fetcher, FetchError, FetchRequest
from aggregator.parse import ParseError, parse_feed
from aggregator.wagtail import field_report


def check_online(feeds: list[tuple[AuthorConfig, FeedConfig]]) -> tuple[list[str], int]:
    """Lines for the curator, and how many feeds could not be read as feeds."""
    lines: list[str] = []
    broken = 0
    with Fetcher() as fetcher:
        for author, feed in feeds:
            lines.append(f"{author.slug}  {feed.source}")
            try:
                if feed.type == "wagtail" and feed.location.startswith(("http://", "https://")):
                    found, ok = _wagtail_lines(fetcher, feed)
                else:
                    found, ok = _feed_lines(fetcher, feed)
            except (FetchError, ParseError) as exc:
                found, ok = [f"  error: {exc}"], False
            lines += found
            broken += not ok
    return lines, broken


def _feed_lines(fetcher: Fetcher, feed: FeedConfig) -> tuple[list[str], bool]:
    result = fetcher.fetch(FetchRequest(feed.location, source=feed.source))
    parsed = parse_feed(result.body or b"", result.url, result.content_type, feed.type)
    dates = [entry.published or entry.updated for entry in parsed.entries]
    newest = max((d for d in dates if d), default=None)
    lines = [f"  ok: {parsed.format}, {len(parsed.entries)} entries" + (f", newest {newest:%Y-%m-%d}" if newest else "")]
    if result.permanent_redirect:
        lines.append(f"  moved: it answers from {result.permanent_redirect}; put that address in feeds.yaml")
    lines += [f"  warning: {warning}" for warning in parsed.warnings]
    return lines, True


def _wagtail_lines(fetcher: Fetcher, feed: FeedConfig) -> tuple[list[str], bool]:
    report = field_report(fetcher, feed.location, feed.source_options)
    lines = [f"  Wagtail pages API; a page offers: {', '.join(report.offered) or 'nothing'}"]
    for role, asked, answer in report.found:
        lines.append(f"    {role:<8} {asked:<24} " + (f"found in {answer}" if answer else "not found"))
    if not report.edits_tracked:
        lines.append("  note: last_published_at is not offered (add it to api_fields): every poll reads the whole listing")
    lines += [f"  error: {problem}" for problem in report.problems]
    if report.ok:
        lines.append("  ok")
    return lines, report.ok
