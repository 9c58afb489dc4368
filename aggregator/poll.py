"""Poll one feed: fetch -> parse -> clean -> tag -> store. The one orchestrator.

`aggregator poll`, the RQ job in `workers/` and the in-process scheduler all
call `Poller.poll`. No database transaction is held while the network is
read, and nothing stored is touched when a fetch or parse fails: the feed
records its error and keeps its entries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from aggregator import schedule, store, telemetry, wagtail
from aggregator.boilerplate import curator_rules, library
from aggregator.clean import MAX_ENTRY_HTML, RULES_VERSION, clean_content, clean_text, safe_url
from aggregator.db import transaction
from aggregator.fetch import Fetcher, FetchError, FetchLimits, FetchRequest, HostBusy, HostLimiter, LocalHostLimiter
from aggregator.parse import ParsedEnclosure, ParsedEntry, ParsedFeed, ParseError, parse_feed
from aggregator.settings import load_settings
from aggregator.tagging import declared_notes, entry_tags

log = logging.getLogger("aggregator.poll")
# Longer links are not stored: no post needs one, and they bloat indexes.
MAX_URL_LENGTH = 2048

# Parsing, cleaning and storing after the fetch: a poll's claim on its feed
# lasts the fetch's time limit plus this.
PROCESSING_ALLOWANCE = timedelta(seconds=60)

# What one poll cleans of a feed's new and changed entries, newest first: a
# few seconds of CPU at most. The rest wait for the next poll, which comes
# soon and reads the feed in full again; successive polls store everything.
# A hundred posts of a prolific writer are far below it; a 10 MB feed of 500
# long posts, or 10,000 new entries, are what it is for.
CLEANING_BUDGET_ENTRIES = 1000
CLEANING_BUDGET_CHARACTERS = 2 * 1024 * 1024

# Stored posts missing from a feed that also brings new ones, whose old
# address one poll asks: a redirect to a new entry's link is a renamed post.
MAX_RENAME_CHECKS = 5

Clock = Callable[[], datetime]

# Claims this process could not release because the database went away, by
# feed id: its next poll of the feed releases them instead of waiting for
# them to expire (its own live process keeps them from counting as dead).
_left_claims: dict[int, str] = {}


class InfrastructureUnavailable(Exception):
    """A service the poll needs (the database, the queue's Redis) is away: no fault of the feed."""


def is_infrastructure_failure(exc: BaseException) -> bool:
    """Whether `exc` means the database or Redis is away, not that the feed is bad (or the code)."""
    if isinstance(exc, InfrastructureUnavailable | sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True  # sa_exc.TimeoutError: no connection could be had from the pool
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return False
    # SQLite says OperationalError for a missing table too; only these mean "not reachable now".
    if type(exc.orig).__module__ == "sqlite3":
        return any(sign in str(exc.orig) for sign in _SQLITE_UNAVAILABLE)
    return True


_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file", "disk I/O error", "database is busy")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PollOutcome:
    feed_id: int
    source: str
    author_slug: str
    # "ok", "not-modified", "failed", "deferred" (a busy host), "skipped", or
    # "unavailable" (the database or Redis was away: tried again next round).
    result: str
    http_status: int | None = None
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    bytes: int = 0
    duration_ms: int = 0
    left_for_later: int = 0  # new or changed entries past this poll's cleaning budget
    requests: int = 1  # HTTP requests the poll made (a Wagtail source makes several)
    withdrawn: int = 0  # entries the source no longer lists, taken off the pages

    @property
    def failed(self) -> bool:
        return self.result == "failed"

    @property
    def unavailable(self) -> bool:
        return self.result == "unavailable"


class Poller:
    """Polls feeds with one HTTP client; use as a context manager."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        limits: FetchLimits | None = None,
        limiter: HostLimiter | None = None,
        clock: Clock = utcnow,
    ):
        self.sessions = sessions
        self.clock = clock
        with sessions() as session:
            settings = load_settings(session)
        self.aliases = settings.aliases
        self.topics = settings.vocabulary
        self.schedule = settings.schedule
        self.fetcher = Fetcher(
            limits, site_url=settings.site.base_url, limiter=limiter or LocalHostLimiter(self.schedule.max_per_host)
        )

    def __enter__(self) -> Poller:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.fetcher.close()

    def poll(self, feed_id: int, *, force: bool = False, raise_unexpected: bool = True) -> PollOutcome:
        """Poll one feed and record the outcome; never raises for a bad feed.

        `force` polls a feed that answered 410 Gone once more (a curator
        asked for it by name). A server's Retry-After is never overridden.
        One poll of a feed runs at a time: a feed another poller holds is
        skipped. The database or Redis going away is no fault of the feed:
        nothing is recorded against it and it stays due ("unavailable").
        Other unexpected errors (a bug) are recorded on the feed, then
        raised so that an RQ job fails visibly, or, with
        `raise_unexpected=False`, logged and returned as a failed outcome.
        """
        started = time.monotonic()
        try:
            outcome = self._poll_claimed(feed_id, force, raise_unexpected, started)
        except Exception as exc:
            if not is_infrastructure_failure(exc):
                raise
            outcome = PollOutcome(feed_id, f"feed #{feed_id}", "?", "unavailable", error=_unavailable(exc))
        outcome = _with_duration(outcome, started)
        _log(outcome)
        return outcome

    def _poll_claimed(self, feed_id: int, force: bool, raise_unexpected: bool, started: float) -> PollOutcome:
        with self.sessions() as session:
            feed = store.load_feed(session, feed_id)
        if feed is None or feed.retired:
            return PollOutcome(feed_id, feed.source if feed else "?", feed.author_slug if feed else "?", "skipped")
        now = self.clock()
        if feed.gone and not force:
            return PollOutcome(feed.id, feed.source, feed.author_slug, "skipped", error="gone (410): not polled")
        if feed.retry_after and feed.retry_after > now:
            return PollOutcome(
                feed.id, feed.source, feed.author_slug, "skipped",
                error=f"the server asked us to wait until {feed.retry_after:%Y-%m-%d %H:%M} UTC",
            )
        holder = store.new_poller_id()
        until = now + timedelta(seconds=self.fetcher.limits.total_timeout) + PROCESSING_ALLOWANCE
        with transaction(self.sessions) as session:
            if (left := _left_claims.get(feed.id)) is not None:
                store.release_claim(session, feed.id, left)
            busy_with = store.claim_feed(session, feed.id, holder=holder, now=now, until=until)
        if left is not None:
            _left_claims.pop(feed.id, None)
        if busy_with is not None:
            return PollOutcome(feed.id, feed.source, feed.author_slug, "skipped", error=f"being polled by {busy_with}")
        try:
            return self._poll_recorded(feed, _Recorder(holder, started), raise_unexpected)
        except Exception as exc:
            self._release_quietly(feed.id, holder)
            if is_infrastructure_failure(exc):
                return PollOutcome(feed.id, feed.source, feed.author_slug, "unavailable", error=_unavailable(exc))
            raise

    def _poll_recorded(self, feed: store.FeedState, record: _Recorder, raise_unexpected: bool) -> PollOutcome:
        """Poll a claimed feed; the transaction that records the outcome also releases the claim."""
        try:
            return self._poll(feed, record)
        except HostBusy:
            return self._record_deferred(feed, record)
        except (FetchError, ParseError) as exc:
            return self._record_failure(feed, exc, record)
        except Exception as exc:
            if is_infrastructure_failure(exc):
                raise
            detail = (str(exc).strip().splitlines() or [""])[0][:300]
            message = f"internal error while polling: {type(exc).__name__}: {detail}"
            try:
                outcome = self._record_failure(feed, message, record)
            except Exception:  # noqa: BLE001 - the database may be the thing that failed
                log.exception("feed=%s could not record the failure", feed.source)
                outcome = PollOutcome(feed.id, feed.source, feed.author_slug, "failed", error=message)
            if raise_unexpected:
                raise
            log.exception("feed=%s poll crashed", feed.source)
            return outcome

    def _release_quietly(self, feed_id: int, holder: str) -> None:
        try:
            with transaction(self.sessions) as session:
                store.release_claim(session, feed_id, holder)
        except Exception:  # noqa: BLE001 - the database may be away: released at the feed's next poll
            _left_claims[feed_id] = holder
            log.debug("feed_id=%s claim left for the next poll to release", feed_id)

    def _poll(self, feed: store.FeedState, record: _Recorder) -> PollOutcome:
        if feed.type == "wagtail" and feed.fetch_location.startswith(("http://", "https://")):
            return self._poll_wagtail(feed, record)
        rules = cleaning_version(feed.boilerplate)
        if rules == feed.cleaned_with:
            request = FetchRequest(feed.fetch_location, feed.etag, feed.last_modified, source=feed.source)
        else:
            # New cleaning rules: read the feed in full and clean its entries again.
            request = FetchRequest(feed.fetch_location, source=feed.source)
        response = self.fetcher.fetch(request)
        now = self.clock()
        moved_to = _moved_to(feed, response.permanent_redirect)
        body_hash = hashlib.sha256(response.body).hexdigest() if response.body is not None else None
        if response.not_modified or (body_hash == feed.body_hash and rules == feed.cleaned_with):
            # A 304, or the same bytes from a server that ignores conditional
            # requests: nothing to parse, clean or store.
            with transaction(self.sessions) as session:
                store.record_success(
                    session, feed.id, now=now, next_check_at=self._next_check(session, feed, now, response.fresh_for),
                    status=response.status, etag=response.etag, last_modified=response.last_modified, moved_to=moved_to,
                    holder=record.holder,
                )
                record(session, "not-modified")
            return PollOutcome(
                feed.id, feed.source, feed.author_slug, "not-modified", response.status, bytes=len(response.body or b"")
            )
        assert response.body is not None
        parsed = parse_feed(response.body, response.url, response.content_type, feed.type)
        prepared, cleaning_warnings, left, unknown = self._prepare(feed, parsed)
        moved, rename_checks = self._renamed_posts(feed, parsed, [entry for entry in prepared if entry.key_hash in unknown])
        hint = max(filter(None, [response.fresh_for, parsed.ttl_seconds]), default=None)
        with transaction(self.sessions) as session:
            counts = store.save_entries(session, feed, prepared, now, moved)
            if left:
                # Not all read: nothing may let the next poll take this
                # document as already stored (no validators, no body hash,
                # not the new rules), and it comes as soon as allowed.
                next_check = schedule.next_check_after_success(now, self.schedule.min_interval)
                etag, last_modified, read_hash, read_rules = None, None, None, None
            else:
                next_check = self._next_check(session, feed, now, hint)
                etag, last_modified, read_hash, read_rules = response.etag, response.last_modified, body_hash, rules
            store.record_success(
                session, feed.id, now=now, next_check_at=next_check,
                status=response.status, etag=etag, last_modified=last_modified, moved_to=moved_to,
                body_hash=read_hash, cleaned_with=read_rules, title=clean_text(parsed.title) if parsed.title else None,
                site_url=_http_url(parsed.site_url), warnings=parsed.warnings + cleaning_warnings, holder=record.holder,
            )
            record(session, "ok", new=counts.new, updated=counts.updated)
        return PollOutcome(
            feed.id, feed.source, feed.author_slug, "ok", response.status,
            new=counts.new, updated=counts.updated,
            unchanged=counts.unchanged + len(parsed.entries) - len(prepared) - left,
            warnings=parsed.warnings + cleaning_warnings, bytes=len(response.body), left_for_later=left,
            requests=1 + rename_checks,
        )

    def _renamed_posts(
        self, feed: store.FeedState, parsed: ParsedFeed, unknown: list[store.PreparedEntry]
    ) -> tuple[dict[str, int], int]:
        """Which of the entries not stored under their keys (`unknown`) are stored posts at a new
        address, and the requests it took to tell.

        A renamed slug gives a post a new link (and, where the link is the
        guid, a new key). When the feed drops a recent stored post as it
        brings a new one, the old address is asked: a permanent redirect to
        the new entry's link says they are one post.
        """
        new = {entry.url: entry.key_hash for entry in unknown if entry.url}
        if not new:
            return {}, 0
        with self.sessions() as session:
            dates = [entry.published for entry in parsed.entries if entry.published]
            listed = {store.key_hash(entry.key) for entry in parsed.entries}
            candidates = store.unlisted_entries(session, feed.id, listed, min(dates, default=None), MAX_RENAME_CHECKS)
        moved: dict[str, int] = {}
        for entry_id, old_url in candidates:
            try:
                answer = self.fetcher.fetch(FetchRequest(old_url, source=feed.source))
            except (FetchError, HostBusy):
                continue
            if answer.permanent_redirect in new:
                moved[new.pop(answer.permanent_redirect)] = entry_id
        return moved, len(candidates)

    def _poll_wagtail(self, feed: store.FeedState, record: _Recorder) -> PollOutcome:
        """A Wagtail site read through its pages API: what changed since the last read, in several requests."""
        rules = cleaning_version(feed.boilerplate)
        read = wagtail.read_source(
            self.fetcher, feed.fetch_location, options=feed.source_options, state=feed.source_state,
            full=rules != feed.cleaned_with, source=feed.source,
        )
        now = self.clock()
        if read.not_modified:
            with transaction(self.sessions) as session:
                store.record_success(
                    session, feed.id, now=now, next_check_at=self._next_check(session, feed, now, None), status=200,
                    etag=None, last_modified=None, moved_to=None, source_state=read.state, holder=record.holder,
                )
                record(session, "not-modified")
            return PollOutcome(feed.id, feed.source, feed.author_slug, "not-modified", 200, requests=read.requests)
        parsed = read.as_feed()
        prepared, cleaning_warnings, left, _ = self._prepare(feed, parsed)
        state = read.state
        if left:
            # Pages past the cleaning budget are read again, in full, next time.
            state = {**state, "complete": False}
        unfinished = left or read.left or read.broken_off
        warnings = parsed.warnings + cleaning_warnings
        with transaction(self.sessions) as session:
            counts = store.save_entries(session, feed, prepared, now)
            withdrawn = store.mark_listed(
                session, feed.id, [store.key_hash(key) for key in read.listed.values()], complete=read.complete, now=now
            )
            next_check = (
                schedule.next_check_after_success(now, self.schedule.min_interval)
                if unfinished else self._next_check(session, feed, now, None)
            )  # fmt: skip
            store.record_success(
                session, feed.id, now=now, next_check_at=next_check, status=200, etag=None, last_modified=None,
                moved_to=None, cleaned_with=None if left else rules, site_url=_http_url(parsed.site_url),
                warnings=warnings, holder=record.holder, source_state=state,
            )
            record(session, "ok", new=counts.new, updated=counts.updated)
        return PollOutcome(
            feed.id, feed.source, feed.author_slug, "ok", 200, new=counts.new, updated=counts.updated,
            unchanged=counts.unchanged + len(parsed.entries) - len(prepared) - left, warnings=warnings,
            left_for_later=left + read.left, requests=read.requests, withdrawn=withdrawn,
        )

    def _next_check(self, session: Session, feed: store.FeedState, now: datetime, hint: int | None) -> datetime:
        recent = 0 if feed.interval_fixed else store.recent_entry_count(session, feed.id, now - schedule.FREQUENCY_WINDOW)
        interval = schedule.adaptive_interval(
            fixed=feed.interval_fixed,
            configured=feed.interval_seconds,
            recent_entries=recent,
            min_interval=self.schedule.min_interval,
            max_interval=self.schedule.max_interval,
            publisher_hint=hint,
        )
        return schedule.next_check_after_success(now, interval)

    def _prepare(
        self, feed: store.FeedState, parsed: ParsedFeed
    ) -> tuple[list[store.PreparedEntry], tuple[str, ...], int, set[str]]:
        """Clean and tag the entries that are new or changed since last stored, with warnings for the curator.

        Only as many as the cleaning budget allows, newest first; the number
        left for the next poll, then the keys not stored yet. One entry never sinks its feed:
        content that cannot be cleaned is stored as its plain text.
        """
        rules = curator_rules(feed.boilerplate)
        version = cleaning_version(feed.boilerplate)
        fingerprints = {}
        for entry in parsed.entries:
            categories = [clean_text(category) for category in entry.categories]
            tags = entry_tags(categories, feed.tags, self.aliases)
            notes = declared_notes(categories, self.aliases)
            content_hash = _content_hash(entry, [t.slug for t in tags], version)
            fingerprints[store.key_hash(entry.key)] = (entry, tags, notes, content_hash)
        with self.sessions() as session:
            stored = store.stored_hashes(session, feed.id, fingerprints)
        # Unchanged entries are not cleaned again.
        changed = [entry for key_hash, (entry, *_, content_hash) in fingerprints.items() if stored.get(key_hash) != content_hash]
        taken, left = within_cleaning_budget(changed)
        taken_ids = {id(entry) for entry in taken}
        prepared, warnings = [], []
        for key_hash, (entry, tags, notes, content_hash) in fingerprints.items():
            if id(entry) not in taken_ids:
                continue
            url = _http_url(entry.url)
            try:
                content = clean_content(entry.content, entry.content_is_html, entry.base_url, entry_url=url, extra_rules=rules)
            except Exception as problem:  # noqa: BLE001 - whatever the cleaner trips on, the other entries are stored
                name = url or clean_text(entry.title) or entry.guid
                warnings.append(f"entry {name} could not be cleaned ({type(problem).__name__}) and is stored as plain text")
                content = clean_content(clean_text(entry.content, entry.content_is_html), False, entry.base_url, entry_url=url)
            title = clean_text(entry.title, entry.title_is_html) or _untitled(content.excerpt)
            prepared.append(
                store.PreparedEntry(
                    key_hash=key_hash,
                    guid=entry.guid,
                    url=url,
                    title=title,
                    author_name=clean_text(entry.author) or None,
                    content_html=content.html,
                    summary_text=content.excerpt,
                    content_text=content.text,
                    word_count=content.word_count,
                    is_teaser=content.truncated,
                    content_notes=tuple(notes),
                    content_hash=content_hash,
                    published_at=entry.published,
                    updated_at=entry.updated,
                    # Keyword rules read the cleaned text, as they do over stored posts
                    # when they change; they are not in the content hash for that reason.
                    tags=self.topics.tag(tags, title, content.text),
                    enclosures=_checked_enclosures(entry),
                )
            )
        return prepared, tuple(warnings), left, fingerprints.keys() - stored.keys()

    def _record_failure(self, feed: store.FeedState, problem: FetchError | ParseError | str, record: _Recorder) -> PollOutcome:
        now = self.clock()
        message = str(problem)
        status = getattr(problem, "status", None)
        retry_after = getattr(problem, "retry_after", None)
        gone = bool(getattr(problem, "gone", False))
        next_check = schedule.next_check_after_failure(now, feed.interval_seconds, feed.error_count + 1, retry_after)
        with transaction(self.sessions) as session:
            store.record_failure(
                session, feed.id, now=now, next_check_at=next_check, message=message, status=status,
                retry_after=retry_after, gone=gone, holder=record.holder,
            )
            record(session, "failed")
        return PollOutcome(feed.id, feed.source, feed.author_slug, "failed", status, error=message)

    def _record_deferred(self, feed: store.FeedState, record: _Recorder) -> PollOutcome:
        with transaction(self.sessions) as session:
            store.record_deferred(session, feed.id, next_check_at=self.clock() + schedule.BUSY_RETRY, holder=record.holder)
            record(session, "deferred")
        return PollOutcome(feed.id, feed.source, feed.author_slug, "deferred", error="its host is busy with other polls")


class _Recorder:
    """A claimed poll's holder and start; counts the poll in the transaction that records it (which ends the claim)."""

    def __init__(self, holder: str, started: float):
        self.holder = holder
        self.started = started

    def __call__(self, session: Session, result: str, *, new: int = 0, updated: int = 0) -> None:
        telemetry.record_poll(
            session, result=result, duration_seconds=time.monotonic() - self.started, new=new, updated=updated
        )


def poll_feeds(
    sessions: sessionmaker[Session],
    feed_ids: Iterable[int],
    *,
    concurrency: int = 4,
    on_done: Callable[[PollOutcome], None] | None = None,
    limits: FetchLimits | None = None,
    force: bool = False,
) -> list[PollOutcome]:
    """Poll several feeds, a few at a time; return their outcomes in order.

    A feed that fails for an unexpected reason is reported as failed and
    the others go on. `force`: see `Poller.poll`.
    """
    feed_ids = list(feed_ids)
    if not feed_ids:
        return []
    with Poller(sessions, limits=limits) as poller:

        def run(feed_id: int) -> PollOutcome:
            try:
                outcome = poller.poll(feed_id, force=force, raise_unexpected=False)
            except Exception as exc:  # noqa: BLE001 - the feed could not even be loaded
                log.exception("feed_id=%s poll crashed", feed_id)
                outcome = PollOutcome(feed_id, f"feed #{feed_id}", "?", "failed", error=f"internal error: {exc}")
            if on_done is not None:
                on_done(outcome)
            return outcome

        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(feed_ids)))) as pool:
            return list(pool.map(run, feed_ids))


