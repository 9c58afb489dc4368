"""`aggregator fix`: what polling learnt about the feeds, turned into edits of feeds.yaml for the curator to approve.

Polls notice what the file cannot: a feed that moved for good (301/308)
keeps being read at its new address, one that answered 410 Gone is not read
again, one that fails for weeks costs a request at every poll. The
decisions are a pure function of the listed feeds, what the database knows
of them and the time (`plan_fixes`); `apply_fixes` makes them as edits of
the file, each in place: a moved feed gets its new `url`, a gone or failing
one is commented out with the date and the reason, so the curator can read
why, and undo it, in the file itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.config import AuthorConfig, FeedConfig
from aggregator.feeds_file import FeedsFile
from aggregator.identity import feed_identity
from aggregator.models import Feed

FAILING_FOR = timedelta(days=30)
MAX_REASON = 120  # characters of a feed's last error kept in the comment


@dataclass(frozen=True)
class FeedFacts:
    """What polls learnt of one feed (a row of `feeds`)."""

    source: str
    moved_to: str | None = None
    gone_at: datetime | None = None
    error_count: int = 0
    last_success_at: datetime | None = None
    created_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Fix:
    author: str
    source: str
    move_to: str | None = None  # the feed's new address
    retire: str | None = None  # why it is commented out (the date is put before it)

    def describe(self) -> str:
        if self.move_to:
            return f"{self.author}: {self.source} moved permanently to {self.move_to}: its url is changed"
        return f"{self.author}: {self.source} {self.retire}: commented out"


def load_facts(session: Session) -> dict[str, FeedFacts]:
    """What the database knows of every feed still listed, by source."""
    rows = session.execute(
        select(
            Feed.source, Feed.moved_to, Feed.gone_at, Feed.error_count, Feed.last_success_at, Feed.created_at, Feed.last_error
        ).where(Feed.retired_at.is_(None))
    )
    return {row.source: FeedFacts(*row) for row in rows}


def plan_fixes(feeds: list[tuple[AuthorConfig, FeedConfig]], facts: dict[str, FeedFacts], now: datetime) -> list[Fix]:
    """The edits that what polls learnt calls for, feed by feed, in the file's order.

    Gone (410) comes first; a permanent move next, unless the new address is
    listed already (then the old entry is only retired); a feed that has
    failed since its last success (or since it was listed) 30 days ago or
    more is retired.
    """
    listed = {feed_identity(feed.source) for _, feed in feeds}
    fixes = []
    for author, feed in feeds:
        fact = facts.get(feed.source)
        if fact is None:
            continue
        if fact.gone_at is not None:
            fixes.append(Fix(author.slug, feed.source, retire="gone (410)"))
        elif fact.moved_to and feed_identity(fact.moved_to) in listed:
            fixes.append(Fix(author.slug, feed.source, retire=f"moved to {fact.moved_to}, which is listed already"))
        elif fact.moved_to:
            fixes.append(Fix(author.slug, feed.source, move_to=fact.moved_to))
        elif fact.error_count > 0 and (since := fact.last_success_at or fact.created_at) and now - since >= FAILING_FOR:
            error = " ".join((fact.last_error or "no answer").split())
            error = error if len(error) <= MAX_REASON else error[: MAX_REASON - 1] + "…"
            fixes.append(Fix(author.slug, feed.source, retire=f"failing for {(now - since).days} days ({error})"))
    return fixes


def apply_fixes(feeds_file: FeedsFile, fixes: list[Fix], today: datetime) -> None:
    """Make the fixes as edits of the file (not yet saved)."""
    for fix in fixes:
        if fix.move_to:
            feeds_file.move_feed(fix.source, fix.move_to)
        else:
            feeds_file.comment_out_feed(fix.source, f"{today:%Y-%m-%d} {fix.retire}")
