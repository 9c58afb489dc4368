"""`aggregator add URL`: find a site's feeds, show what each holds, print or append its feeds.yaml block.

Each site of tests/fixtures/sites is served on 127.0.0.1 by its own server
(feeds' usual addresses are the site's root's). feeds.yaml is the curator's
hand-formatted file: after --write, everything outside the new block is the
same bytes.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from aggregator.config import load_config
from aggregator.discover import FOUND_GIVEN, FOUND_LINKED, FOUND_USUAL, FOUND_WAGTAIL, discover
from aggregator.fetch import Fetcher
from tests.feedserver import FeedServer

SITES = Path(__file__).parent / "fixtures" / "sites"
HAND_FORMATTED = Path(__file__).parent / "fixtures" / "feeds-file" / "hand-formatted.yaml"
TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json", ".xml": "application/rss+xml; charset=utf-8"}


@pytest.fixture
def serve_site() -> Iterator[Callable[[str], FeedServer]]:
    """Start a server for a site of tests/fixtures/sites: `index.*` answers for its folder, other files at their paths."""
    with ExitStack() as stack:

        def start(name: str) -> FeedServer:
            root = SITES / name
            server = stack.enter_context(FeedServer(root))
            for file in root.rglob("*.*"):
                relative = file.relative_to(root).as_posix()
                path = relative[: -len(file.name)] if file.stem == "index" else relative
                server.script("/" + path, body=file.read_bytes(), headers={"Content-Type": TYPES[file.suffix]})
            return server

        yield start


@pytest.fixture
def feeds_file(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    shutil.copy(HAND_FORMATTED, path)
    return path


def only_added(before: bytes, after: bytes) -> str:
    """The one block `after` adds to `before`, which must be otherwise the same bytes."""
    head = 0
    while head < len(before) and before[head] == after[head]:
        head += 1
    head = before.rfind(b"\n", 0, head) + 1  # whole lines
    tail = len(before) - head
    assert after[len(after) - tail :] == before[head:]
    return after[head : len(after) - tail].decode()


# -- discovery -------------------------------------------------------------------


def test_a_page_that_names_its_feeds(serve_site):
    site = serve_site("alternate-links")
    with Fetcher() as fetcher:
        found = discover(site.url("/"), fetcher)
    assert found.page_title == "Maren Holt, Psychotherapist & Writer"
    assert [(f.url, f.kind, f.found_by) for f in found.feeds] == [
        (site.url("/blog/rss.xml"), "RSS", FOUND_LINKED),
        (site.url("/comments/feed/"), "RSS", FOUND_LINKED),
        (site.url("/feed.json"), "JSON Feed", FOUND_LINKED),
    ]
    posts = found.feeds[0]
    assert (posts.title, posts.entries, f"{posts.newest:%Y-%m-%d}", posts.categories) == (
        "Notes from the Therapy Room", 2, "2026-03-14", ("Grief", "Attachment"),
    )
    # The comments feed is never the writer's posts; the pages API was asked once and is not there.
    assert found.best() is posts and found.feeds[1].is_comments
    [(asked, why)] = found.tried
    assert asked == site.url("/api/v2/pages/") and why.startswith("the server answered 404")
    # Each address once, and no usual address when the page names its feeds.
    assert sorted(r.path for r in site.requests) == ["/", "/api/v2/pages/", "/blog/rss.xml", "/comments/feed/", "/feed.json"]


def test_a_site_with_only_the_usual_feed_address(serve_site):
    site = serve_site("only-feed")
    with Fetcher() as fetcher:
        found = discover(site.url("/"), fetcher)
    assert [(f.url, f.kind, f.title, f.found_by) for f in found.feeds] == [
        (site.url("/feed/"), "Atom", "The Quiet Room — a counsellor's notebook", FOUND_USUAL),
    ]
    tried = [address for address, _ in found.tried]
    assert tried == [site.url(p) for p in ("/rss/", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml", "/blog/feed/")] + [
        site.url("/?format=rss"), site.url("/api/v2/pages/"),
    ]
    assert dict(found.tried)[site.url("/?format=rss")] == "a web page, not a feed"


def test_a_wagtail_site_is_read_through_its_pages_api(serve_site):
    site = serve_site("wagtail")
    with Fetcher() as fetcher:
        found = discover(site.url("/"), fetcher)
    api = found.best()
    assert api is not None and api.found_by == FOUND_WAGTAIL
    # The listing of the site's posts, not of its home and index pages.
    assert api.url == site.url("/api/v2/pages/?type=blog.BlogPage")
    assert (api.kind, api.feed_type, api.entries, f"{api.newest:%Y-%m-%d}") == ("Wagtail pages API", "wagtail", 5, "2026-03-14")
    assert [f.url for f in found.feeds] == [site.url("/blog/feed/"), api.url]


def test_a_feed_address_is_taken_as_it_is(feed_server):
    with Fetcher() as fetcher:
        found = discover(feed_server.url("therapist-rss20.xml"), fetcher)
    assert [(f.url, f.found_by) for f in found.feeds] == [(feed_server.url("therapist-rss20.xml"), FOUND_GIVEN)]
    assert [r.path for r in feed_server.requests] == ["/therapist-rss20.xml"]


# -- the command -----------------------------------------------------------------


def test_add_prints_the_block_and_writes_nothing(run_aggregator, serve_site, feeds_file: Path):
    site = serve_site("alternate-links")
    result = run_aggregator("add", site.url("/"), "--tag", "grief")
    lines = result.stdout.splitlines()
    assert lines[0] == f"3 feeds at {site.url('/')} (Maren Holt, Psychotherapist & Writer):"
    assert lines[1] == f"  * {site.url('/blog/rss.xml')}"
    assert lines[2] == '      RSS "Notes from the Therapy Room": 2 posts, newest 2026-03-14'
    assert lines[3] == "      categories: Grief, Attachment"
    assert result.stdout.endswith(
        "# Paste under 'authors:' in feeds.yaml, and check the name and slug:\n"
        "  - slug: notes-from-the-therapy-room # found by aggregator add\n"
        "    name: Notes from the Therapy Room\n"
        "    homepage: https://marenholt.example/\n"
        "    feeds:\n"
        f"      - url: {site.url('/blog/rss.xml')}\n"
        "        tags: [grief]\n"
    )
    assert feeds_file.read_bytes() == HAND_FORMATTED.read_bytes()


def test_add_write_appends_a_new_writer_and_changes_nothing_else(run_aggregator, serve_site, feeds_file: Path):
    site = serve_site("only-feed")
    result = run_aggregator("add", site.url("/"), "--author", "quiet-room", "--name", "Ada Quiet, MBACP", "--write")
    assert result.stdout.rstrip().endswith(f"Added {site.url('/feed/')} for a new writer 'quiet-room' to feeds.yaml; run `aggregator sync` to apply.")
    block = only_added(HAND_FORMATTED.read_bytes(), feeds_file.read_bytes())
    assert block == (
        "\n- slug: quiet-room          # found by aggregator add\n"
        "  name: Ada Quiet, MBACP\n"
        "  homepage: https://quietroom.example/\n"
        "  feeds:\n"
        f"    - url: {site.url('/feed/')}\n"
    )
    config = load_config(feeds_file)
    assert config.authors[-1].slug == "quiet-room" and config.authors[-1].feeds[0].source == site.url("/feed/")


def test_add_write_under_an_existing_writer(run_aggregator, serve_site, feeds_file: Path):
    site = serve_site("wagtail")
    run_aggregator("add", site.url("/"), "--author", "jane-doe", "--write")
    block = only_added(HAND_FORMATTED.read_bytes(), feeds_file.read_bytes())
    assert block == f"  - url: {site.url('/api/v2/pages/?type=blog.BlogPage')}\n    type: wagtail\n"
    jane = load_config(feeds_file).authors[0]
    assert [(f.source, f.type) for f in jane.feeds][-1] == (site.url("/api/v2/pages/?type=blog.BlogPage"), "wagtail")


def test_add_refuses_a_feed_already_listed(run_aggregator, feed_server, feeds_file: Path):
    url = feed_server.url("therapist-rss20.xml")
    feeds_file.write_text(HAND_FORMATTED.read_text(encoding="utf-8").replace("https://jane.example/podcast.xml", url), encoding="utf-8")
    before = feeds_file.read_bytes()
    result = run_aggregator("add", url, "--write", check=False)
    assert result.returncode == 1
    assert f"{url} is listed already, under 'jane-doe'" in result.stderr
    assert feeds_file.read_bytes() == before


def test_add_says_when_it_finds_nothing(run_aggregator, serve_site, feeds_file: Path, feed_server):
    site = serve_site("only-feed")
    site.script("/feed/", status=404, body=b"gone")
    result = run_aggregator("add", site.url("/"), check=False)
    assert result.returncode == 1
    assert result.stdout.startswith(f"0 feeds at {site.url('/')} (The Quiet Room | Counselling in Leeds):")
    assert "No feed found" in result.stderr
    unreadable = run_aggregator("add", feed_server.url("no-such-page"), check=False)
    assert unreadable.returncode == 1 and "cannot be read: the server answered 404" in unreadable.stderr


def test_name_is_for_new_writers_only(run_aggregator, feeds_file: Path):
    result = run_aggregator("add", "http://127.0.0.1:9/", "--author", "jane-doe", "--name", "Jane", check=False)
    assert result.returncode == 2 and "'jane-doe' is listed already" in result.stderr


def test_a_new_writers_slug_must_be_one(run_aggregator, feeds_file: Path):
    result = run_aggregator("add", "http://127.0.0.1:9/", "--author", "Jane Doe", check=False)
    assert result.returncode == 2 and "a slug is lower-case letters, digits and hyphens" in result.stderr
