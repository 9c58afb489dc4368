"""Polling against a fault-injecting HTTP server on 127.0.0.1.

For every case: the feed's stored entries are unchanged (or correctly
extended), the right status and error are recorded and shown on /status,
and the next poll time is right.
"""

from __future__ import annotations

import gzip
import re
import threading
import time
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import unescape

import brotli
import pytest
from sqlalchemy import select

from aggregator.db import make_engine
from aggregator.fetch import Fetcher, FetchError, FetchLimits, FetchRequest, LocalHostLimiter, is_internal_host
from aggregator.models import Entry
from aggregator.poll import Poller, poll_feeds
from aggregator.web import create_app
from tests.feedserver import FeedServer
from tests.helpers import count_entries, entries_by_title, feed_id, feeds_yaml, get_feed, write_and_sync

FEED = "counsellor-atom10.xml"
HOUR = timedelta(hours=1)


@pytest.fixture
def polled(sessions, tmp_path, feed_server):
    """One feed with a fixed 1 h interval, polled once: 4 entries stored."""
    write_and_sync(sessions, tmp_path, feeds_yaml({"samuel": [feed_server.url(FEED) + " interval=1h"]}))
    feed = feed_id(sessions, feed_server.url(FEED))
    assert poll(sessions, feed).new == 4
    return feed


def poll(sessions, feed: int, limits: FetchLimits | None = None, **options):
    with Poller(sessions, limits=limits) as poller:
        return poller.poll(feed, **options)


def snapshot(sessions) -> dict[int, tuple[str, str]]:
    return {e.id: (e.title, e.content_html) for e in entries_by_title(sessions).values()}


def status_page(database_url: str) -> str:
    """The text of /status, as a reader sees it."""
    engine = make_engine(database_url)
    try:
        html = create_app(engine=engine).test_client().get("/status").get_data(as_text=True)
    finally:
        engine.dispose()
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def around(moment: datetime, expected: datetime, slack: timedelta = timedelta(seconds=30)) -> bool:
    return abs(moment - expected) <= slack


def test_304_costs_no_parse_and_waits_one_interval(sessions, polled, feed_server):
    before = snapshot(sessions)
    outcome = poll(sessions, polled)
    assert (outcome.result, outcome.http_status) == ("not-modified", 304)
    assert snapshot(sessions) == before
    assert around(get_feed(sessions, feed_server.url(FEED)).next_check_at, datetime.now(UTC) + HOUR)


@pytest.mark.parametrize("code", [301, 308])
def test_permanent_redirect_moves_the_feed_and_tells_the_curator(code, database_url, sessions, polled, feed_server, tmp_path, run_aggregator):
    body = (feed_server.root / FEED).read_bytes()
    (feed_server.root / "new-home.xml").write_bytes(body.replace(b"Grief Doesn\xe2\x80\x99t Keep a Calendar", b"Grief, Moved"))
    feed_server.script(FEED, status=code, headers={"Location": "/hop.xml"})
    feed_server.script("hop.xml", status=code, headers={"Location": feed_server.url("new-home.xml")})
    outcome = poll(sessions, polled)
    assert (outcome.result, outcome.updated) == ("ok", 1)
    stored = get_feed(sessions, feed_server.url(FEED))
    assert stored.moved_to == feed_server.url("new-home.xml")
    assert count_entries(sessions) == 4
    # The next poll goes straight to the new address.
    hits = len(feed_server.hits(FEED))
    poll(sessions, polled)
    assert len(feed_server.hits(FEED)) == hits
    assert f"Moved permanently to {feed_server.url('new-home.xml')} ; polled there now." in status_page(database_url)
    run_aggregator.env["DATABASE_URL"] = database_url
    check = run_aggregator("check")
    assert f"moved permanently to {feed_server.url('new-home.xml')}; put the new address in feeds.yaml" in check.stderr
    # The curator follows the advice: the same feed, at its new address, with its entries.
    text = (tmp_path / "feeds.yaml").read_text().replace(feed_server.url(FEED), feed_server.url("new-home.xml"))
    _, report = write_and_sync(sessions, tmp_path, text)
    assert report.retired == [] and report.added == []
    assert count_entries(sessions) == 4
    assert get_feed(sessions, feed_server.url("new-home.xml")).moved_to is None