def within_cleaning_budget(entries: list[ParsedEntry]) -> tuple[list[ParsedEntry], int]:
    """The entries one poll cleans, newest first within the budget, and how many are left.

    Undated entries follow the dated ones in the feed's order. The first is
    always taken (the cleaner caps its length), so every poll gets on.
    """
    undated = datetime.min.replace(tzinfo=UTC)
    newest_first = sorted(entries, key=lambda e: e.published or e.updated or undated, reverse=True)
    taken: list[ParsedEntry] = []
    characters = 0
    for entry in newest_first:
        characters += min(len(entry.content), MAX_ENTRY_HTML)
        if taken and (len(taken) >= CLEANING_BUDGET_ENTRIES or characters > CLEANING_BUDGET_CHARACTERS):
            break
        taken.append(entry)
    return taken, len(entries) - len(taken)


def cleaning_version(feed_rules: tuple[str, ...]) -> str:
    """The cleaning rules a feed's entries go through: ours, the library's, the curator's."""
    material = json.dumps([RULES_VERSION, library().fingerprint, list(feed_rules)], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


def _content_hash(entry: ParsedEntry, tag_slugs: list[str], rules_version: str) -> str:
    # Everything that shapes the stored entry: the entry as parsed, its tags,
    # its enclosures, and the cleaning rules. An entry without enclosures
    # keeps the hash it had before they were stored, and is not written again.
    enclosures = [[e.url, e.media_type, e.length, e.duration_seconds] for e in entry.enclosures]
    material = json.dumps(
        [
            rules_version,
            entry.guid, entry.url, entry.title, entry.title_is_html, entry.content, entry.content_is_html,
            entry.base_url, entry.author, entry.published and entry.published.isoformat(),
            entry.updated and entry.updated.isoformat(), tag_slugs,
        ] + ([enclosures] if enclosures else []),
        ensure_ascii=False,
    )
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


def _http_url(url: str | None) -> str | None:
    """A link from a feed, kept only if it is an absolute http(s) URL of sane length."""
    checked = safe_url(url)
    if not checked or not checked.startswith(("http://", "https://")) or len(checked) > MAX_URL_LENGTH:
        return None
    return checked


def _checked_enclosures(entry: ParsedEntry) -> tuple[ParsedEnclosure, ...]:
    """The entry's enclosures whose URLs pass the checks of its link, encoded as stored, each once."""
    checked: dict[str, ParsedEnclosure] = {}
    for enclosure in entry.enclosures:
        if (url := _http_url(enclosure.url)) is not None:
            checked.setdefault(url, replace(enclosure, url=url))
    return tuple(checked.values())


def _moved_to(feed: store.FeedState, permanent_redirect: str | None) -> str | None:
    """The feed's address after this poll's permanent redirect, if any.

    A redirect back to the configured address ends the move; a temporary
    redirect changes nothing.
    """
    if permanent_redirect is None:
        return feed.moved_to
    return None if permanent_redirect == feed.location else permanent_redirect


def _unavailable(exc: BaseException) -> str:
    if isinstance(exc, InfrastructureUnavailable):
        return str(exc)
    detail = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0][:200]
    return f"the database is unavailable ({type(exc).__name__}: {detail}); the feed is polled again next round"


def _untitled(excerpt: str) -> str:
    words = excerpt.split()
    return " ".join(words[:8]) + (" …" if len(words) > 8 else "") if words else "Untitled"


def _with_duration(outcome: PollOutcome, started: float) -> PollOutcome:
    return replace(outcome, duration_ms=round((time.monotonic() - started) * 1000))


def _log(outcome: PollOutcome) -> None:
    fields = {
        "feed": outcome.source,
        "author": outcome.author_slug,
        "result": outcome.result,
        "status": outcome.http_status,
        "bytes": outcome.bytes,
        "new": outcome.new,
        "updated": outcome.updated,
        "duration_ms": outcome.duration_ms,
    }
    if outcome.error:
        fields["error"] = outcome.error
    if outcome.left_for_later:
        fields["left_for_later"] = outcome.left_for_later
    line = " ".join(f"{key}={json.dumps(value, ensure_ascii=False) if isinstance(value, str) else value}" for key, value in fields.items())
    (log.warning if outcome.failed or outcome.unavailable else log.info)(line)
