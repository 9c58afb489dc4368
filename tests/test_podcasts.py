"""Podcasts and attachments: enclosures read from every format, stored per entry,
played or offered for download on the pages, and re-published in our feeds."""

from __future__ import annotations

import json
import re

import feedparser
import pytest
from sqlalchemy import delete, select

from aggregator.db import make_engine, transaction
from aggregator.models import Enclosure, Entry
from aggregator.parse import ParsedEnclosure, parse_feed
from aggregator.reading import EnclosureView
from aggregator.web import create_app
from tests.helpers import entries_by_title, feeds_yaml, migrate_to, poll_all, write_and_sync

EPISODE_12 = "Episode 12: When the holidays are hard"
EPISODE_11 = "Episode 11: A breathing exercise for the car park"
EPISODE_10 = "Episode 10: What EMDR looks like, in a real room"
GROUNDING = "A grounding exercise, to listen to and to print"
HOSTILE = "Attachments that are not what they seem"


def _parsed(feed_dir, name: str):
    url = f"https://feeds.example/{name}"
    return {e.title: e for e in parse_feed((feed_dir / name).read_bytes(), url).entries}


# -- parsing -------------------------------------------------------------------


def test_a_podcast_feed_gives_each_episode_its_file_with_length_and_duration(feed_dir):
    entries = _parsed(feed_dir, "podcast-rss20.xml")
    assert entries[EPISODE_12].enclosures == (
        # Relative to the episode's page; itunes:duration "1:02:03" in seconds.
        ParsedEnclosure("https://podcast.example/audio/episode-12.mp3", "audio/mpeg", 24986239, 3723),
    )
    assert entries[EPISODE_11].enclosures == (
        ParsedEnclosure("https://cdn.podcast.example/audio/episode-11.m4a", "audio/x-m4a", 5021440, 754),
    )
    # Media RSS: fileSize and duration of its own.
    assert entries[EPISODE_10].enclosures == (
        ParsedEnclosure("https://cdn.podcast.example/video/episode-10.mp4", "video/mp4", 73400320, 1800),
    )


def test_an_atom_entry_keeps_both_of_its_enclosures_in_order(feed_dir):
    entry = _parsed(feed_dir, "enclosures-atom.xml")[GROUNDING]
    assert entry.enclosures == (
        ParsedEnclosure("https://counselling.example/media/grounding.mp3", "audio/mpeg", 3145728, None),
        ParsedEnclosure("https://counselling.example/notes/grounding/files/grounding-workbook.pdf", "application/pdf", 245760, None),
    )


def test_hostile_enclosures_are_refused_or_made_sane(feed_dir):
    entry = _parsed(feed_dir, "enclosures-atom.xml")[HOSTILE]
    # javascript: and data: are gone; a broken type is guessed from the name,
    # a negative or absurd length is unknown; a relative URL is made absolute.
    assert entry.enclosures == (
        ParsedEnclosure("https://counselling.example/media/odd.bin", "application/octet-stream", None, None),
        ParsedEnclosure("https://counselling.example/notes/hostile/media/calm.ogg", "audio/ogg", None, None),
    )


def test_json_feed_attachments_are_enclosures():
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Notes",
        "home_page_url": "https://notes.example/",
        "items": [{
            "id": "1", "url": "https://notes.example/1/", "content_text": "An audio note.",
            "attachments": [
                {"url": "audio/1.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 1234, "duration_in_seconds": 61.5},
                {"url": "audio/1.mp3", "mime_type": "audio/mpeg"},  # the same file again
                {"url": "javascript:alert(1)", "mime_type": "audio/mpeg"},
                {"url": 3.14, "mime_type": "audio/mpeg"},
                "not an object",
                {"url": "https://notes.example/v.webm", "mime_type": 7, "size_in_bytes": True, "duration_in_seconds": -3},
            ],
        }],
    }  # fmt: skip
    entry = parse_feed(json.dumps(document).encode(), "https://notes.example/feed.json").entries[0]
    assert entry.enclosures == (
        ParsedEnclosure("https://notes.example/1/audio/1.mp3", "audio/mpeg", 1234, 61),
        ParsedEnclosure("https://notes.example/v.webm", "video/webm", None, None),
    )