def test_temporary_redirects_change_nothing(sessions, polled, feed_server):
    (feed_server.root / "elsewhere.xml").write_bytes((feed_server.root / FEED).read_bytes())
    feed_server.script(FEED, status=302, headers={"Location": "/temporary.xml"})
    feed_server.script("temporary.xml", status=301, headers={"Location": "/elsewhere.xml"})
    assert poll(sessions, polled).result in ("ok", "not-modified")
    assert get_feed(sessions, feed_server.url(FEED)).moved_to is None


@pytest.mark.parametrize(
    ("chain", "error"),
    [
        ({"a.xml": "/b.xml", "b.xml": "/a.xml"}, "redirect loop: "),
        ({f"r{i}.xml": f"/r{i + 1}.xml" for i in range(7)}, "more than 5 redirects"),
    ],
    ids=["loop", "too-many"],
)
def test_redirect_loops_and_long_chains_are_errors(chain, error, sessions, polled, feed_server):
    before = snapshot(sessions)
    first = next(iter(chain))
    feed_server.script(FEED, status=301, headers={"Location": "/" + first})
    for source, target in chain.items():
        feed_server.script(source, status=302, headers={"Location": target})
    outcome = poll(sessions, polled)
    assert outcome.result == "failed" and outcome.error.startswith(error), outcome.error
    assert snapshot(sessions) == before
    assert len(feed_server.requests) < 12


def test_410_gone_stops_polling_and_keeps_the_entries(database_url, sessions, polled, feed_server):
    feed_server.script(FEED, status=410, body=b"gone")
    outcome = poll(sessions, polled)
    assert outcome.result == "failed" and outcome.http_status == 410
    stored = get_feed(sessions, feed_server.url(FEED))
    assert stored.gone_at is not None and stored.next_check_at is None
    assert count_entries(sessions) == 4
    hits = len(feed_server.requests)
    assert poll(sessions, polled).result == "skipped"
    assert len(feed_server.requests) == hits
    page = status_page(database_url)
    assert "Gone: the server said 410 Gone" in page
    engine = make_engine(database_url)
    try:
        assert "What My Father Never Said" in create_app(engine=engine).test_client().get("/").get_data(as_text=True)
    finally:
        engine.dispose()
    # Named by the curator, it is tried once more, and comes back if it is there.
    feed_server.unscript(FEED)
    assert poll(sessions, polled, force=True).result in ("ok", "not-modified")
    assert get_feed(sessions, feed_server.url(FEED)).gone_at is None


@pytest.mark.parametrize(
    ("code", "retry_after", "wait"),
    [
        (429, "7200", timedelta(hours=2)),
        (429, None, timedelta(hours=4)),  # None: an HTTP date that far ahead
        (503, "3600", timedelta(hours=1)),
        (503, None, timedelta(hours=3)),
    ],
    ids=["429-seconds", "429-http-date", "503-seconds", "503-http-date"],
)
def test_retry_after_means_no_request_before_then(code, retry_after, wait, database_url, sessions, polled, feed_server):
    value = retry_after or format_datetime(datetime.now(UTC) + wait, usegmt=True)
    feed_server.script(FEED, status=code, headers={"Retry-After": value})
    outcome = poll(sessions, polled)
    assert outcome.result == "failed" and outcome.http_status == code
    stored = get_feed(sessions, feed_server.url(FEED))
    expected = datetime.now(UTC) + wait
    assert around(stored.retry_after, expected, timedelta(seconds=60))
    assert stored.next_check_at >= stored.retry_after
    hits = len(feed_server.requests)
    skipped = poll(sessions, polled)
    assert skipped.result == "skipped" and "asked us to wait" in skipped.error
    assert len(feed_server.requests) == hits
    with sessions() as session:
        from aggregator.store import due_feed_ids

        assert polled not in due_feed_ids(session, datetime.now(UTC) + wait - timedelta(minutes=5))
    assert "The server asked us to wait until" in status_page(database_url)


def test_a_trickling_server_is_cut_off_at_the_deadline(sessions, polled, feed_server):
    feed_server.script(FEED, body=b"<rss>" + b" " * 400, trickle=0.05)
    started = time.monotonic()
    outcome = poll(sessions, polled, FetchLimits(read_timeout=2, total_timeout=1.5))
    assert time.monotonic() - started < 5
    assert outcome.error == "timed out: the whole feed did not arrive within 1.5 s"
    assert count_entries(sessions) == 4


