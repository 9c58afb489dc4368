"""A real Wagtail site (tests/wagtail_site/) read through its pages API, RSS and Atom feeds.

The site is shared by the session and other tests change it: counts are
taken from the site itself at the time of each check, and each test edits
only the posts it published.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from aggregator.db import make_engine, session_factory
from aggregator.models import Entry, EntryTag, Feed, Tag
from aggregator.poll import PollOutcome, Poller
from aggregator.web import create_app
from tests.helpers import feed_id, write_and_sync
from tests.wagtailsite import WagtailSite

HEADER = "site:\n  title: Test Reading Room\n  base_url: http://127.0.0.1:5000\nauthors:\n"


def source(slug: str, url: str, extra: str = "") -> str:
    kind = "        type: wagtail\n" if "/api/v2/" in url else ""
    return f"  - slug: {slug}\n    name: {slug.title()}\n    feeds:\n      - url: {url}\n{kind}{extra}"


@pytest.fixture
def sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(sqlite_url, writer=True)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def sessions_on_both(database_url: str) -> Iterator[sessionmaker[Session]]:
    """SQLite, then PostgreSQL: what withdrawing and renaming write, on both."""
    engine = make_engine(database_url, writer=True)
    yield session_factory(engine)
    engine.dispose()


def poll(sessions: sessionmaker[Session], url: str) -> PollOutcome:
    with Poller(sessions) as poller:
        return poller.poll(feed_id(sessions, url))


def api_total(url: str) -> int:
    return httpx.get(url + "&limit=1").json()["meta"]["total_count"]


def live_entries(sessions: sessionmaker[Session], url: str) -> dict[str, Entry]:
    """The entries a reader can see, by their link."""
    with sessions() as session:
        rows = session.scalars(
            select(Entry).join(Feed).where(Feed.source == url, Entry.withdrawn_at.is_(None))
        ).all()
        session.expunge_all()
    return {entry.url: entry for entry in rows}


def tags_by_url(sessions: sessionmaker[Session], url: str) -> dict[str, set[str]]:
    with sessions() as session:
        rows = session.execute(
            select(Entry.url, Tag.slug).join(EntryTag, EntryTag.entry_id == Entry.id).join(Tag).join(Feed).where(Feed.source == url)
        ).all()
    found: dict[str, set[str]] = {}
    for link, slug in rows:
        found.setdefault(link, set()).add(slug)
    return found


def words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_api_source_has_every_post_and_an_unchanged_site_costs_at_most_two_requests(
    wagtail_site: WagtailSite, sessions, tmp_path: Path
):
    write_and_sync(sessions, tmp_path, HEADER + source("api", wagtail_site.api_url))
    wagtail_site.reset_requests()
    first = poll(sessions, wagtail_site.api_url)
    assert first.result == "ok", first.error
    listing = [path for _, path in wagtail_site.requests if path.startswith("/api/v2/pages/?")]
    offsets = [re.search(r"offset=(\d+)", path).group(1) for path in listing]
    # Every page of the listing, newest first; a field the site refused is not asked again.
    assert offsets.count("0") <= 2 and offsets.count("20") == 1
    assert all("order=-first_published_at" in path for path in listing)
    assert len(wagtail_site.requests) == first.requests
    total = api_total(wagtail_site.api_url)
    assert total > 20  # more than one page of the API
    assert first.new == total == len(live_entries(sessions, wagtail_site.api_url))
    wagtail_site.reset_requests()
    again = poll(sessions, wagtail_site.api_url)
    assert again.result == "not-modified" and again.requests == 1  # one conditional request, answered 304
    assert len(wagtail_site.requests) == again.requests


def test_rss_atom_and_api_sources_agree_on_the_posts_they_share(wagtail_site: WagtailSite, sessions, tmp_path: Path):
    text = HEADER + source("api", wagtail_site.api_url) + source("rss", wagtail_site.rss_url) + source("atom", wagtail_site.atom_url)
    write_and_sync(sessions, tmp_path, text)
    for url in (wagtail_site.api_url, wagtail_site.rss_url, wagtail_site.atom_url):
        assert poll(sessions, url).result == "ok"
    api = live_entries(sessions, wagtail_site.api_url)
    api_tags = tags_by_url(sessions, wagtail_site.api_url)
    media = f"{wagtail_site.base_url}/media/"
    for url in (wagtail_site.rss_url, wagtail_site.atom_url):
        syndicated = live_entries(sessions, url)
        shared = api.keys() & syndicated.keys()
        blog_posts = [p for p in wagtail_site.posts() if p.specific_class.__name__ == "BlogPage"]
        assert len(shared) >= min(len(syndicated), len(blog_posts)) - 1 >= 20
        feed_tags = tags_by_url(sessions, url)
        for link in shared:
            ours, theirs = api[link], syndicated[link]
            assert ours.title == theirs.title
            assert ours.published_at.replace(microsecond=0) == theirs.published_at.replace(microsecond=0)
            assert ours.author_name == theirs.author_name
            assert api_tags.get(link) == feed_tags.get(link)
            assert words(ours.content_html) == words(theirs.content_html), link
            for body in (ours.content_html, theirs.content_html):
                for src in re.findall(r'<img[^>]* src="([^"]+)"', body):
                    assert src.startswith(media), src


def test_posts_published_edited_renamed_and_unpublished_show_as_the_site_does(
    wagtail_site: WagtailSite, sessions_on_both, tmp_path: Path
):
    sessions = sessions_on_both
    text = HEADER + source("api", wagtail_site.api_url) + source("rss", wagtail_site.rss_url)
    write_and_sync(sessions, tmp_path, text)
    poll(sessions, wagtail_site.api_url)
    poll(sessions, wagtail_site.rss_url)

    title = f"What the body keeps, {uuid.uuid4().hex[:6]}"  # the site outlives this test: run twice, two posts
    post = wagtail_site.publish(
        title, "<p>Some weeks the body remembers before the mind does.</p>",
        tags=("trauma",), author="Ana Ruiz",
    )  # fmt: skip
    outcome = poll(sessions, wagtail_site.api_url)
    assert (outcome.new, outcome.updated) == (1, 0)
    assert outcome.requests <= 3  # the listing, its second page if the first was all new, the post
    entry = live_entries(sessions, wagtail_site.api_url)[post.full_url]
    assert entry.title == title and entry.author_name == "Ana Ruiz"

    wagtail_site.edit(post.id, body="<p>Some weeks the body remembers first. Then we listen.</p>")
    outcome = poll(sessions, wagtail_site.api_url)
    assert (outcome.new, outcome.updated) == (0, 1)
    assert outcome.requests == 2  # the recently published page of the listing, and the edited post
    edited = live_entries(sessions, wagtail_site.api_url)[post.full_url]
    assert edited.id == entry.id and "Then we listen." in edited.content_html

    assert poll(sessions, wagtail_site.rss_url).new == 1
    old_url, new_url = wagtail_site.rename(post.id, f"what-the-body-remembers-{post.id}")
    assert httpx.get(old_url).status_code == 301
    api_before = len(live_entries(sessions, wagtail_site.api_url))
    rss_before = len(live_entries(sessions, wagtail_site.rss_url))
    assert poll(sessions, wagtail_site.api_url).new == 0
    assert poll(sessions, wagtail_site.rss_url).new == 0
    for url, before in ((wagtail_site.api_url, api_before), (wagtail_site.rss_url, rss_before)):
        now = live_entries(sessions, url)
        assert len(now) == before and new_url in now and old_url not in now

    wagtail_site.unpublish(post.id)
    outcome = poll(sessions, wagtail_site.api_url)
    assert outcome.withdrawn == 1
    assert new_url not in live_entries(sessions, wagtail_site.api_url)
    assert len(live_entries(sessions, wagtail_site.api_url)) == api_total(wagtail_site.api_url)
    app = create_app(engine=sessions.kw["bind"])
    with app.test_client() as client:
        assert client.get(f"/entry/{entry.id}").status_code == 410
        assert title not in client.get("/author/api").get_data(as_text=True)

    wagtail_site.republish(post.id)
    assert poll(sessions, wagtail_site.api_url).result == "ok"
    assert new_url in live_entries(sessions, wagtail_site.api_url)


def test_an_api_error_mid_way_withdraws_nothing(wagtail_site: WagtailSite, sessions, tmp_path: Path):
    write_and_sync(sessions, tmp_path, HEADER + source("api", wagtail_site.api_url))
    poll(sessions, wagtail_site.api_url)
    post = wagtail_site.publish("A short note on rest", "<p>Rest is not a reward.</p>", tags=("self-compassion",))
    poll(sessions, wagtail_site.api_url)
    before = live_entries(sessions, wagtail_site.api_url)
    wagtail_site.unpublish(post.id)
    try:
        with wagtail_site.break_api(after_offset=20):
            broken = poll(sessions, wagtail_site.api_url)
        assert broken.withdrawn == 0
        assert any("broke off" in warning for warning in broken.warnings)
        assert live_entries(sessions, wagtail_site.api_url).keys() == before.keys()
        mended = poll(sessions, wagtail_site.api_url)
        assert mended.withdrawn == 1
        assert post.full_url not in live_entries(sessions, wagtail_site.api_url)
    finally:
        wagtail_site.republish(post.id)


def test_stored_rich_text_never_reaches_a_page(wagtail_site: WagtailSite, sessions, tmp_path: Path):
    write_and_sync(sessions, tmp_path, HEADER + source("api", wagtail_site.api_url))
    outcome = poll(sessions, wagtail_site.api_url)
    assert not [w for w in outcome.warnings if "could not be looked up" in w]
    entries = live_entries(sessions, wagtail_site.api_url)
    bodies = [entry.content_html for entry in entries.values()]
    assert any("<img" in body for body in bodies)
    assert any(f'href="{wagtail_site.base_url}/blog/' in body for body in bodies)  # links between posts
    assert any("/documents/" in body for body in bodies)
    assert any("youtube-nocookie.com/embed/" in body for body in bodies)
    app = create_app(engine=sessions.kw["bind"])
    with app.test_client() as client:
        for entry in entries.values():
            page = client.get(f"/entry/{entry.id}").get_data(as_text=True)
            assert "linktype" not in page and "embedtype" not in page
            for src in re.findall(r'<img[^>]* src="([^"]+)"', entry.content_html):
                assert src.startswith(f"{wagtail_site.base_url}/media/")


def test_a_streamfield_body_renders_block_by_block(wagtail_site: WagtailSite, sessions, tmp_path: Path):
    write_and_sync(sessions, tmp_path, HEADER + source("articles", wagtail_site.article_api_url))
    outcome = poll(sessions, wagtail_site.article_api_url)
    assert outcome.result == "ok" and outcome.new >= 2
    assert any("callout" in warning for warning in outcome.warnings)
    bodies = [entry.content_html for entry in live_entries(sessions, wagtail_site.article_api_url).values()]
    article = next(body for body in bodies if "<blockquote>" in body)
    assert "<h2>" in article and "<img" in article and ("<iframe" in article or "<a href" in article)
    assert "embedtype" not in article and "linktype" not in article


def test_status_shows_a_wagtail_source_with_its_requests_and_posts(wagtail_site: WagtailSite, sessions, tmp_path: Path):
    write_and_sync(sessions, tmp_path, HEADER + source("api", wagtail_site.api_url))
    outcome = poll(sessions, wagtail_site.api_url)
    app = create_app(engine=sessions.kw["bind"])
    with app.test_client() as client:
        page = client.get("/status").get_data(as_text=True)
    total = api_total(wagtail_site.api_url)
    assert f"Wagtail pages API · {total} posts listed · {outcome.requests} requests at the last poll" in page


def test_a_feed_post_renamed_and_retitled_is_followed_through_its_redirect(
    wagtail_site: WagtailSite, sessions, tmp_path: Path
):
    write_and_sync(sessions, tmp_path, HEADER + source("rss", wagtail_site.rss_url))
    poll(sessions, wagtail_site.rss_url)
    post = wagtail_site.publish("Small steps", "<p>Change is mostly small steps, repeated.</p>", tags=("anxiety",))
    assert poll(sessions, wagtail_site.rss_url).new == 1
    stored = live_entries(sessions, wagtail_site.rss_url)[post.full_url]
    # Neither the link (the feed's guid) nor the title stays: only the redirect tells it is the same post.
    old_url, new_url = wagtail_site.rename(post.id, f"small-steps-repeated-{post.id}")
    wagtail_site.edit(post.id, title="Small steps, repeated")
    outcome = poll(sessions, wagtail_site.rss_url)
    assert (outcome.new, outcome.updated) == (0, 1)
    assert outcome.requests == 2  # the feed, and the old address that redirects
    entries = live_entries(sessions, wagtail_site.rss_url)
    assert old_url not in entries and entries[new_url].id == stored.id
    assert entries[new_url].title == "Small steps, repeated"


def test_check_online_lists_the_fields_a_wagtail_source_offers_and_what_the_map_finds(
    wagtail_site: WagtailSite, run_aggregator, tmp_path: Path
):
    fields = "        fields: {content: body, image: header_image, summary: teaser}\n"
    (tmp_path / "feeds.yaml").write_text(HEADER + source("api", wagtail_site.api_url, fields), encoding="utf-8")
    result = run_aggregator("check", "--online", wagtail_site.api_url, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    offered = next(line for line in result.stdout.splitlines() if "a page offers:" in line)
    for name in ("body", "intro", "tags", "author", "header_image", "last_published_at", "meta.first_published_at"):
        assert name in offered
    assert re.search(r"content\s+body\s+found in body", result.stdout)
    assert re.search(r"image\s+header_image\s+found in header_image", result.stdout)
    assert re.search(r"summary\s+teaser\s+not found", result.stdout)
    assert "'summary' is mapped to 'teaser', which the API does not offer" in result.stdout

    (tmp_path / "feeds.yaml").write_text(HEADER + source("api", wagtail_site.api_url), encoding="utf-8")
    fine = run_aggregator("check", "--online", "api", check=False)
    assert fine.returncode == 0, fine.stdout
    assert re.search(r"content\s+\(usual names\)\s+found in body", fine.stdout)
    assert "last_published_at is not offered" not in fine.stdout


def test_the_first_read_takes_the_newest_posts_up_to_the_cap(wagtail_site: WagtailSite, sessions, tmp_path: Path):
    write_and_sync(sessions, tmp_path, HEADER + source("api", wagtail_site.api_url, "        max_posts: 5\n"))
    outcome = poll(sessions, wagtail_site.api_url)
    assert outcome.new == 5
    assert any("took the newest 5 (max_posts)" in warning for warning in outcome.warnings)
    newest = httpx.get(wagtail_site.api_url + "&order=-first_published_at&limit=5").json()["items"]
    assert set(live_entries(sessions, wagtail_site.api_url)) == {item["meta"]["html_url"] for item in newest}


def test_a_listing_without_a_page_type_is_read_with_what_it_offers_and_says_what_is_missing(
    wagtail_site: WagtailSite, sessions, tmp_path: Path
):
    # Without ?type=, the API offers only what every page has: no body, no last_published_at.
    url = f"{wagtail_site.base_url}/api/v2/pages/?slug={wagtail_site.posts()[-1].slug}"
    write_and_sync(sessions, tmp_path, HEADER + source("untyped", url))
    first = poll(sessions, url)
    assert first.result == "ok" and first.new == 1
    again = poll(sessions, url)
    assert again.result == "ok" and again.new == again.updated == 0
    assert any("last_published_at" in warning for warning in again.warnings)


def test_poll_and_status_commands_show_what_a_wagtail_source_cost(wagtail_site: WagtailSite, run_aggregator, tmp_path: Path):
    (tmp_path / "feeds.yaml").write_text(HEADER + source("api", wagtail_site.api_url), encoding="utf-8")
    polled = run_aggregator("poll", "--all")
    line = next(line for line in polled.stdout.splitlines() if line.startswith("ok "))
    assert re.search(r"\(\d+ new, 0 updated, \d+ requests\)", line), line
    assert re.search(r"\d+ HTTP requests\.", polled.stdout)
    status = run_aggregator("status")
    total = api_total(wagtail_site.api_url)
    assert re.search(rf"\b{total} \(site lists {total}; \d+ requests\)", status.stdout), status.stdout


def test_opml_offers_readers_the_wagtail_site_s_own_feed_once(wagtail_site: WagtailSite, sessions, tmp_path: Path):
    text = HEADER + source("api", wagtail_site.api_url)
    write_and_sync(sessions, tmp_path, text)
    poll(sessions, wagtail_site.api_url)
    app = create_app(engine=sessions.kw["bind"])
    with app.test_client() as client:
        opml = client.get("/opml.xml").get_data(as_text=True)
    assert f'xmlUrl="{wagtail_site.rss_url}"' in opml and 'type="wagtail"' not in opml
    write_and_sync(sessions, tmp_path, text + "      - url: " + wagtail_site.rss_url + "\n")
    with app.test_client() as client:
        assert client.get("/opml.xml").get_data(as_text=True).count(f'xmlUrl="{wagtail_site.rss_url}"') == 1


def test_a_site_that_ignores_conditional_requests_costs_one_listing_page_when_unchanged(
    wagtail_site: WagtailSite, sessions, tmp_path: Path
):
    write_and_sync(sessions, tmp_path, HEADER + source("api", wagtail_site.api_url))
    with wagtail_site.without_validators():
        poll(sessions, wagtail_site.api_url)
        poll(sessions, wagtail_site.api_url)  # the first read of the recently published listing keeps its hash
        wagtail_site.reset_requests()
        again = poll(sessions, wagtail_site.api_url)
        assert again.result == "not-modified" and again.requests == 1  # the same bytes: no detail fetched
        assert len(wagtail_site.requests) == 1
        post = wagtail_site.publish("One more small step", "<p>And another.</p>", tags=("anxiety",))
        changed = poll(sessions, wagtail_site.api_url)
    assert changed.new == 1 and post.full_url in live_entries(sessions, wagtail_site.api_url)