def test_an_entry_keeps_at_most_a_few_enclosures():
    links = "".join(f'<link rel="enclosure" type="audio/mpeg" href="https://a.example/{n}.mp3"/>' for n in range(50))
    body = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>urn:t</id><updated>2026-11-20T10:00:00Z</updated>'
        f"<entry><id>urn:e</id><title>Many</title><updated>2026-11-20T10:00:00Z</updated>{links}</entry></feed>"
    )
    entry = parse_feed(body.encode(), "https://a.example/feed").entries[0]
    assert [e.url for e in entry.enclosures] == [f"https://a.example/{n}.mp3" for n in range(4)]


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [("1:02:03", 3723), ("62:03", 3723), ("3723", 3723), ("754.8", 754), ("", None), ("abc", None), ("1:xx", None), ("-5", None)],
)
def test_itunes_durations_are_read_in_their_usual_shapes(duration, seconds):
    body = (
        '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>P</title>'
        '<item><title>E</title><guid>e</guid><enclosure url="https://p.example/e.mp3" length="10" type="audio/mpeg"/>'
        f"<itunes:duration>{duration}</itunes:duration></item></channel></rss>"
    )
    entry = parse_feed(body.encode(), "https://p.example/feed").entries[0]
    assert entry.enclosures[0].duration_seconds == seconds


@pytest.mark.parametrize(
    ("length", "size"), [(None, None), (900, "900 bytes"), (245760, "246 kB"), (3145728, "3.15 MB"), (1_500_000_000, "1.5 GB")]
)
def test_sizes_are_told_in_a_readers_words(length, size):
    assert EnclosureView("https://a.example/f.pdf", "application/pdf", length, None).size == size


# -- through real polls, the pages and our own feeds ---------------------------


@pytest.fixture
def site(database_url, sessions, tmp_path, feed_server):
    text = feeds_yaml({"maren": [feed_server.url("podcast-rss20.xml")], "samuel": [feed_server.url("enclosures-atom.xml")]})
    write_and_sync(sessions, tmp_path, text)
    assert {outcome.result for outcome in poll_all(sessions)} == {"ok"}
    engine = make_engine(database_url)
    yield create_app(engine=engine).test_client(), tmp_path
    engine.dispose()


def _stored(sessions) -> dict[str, list[tuple]]:
    entries = entries_by_title(sessions)
    with sessions() as session:
        rows = session.execute(
            select(Enclosure.entry_id, Enclosure.url, Enclosure.media_type, Enclosure.length, Enclosure.duration_seconds)
            .order_by(Enclosure.entry_id, Enclosure.position)
        ).all()
    titles = {entry.id: title for title, entry in entries.items()}
    stored: dict[str, list[tuple]] = {}
    for entry_id, *fields in rows:
        stored.setdefault(titles[entry_id], []).append(tuple(fields))
    return stored