def test_a_hanging_server_times_out(sessions, polled, feed_server):
    feed_server.script(FEED, body=b"<rss/>", delay=3)
    outcome = poll(sessions, polled, FetchLimits(read_timeout=0.5))
    assert outcome.error == "timed out: the server sent nothing for 0.5 s"
    stored = get_feed(sessions, feed_server.url(FEED))
    assert around(stored.next_check_at, datetime.now(UTC) + HOUR)  # first error: one interval


def zeros_gzip(megabytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1 << 20)
    return b"".join(compressor.compress(block) for _ in range(megabytes)) + compressor.flush()


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_a_compression_bomb_is_cut_off_not_inflated(encoding, sessions, polled, feed_server):
    body = zeros_gzip(300) if encoding == "gzip" else brotli.compress(b"\0" * (64 << 20), quality=5)
    assert len(body) < 1 << 20
    feed_server.script(FEED, body=body, headers={"Content-Encoding": encoding})
    tracemalloc.start()
    try:
        outcome = poll(sessions, polled)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.error == "the feed is over the size limit once decompressed (a compression bomb?)"
    assert peak < 40 << 20, f"peak {peak / 1e6:.0f} MB"
    assert count_entries(sessions) == 4


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_compressed_feeds_are_read(encoding, sessions, tmp_path, feed_server):
    body = (feed_server.root / FEED).read_bytes()
    packed = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress}[encoding](body)
    feed_server.script("packed.xml", body=packed, headers={"Content-Encoding": encoding, "Content-Type": "application/atom+xml"})
    write_and_sync(sessions, tmp_path, feeds_yaml({"samuel": [feed_server.url("packed.xml")]}))
    assert poll(sessions, feed_id(sessions, feed_server.url("packed.xml"))).new == 4
    assert "br" in feed_server.hits("packed.xml")[0].headers["accept-encoding"]


def test_an_html_page_names_its_feeds_in_the_error(database_url, sessions, polled, feed_server):
    page = (
        b'<!doctype html><html><head><title>My blog</title>'
        b'<link rel="alternate" type="application/rss+xml" title="Posts" href="/blog/feed/">'
        b'<link rel="alternate" type="application/atom+xml" href="https://other.example/atom.xml">'
        b'<link rel="stylesheet" href="/style.css"></head><body>Welcome</body></html>'
    )
    feed_server.script(FEED, body=page, headers={"Content-Type": "text/html; charset=utf-8"})
    outcome = poll(sessions, polled)
    expected = (
        f"not a feed: this page links to {feed_server.url('blog/feed/')} (RSS), https://other.example/atom.xml (Atom); "
        "put that address in feeds.yaml"
    )
    assert outcome.error == expected
    assert expected in status_page(database_url)
    assert count_entries(sessions) == 4