def _page(client, sessions, title: str) -> str:
    entry_id = entries_by_title(sessions)[title].id
    response = client.get(f"/entry/{entry_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_enclosures_are_stored_with_their_entries(site, sessions):
    assert _stored(sessions) == {
        EPISODE_12: [("https://podcast.example/audio/episode-12.mp3", "audio/mpeg", 24986239, 3723)],
        EPISODE_11: [("https://cdn.podcast.example/audio/episode-11.m4a", "audio/x-m4a", 5021440, 754)],
        EPISODE_10: [("https://cdn.podcast.example/video/episode-10.mp4", "video/mp4", 73400320, 1800)],
        GROUNDING: [
            ("https://counselling.example/media/grounding.mp3", "audio/mpeg", 3145728, None),
            ("https://counselling.example/notes/grounding/files/grounding-workbook.pdf", "application/pdf", 245760, None),
        ],
        HOSTILE: [
            ("https://counselling.example/media/odd.bin", "application/octet-stream", None, None),
            ("https://counselling.example/notes/hostile/media/calm.ogg", "audio/ogg", None, None),
        ],
    }


def test_an_episode_page_plays_its_audio(site, sessions):
    client, _ = site
    html = _page(client, sessions, EPISODE_12)
    assert re.search(
        r'<audio controls preload="none" aria-label="Listen: Episode 12: When the holidays are hard">'
        r'<source src="https://podcast.example/audio/episode-12.mp3" type="audio/mpeg">',
        html,
    )
    assert "autoplay" not in html
    assert "(audio/mpeg, 25 MB, 1:02:03)" in html
    assert "Grief does not take a holiday" in html


def test_an_episode_without_text_still_plays(site, sessions):
    client, _ = site
    html = _page(client, sessions, EPISODE_11)
    assert '<audio controls preload="none" aria-label="Listen: Episode 11: A breathing exercise for the car park">' in html
    assert "This feed sends only the title" not in html and "min read" not in html  # nothing to read, only to hear


def test_a_video_episode_is_a_video_player(site, sessions):
    client, _ = site
    html = _page(client, sessions, EPISODE_10)
    assert '<video controls preload="none" aria-label="Watch: Episode 10: What EMDR looks like, in a real room">' in html
    assert '<source src="https://cdn.podcast.example/video/episode-10.mp4" type="video/mp4">' in html
    assert "(video/mp4, 73.4 MB, 30:00)" in html


def test_two_enclosures_give_a_player_and_a_download_link_with_type_and_size(site, sessions):
    client, _ = site
    html = _page(client, sessions, GROUNDING)
    assert html.count("<audio ") == 1 and "<video" not in html
    assert f'aria-label="Listen: {GROUNDING} (1 of 2)"' in html
    assert re.search(
        r'<a href="https://counselling.example/notes/grounding/files/grounding-workbook.pdf" rel="noopener noreferrer">'
        r"Download grounding-workbook.pdf</a>\s*<span class=\"enclosure__details\">\(application/pdf, 246 kB\)</span>",
        html,
    )


def test_hostile_enclosures_never_reach_the_page(site, sessions):
    client, _ = site
    html = _page(client, sessions, HOSTILE)
    assert "javascript:" not in html and "data:audio" not in html and "<script>" not in html
    assert '<source src="https://counselling.example/notes/hostile/media/calm.ogg" type="audio/ogg">' in html
    assert "Download odd.bin</a>" in html


def test_lists_say_which_posts_are_to_listen_to_or_watch(site):
    client, _ = site
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'<span class="meta__media meta__media--audio">Listen 1:02:03</span>', html)
    assert re.search(r'<span class="meta__media meta__media--video">Watch 30:00</span>', html)
    assert re.search(r"car park</a></h[23]>\s*<p class=\"meta\">(?:(?!min read).)*?Listen 12:34</span>", html, re.S)
    author = client.get("/author/samuel").get_data(as_text=True)
    assert author.count('meta__media--audio">Listen</span>') == 2  # the workbook's audio goes first
    found = client.get("/search?q=holidays").get_data(as_text=True)
    assert '<span class="meta__media meta__media--audio">Listen 1:02:03</span>' in found


def test_enclosures_are_republished_in_atom_rss_and_json_feed(site):
    client, _ = site
    atom = feedparser.parse(client.get("/feed.atom").data)
    rss = feedparser.parse(client.get("/feed.rss").data)
    assert not atom.bozo and not rss.bozo
    grounding = next(e for e in atom.entries if e.title == GROUNDING)
    assert [(e.href, e.type, e.length) for e in grounding.enclosures] == [
        ("https://counselling.example/media/grounding.mp3", "audio/mpeg", "3145728"),
        ("https://counselling.example/notes/grounding/files/grounding-workbook.pdf", "application/pdf", "245760"),
    ]
    # RSS allows one per item: the first.
    item = next(e for e in rss.entries if e.title == GROUNDING)
    assert [(e.href, e.type, e.length) for e in item.enclosures] == [
        ("https://counselling.example/media/grounding.mp3", "audio/mpeg", "3145728")
    ]
    episode = next(e for e in rss.entries if e.title == EPISODE_12)
    assert [(e.href, e.type, e.length) for e in episode.enclosures] == [
        ("https://podcast.example/audio/episode-12.mp3", "audio/mpeg", "24986239")
    ]
    document = json.loads(client.get("/feed.json").data)
    items = {item["title"]: item for item in document["items"]}
    assert items[EPISODE_12]["attachments"] == [{
        "url": "https://podcast.example/audio/episode-12.mp3", "mime_type": "audio/mpeg",
        "size_in_bytes": 24986239, "duration_in_seconds": 3723,
    }]  # fmt: skip
    assert len(items[GROUNDING]["attachments"]) == 2
    hostile = items[HOSTILE]["attachments"]
    assert hostile[0] == {"url": "https://counselling.example/media/odd.bin", "mime_type": "application/octet-stream"}