def test_a_wrong_charset_does_not_lose_entries(sessions, tmp_path, feed_server):
    body = (feed_server.root / FEED).read_bytes()  # UTF-8, with curly quotes
    feed_server.script("latin.xml", body=body.replace(b'encoding="utf-8"', b'encoding="iso-8859-1"', 1), headers={"Content-Type": "application/atom+xml; charset=windows-1252"})
    write_and_sync(sessions, tmp_path, feeds_yaml({"samuel": [feed_server.url("latin.xml")]}))
    outcome = poll(sessions, feed_id(sessions, feed_server.url("latin.xml")))
    assert (outcome.result, outcome.new) == ("ok", 4)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY a "lol">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
 <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
 <!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">
 <!ENTITY i "&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;">
]>
<rss version="2.0"><channel><title>Laughs</title>
<item><title>Laughing &i;</title><guid>laugh-1</guid><description>Funny &i;</description></item>
</channel></rss>"""


def test_billion_laughs_are_not_expanded(sessions, tmp_path, feed_server):
    feed_server.script("laughs.xml", body=BILLION_LAUGHS, headers={"Content-Type": "application/rss+xml"})
    write_and_sync(sessions, tmp_path, feeds_yaml({"joker": [feed_server.url("laughs.xml")]}))
    tracemalloc.start()
    try:
        outcome = poll(sessions, feed_id(sessions, feed_server.url("laughs.xml")))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 << 20
    with sessions() as session:
        texts = [e.title + e.content_html for e in session.scalars(select(Entry))]
    assert all("lollol" not in text for text in texts)
    assert outcome.result in ("ok", "failed")


def test_external_entities_are_never_read(sessions, tmp_path, feed_server):
    secret = tmp_path / "secret.txt"
    secret.write_text("THE-SECRET-OF-THIS-MACHINE")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>XXE</title><item><title>Leak &xxe;</title><guid>xxe-1</guid>'
        "<description>Leak: &xxe;</description></item></channel></rss>"
    ).encode()
    feed_server.script("xxe.xml", body=xxe, headers={"Content-Type": "application/rss+xml"})
    write_and_sync(sessions, tmp_path, feeds_yaml({"leaky": [feed_server.url("xxe.xml")]}))
    poll(sessions, feed_id(sessions, feed_server.url("xxe.xml")))
    with sessions() as session:
        texts = [e.title + e.content_html + e.summary_text for e in session.scalars(select(Entry))]
    assert all("THE-SECRET" not in text for text in texts)


def test_entries_whose_guids_all_change_are_updated_not_doubled(sessions, tmp_path, feed_server):
    body = (feed_server.root / FEED).read_text(encoding="utf-8")
    feed_server.script("renamed.xml", body=body.encode())
    write_and_sync(sessions, tmp_path, feeds_yaml({"samuel": [feed_server.url("renamed.xml")]}))
    feed = feed_id(sessions, feed_server.url("renamed.xml"))
    poll(sessions, feed)
    before = {e.title: e.id for e in entries_by_title(sessions).values()}
    # Every guid regenerated; one post's link renamed too (same title and date).
    renamed = body.replace("<id>tag:demo.invalid,2026:", "<id>urn:uuid:regenerated-").replace(
        "/blog/two-people-one-argument/", "/blog/two-people-one-argument-again/"
    )
    feed_server.script("renamed.xml", body=renamed.encode())
    outcome = poll(sessions, feed)
    assert (outcome.new, outcome.updated) == (0, 4)
    after = {e.title: e.id for e in entries_by_title(sessions).values()}
    assert after == before
    with sessions() as session:
        guids = set(session.scalars(select(Entry.guid)))
    assert all(guid.startswith("urn:uuid:regenerated-") for guid in guids)


def test_adaptive_interval_follows_how_often_a_feed_publishes(sessions, tmp_path, feed_server):
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>Note {i}</title><guid>busy-{i}</guid><pubDate>{format_datetime(now - timedelta(minutes=10 * i), usegmt=True)}</pubDate>"
        "<description>x</description></item>"
        for i in range(3000)
    )
    (feed_server.root / "busy.xml").write_text(f'<rss version="2.0"><channel><title>Busy</title>{items}</channel></rss>')
    (feed_server.root / "ttl.xml").write_text(
        '<rss version="2.0"><channel><title>Slow</title><ttl>600</ttl><item><title>Old</title><guid>old</guid>'
        "<pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate></item></channel></rss>"
    )
    write_and_sync(sessions, tmp_path, feeds_yaml({"busy": [feed_server.url("busy.xml")], "quiet": [feed_server.url("ttl.xml")]}))
    poll_feeds(sessions, [feed_id(sessions, feed_server.url("busy.xml")), feed_id(sessions, feed_server.url("ttl.xml"))])
    busy = get_feed(sessions, feed_server.url("busy.xml"))
    quiet = get_feed(sessions, feed_server.url("ttl.xml"))
    assert around(busy.next_check_at, datetime.now(UTC) + timedelta(minutes=15), timedelta(minutes=1))  # the minimum
    assert around(quiet.next_check_at, datetime.now(UTC) + timedelta(hours=6), timedelta(minutes=1))  # the maximum, ttl or not


def test_publisher_hints_lengthen_the_interval_up_to_the_maximum(sessions, tmp_path, feed_server):
    body = (feed_server.root / FEED).read_bytes()
    feed_server.script("cached.xml", body=body, headers={"Cache-Control": "public, max-age=5400"})
    write_and_sync(sessions, tmp_path, feeds_yaml({"samuel": [feed_server.url("cached.xml") + " interval=30m"]}))
    poll(sessions, feed_id(sessions, feed_server.url("cached.xml")))
    stored = get_feed(sessions, feed_server.url("cached.xml"))
    assert around(stored.next_check_at, datetime.now(UTC) + timedelta(minutes=90))


def test_the_user_agent_and_accept_headers(sessions, polled, feed_server):
    headers = feed_server.hits(FEED)[0].headers
    assert headers["user-agent"].startswith("TherapyWritersAggregator/") and "(+http://127.0.0.1:5000)" in headers["user-agent"]
    assert headers["accept"].startswith("application/atom+xml, application/rss+xml, application/feed+json")


def test_no_more_than_two_fetches_at_once_per_host(sessions, tmp_path, feed_server):
    names = [f"slow-{i}.xml" for i in range(6)]
    body = (feed_server.root / FEED).read_bytes()
    for name in names:
        feed_server.script(name, body=body, delay=0.4)
    write_and_sync(sessions, tmp_path, feeds_yaml({f"w{i}": [feed_server.url(name)] for i, name in enumerate(names)}))
    outcomes = poll_feeds(sessions, [feed_id(sessions, feed_server.url(name)) for name in names], concurrency=6)
    assert [o.result for o in outcomes] == ["ok"] * 6
    assert feed_server.most_active == 2


def test_a_busy_host_defers_instead_of_failing(sessions, polled, feed_server):
    limiter = LocalHostLimiter(per_host=1, wait_seconds=0.2)
    with limiter.slot("127.0.0.1"):
        with Poller(sessions, limiter=limiter) as poller:
            outcome = poller.poll(polled)
    assert outcome.result == "deferred"
    stored = get_feed(sessions, feed_server.url(FEED))
    assert stored.error_count == 0
    assert around(stored.next_check_at, datetime.now(UTC) + timedelta(minutes=1))


@pytest.fixture
def internal_server(feed_dir):
    """A second server, on 127.0.0.2: 'the internal network' in these tests."""
    with FeedServer(feed_dir, host="127.0.0.2") as server:
        yield server


def test_a_public_feed_cannot_redirect_into_the_internal_network(feed_server, internal_server):
    # Here 127.0.0.2 plays the internal network and 127.0.0.1 the public internet.
    def internal(host: str) -> bool:
        return host == "127.0.0.2"

    feed_server.script("public.xml", status=302, headers={"Location": internal_server.url(FEED)})
    with Fetcher(internal=internal) as fetcher, pytest.raises(FetchError) as refused:
        fetcher.fetch(FetchRequest(feed_server.url("public.xml")))
    assert str(refused.value) == f"refused a redirect to {internal_server.url(FEED)}: it points into an internal network"
    assert internal_server.requests == []
    # A feed configured inside the internal network on purpose may move within it.
    internal_server.script("intranet.xml", status=301, headers={"Location": "/" + FEED})
    with Fetcher(internal=internal) as fetcher:
        assert fetcher.fetch(FetchRequest(internal_server.url("intranet.xml"))).status == 200


@pytest.mark.parametrize(
    ("host", "internal"),
    [("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.5", True), ("169.254.169.254", True), ("::1", True),
     ("fd00::1", True), ("100.64.0.1", True), ("::ffff:127.0.0.1", True), ("93.184.215.14", False), ("2606:4700::1", False),
     ("localhost", True), ("no-such-host.invalid", False)],
)  # fmt: skip
def test_what_counts_as_internal(host, internal):
    assert is_internal_host(host) is internal


def test_the_whole_feed_and_other_feeds_survive_a_fault_in_one(sessions, tmp_path, feed_server):
    write_and_sync(sessions, tmp_path, feeds_yaml({"a": [feed_server.url(FEED)], "b": [feed_server.url("jsonfeed11.json")]}))
    feed_server.script("jsonfeed11.json", body=b'{"version": "https://jsonfeed.org/version/1.1", "items": [', break_after=20)
    outcomes = poll_feeds(sessions, [feed_id(sessions, feed_server.url(FEED)), feed_id(sessions, feed_server.url("jsonfeed11.json"))])
    assert [o.result for o in outcomes] == ["ok", "failed"]
    assert count_entries(sessions) == 4


def test_concurrent_slots_are_released_after_errors():
    limiter = LocalHostLimiter(per_host=1, wait_seconds=0.1)
    with pytest.raises(RuntimeError), limiter.slot("h"):
        raise RuntimeError("boom")
    acquired = threading.Event()
    with limiter.slot("h"):
        acquired.set()
    assert acquired.is_set()