def test_our_feeds_read_back_into_the_same_enclosures(site):
    """What we publish, read by our own parser, is what we stored."""
    client, _ = site
    for path in ("/author/maren/feed.atom", "/author/maren/feed.json"):
        entries = {e.title: e for e in parse_feed(client.get(path).data, "http://127.0.0.1:5000" + path).entries}
        assert entries[EPISODE_12].enclosures[0] == ParsedEnclosure(
            "https://podcast.example/audio/episode-12.mp3", "audio/mpeg", 24986239, 3723 if path.endswith("json") else None
        )


def test_a_changed_enclosure_updates_the_entry(site, sessions, feed_dir):
    path = feed_dir / "podcast-rss20.xml"
    text = path.read_text(encoding="utf-8")
    # The episode was re-encoded (a new file and length), and another lost its file.
    text = text.replace('url="/audio/episode-12.mp3" length="24986239"', 'url="/audio/episode-12-v2.mp3" length="20000000"')
    text = re.sub(r'<enclosure url="https://cdn.podcast.example/audio/episode-11.m4a"[^>]*/>', "", text)
    path.write_text(text, encoding="utf-8")
    outcomes = poll_all(sessions)
    assert sum(outcome.updated for outcome in outcomes) == 2 and sum(outcome.new for outcome in outcomes) == 0
    stored = _stored(sessions)
    assert stored[EPISODE_12] == [("https://podcast.example/audio/episode-12-v2.mp3", "audio/mpeg", 20000000, 3723)]
    assert EPISODE_11 not in stored
    assert len(stored[GROUNDING]) == 2  # the other feed's entries untouched


def test_an_entry_deleted_takes_its_enclosures_with_it(site, sessions):
    with transaction(sessions) as session:
        session.execute(delete(Entry).where(Entry.title == GROUNDING))
    assert GROUNDING not in _stored(sessions) and EPISODE_12 in _stored(sessions)


def test_players_and_download_links_pass_axe_in_a_real_browser(sqlite_url, tmp_path, feed_server):
    """The episode pages and the list, narrow and wide: no axe violations, nothing scrolls sideways."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    from aggregator.db import session_factory
    from tests.browser import CHROMIUM, CHROMIUM_ARGS, served
    from tests.conftest import require_chromium

    require_chromium()
    engine = make_engine(sqlite_url, writer=True)
    sessions = session_factory(engine)
    text = feeds_yaml({"maren": [feed_server.url("podcast-rss20.xml")], "samuel": [feed_server.url("enclosures-atom.xml")]})
    write_and_sync(sessions, tmp_path, text)
    poll_all(sessions)
    ids = {title: entry.id for title, entry in entries_by_title(sessions).items()}
    engine.dispose()
    paths = ["/", *(f"/entry/{ids[title]}" for title in (EPISODE_12, EPISODE_11, EPISODE_10, GROUNDING, HOSTILE))]
    failures: dict[str, list[str]] = {}
    with served(create_app(sqlite_url)) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for width, height in ((375, 812), (1280, 900)):
                page = browser.new_context(viewport={"width": width, "height": height}).new_page()
                for path in paths:
                    page.goto(base + path, wait_until="load")
                    problems = [f"axe {v['id']}: {v['help']}" for v in Axe().run(page).response["violations"]]
                    if page.evaluate("() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth") > 0:
                        problems.append("scrolls sideways")
                    if problems:
                        failures[f"{path} at {width}px"] = problems
                page.context.close()
        finally:
            browser.close()
    assert failures == {}


def test_episodes_stored_before_enclosures_get_their_files_at_the_next_poll(sqlite_url, tmp_path, feed_server):
    """The migration has every feed read in full once: a 304 or the same bytes would leave old episodes without files."""
    from sqlalchemy import text as sql

    from aggregator.db import migrate, session_factory
    engine = make_engine(sqlite_url, writer=True)
    sessions = session_factory(engine)
    try:
        write_and_sync(sessions, tmp_path, feeds_yaml({"maren": [feed_server.url("podcast-rss20.xml")]}))
        poll_all(sessions)
        migrate_to(engine, "0009", down=True)  # as if stored before this release,
        with engine.begin() as connection:
            connection.execute(sql("UPDATE entries SET content_hash = 'hashed without enclosures'"))
        migrate(engine)
        with engine.connect() as connection:
            assert connection.execute(sql("SELECT count(*) FROM enclosures")).scalar() == 0
        [outcome] = poll_all(sessions)
        assert (outcome.result, outcome.new, outcome.updated) == ("ok", 0, 3)
        assert len(_stored(sessions)) == 3
    finally:
        engine.dispose()
