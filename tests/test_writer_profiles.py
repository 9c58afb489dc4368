"""Writers as people: their profile from feeds.yaml on /author/<slug> and /authors
(filtered by modality), and one writer's several feeds under one page, each post shown once."""

from __future__ import annotations

import json
import re
from datetime import date
from html import unescape

import feedparser
import pytest
from sqlalchemy import func, select

from aggregator.config import Wishes, load_config
from aggregator.db import make_engine
from aggregator.models import Author, Entry
from aggregator.search import search
from aggregator.web import create_app
from tests.helpers import poll_all, write_and_sync

THERAPIST = "therapist-rss20.xml"
COUNSELLOR = "counsellor-atom10.xml"


def writers_yaml(urls: dict[str, str], jane_extra: str = "") -> str:
    """Jane with a full profile and three feeds (a blog, and a newsletter that carries the same posts,
    and a podcast-like second copy); Sam with a short one."""
    return f"""site:
  title: Test Reading Room
authors:
  - slug: jane-doe
    name: Jane Doe
    pronouns: she/her
    credentials: [LMFT, PhD]
    modalities: [EMDR, Attachment-focused]
    populations: [adolescents, couples]
    location: Oregon, USA
    bio: Writes about attachment.
    homepage: https://jane.example/
    links:
      Newsletter: https://letters.jane.example/
{jane_extra}    feeds:
      - url: {urls['blog']}
      - url: {urls['newsletter']}
  - slug: sam
    name: Sam Okafor
    credentials: [MSW]
    modalities: [CBT, emdr]
    feeds:
      - url: {urls['sam']}
"""


@pytest.fixture
def writers(database_url, sessions, tmp_path, feed_server):
    """Jane's blog and newsletter (the same posts under one link each), polled; yields a test client."""
    newsletter = (feed_server.root / THERAPIST).read_text(encoding="utf-8").replace(
        "<title>Dr. Maren Holloway, LMFT</title>", "<title>Jane's letters</title>", 1
    )
    (feed_server.root / "newsletter.xml").write_text(newsletter, encoding="utf-8")
    urls = {"blog": feed_server.url(THERAPIST), "newsletter": feed_server.url("newsletter.xml"), "sam": feed_server.url(COUNSELLOR)}
    write_and_sync(sessions, tmp_path, writers_yaml(urls))
    assert all(outcome.result == "ok" for outcome in poll_all(sessions))
    engine = make_engine(database_url)
    yield create_app(engine=engine, TESTING=True).test_client()
    engine.dispose()


def card_titles(html: str) -> list[str]:
    return [unescape(t) for t in re.findall(r'class="card__title"><a href="/entry/\d+">([^<]+)</a>', html)]


def test_a_profile_is_read_from_feeds_yaml(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text(
        writers_yaml(
            {"blog": "https://jane.example/feed/", "newsletter": "https://letters.jane.example/feed/", "sam": "https://sam.example/feed/"},
            jane_extra="    display: excerpt\n    since: 2024-01-01\n    noindex: true\n    license: \"© Jane Doe\"\n"
            "    hide: [https://jane.example/blog/withdrawn/]\n",
        ),
        encoding="utf-8",
    )
    jane, sam = load_config(path).authors
    assert (jane.pronouns, jane.credentials, jane.location) == ("she/her", ("LMFT", "PhD"), "Oregon, USA")
    assert (jane.modalities, jane.populations) == (("EMDR", "Attachment-focused"), ("adolescents", "couples"))
    assert jane.wishes == Wishes(display="excerpt", since=date(2024, 1, 1), noindex=True, license="© Jane Doe")
    assert jane.hide == ("https://jane.example/blog/withdrawn/",)
    assert sam.wishes == Wishes() and sam.pronouns is None and sam.credentials == ("MSW",)


def test_the_author_page_shows_the_whole_profile(writers):
    page = unescape(writers.get("/author/jane-doe").get_data(as_text=True))
    assert "she/her · LMFT, PhD · Oregon, USA" in page
    assert "Writes about attachment." in page
    assert 'href="/authors?modality=emdr"' in page and ">EMDR</a>" in page
    assert 'href="/authors?modality=attachment-focused"' in page
    assert "Writes about working with adolescents, couples" in page
    assert 'href="https://jane.example/"' in page and 'href="https://letters.jane.example/"' in page


def test_authors_list_a_compact_line_each_and_filter_by_modality(writers):
    everyone = unescape(writers.get("/authors").get_data(as_text=True))
    assert "she/her · LMFT, PhD · Oregon, USA" in everyone and ">MSW</p>" in everyone
    # Every modality is offered as a filter link, whatever its spelling in feeds.yaml.
    assert set(re.findall(r'href="/authors\?modality=([a-z-]+)"', everyone)) == {"emdr", "attachment-focused", "cbt"}
    emdr = writers.get("/authors?modality=emdr").get_data(as_text=True)
    assert "Jane Doe" in emdr and "Sam Okafor" in emdr and "<h1>Writers: EMDR</h1>" in emdr
    cbt = writers.get("/authors?modality=CBT").get_data(as_text=True)
    assert "Sam Okafor" in cbt and "/author/jane-doe" not in cbt
    nobody = writers.get("/authors?modality=somatic-experiencing")
    assert nobody.status_code == 200 and "No writer lists" in nobody.get_data(as_text=True)


def test_a_post_in_two_of_a_writers_feeds_is_shown_once(writers, sessions):
    with sessions() as session:
        stored = session.scalar(select(func.count(Entry.id)).join(Author).where(Author.slug == "jane-doe"))
    assert stored == 10  # five posts, each in the blog and the newsletter
    author_page = card_titles(writers.get("/author/jane-doe").get_data(as_text=True))
    front = card_titles(writers.get("/").get_data(as_text=True))
    assert len(author_page) == len(set(author_page)) == 5
    assert len(front) == len(set(front)) == 9  # and Sam's four
    for kind in ("atom", "rss"):
        links = [item.link for item in feedparser.parse(writers.get(f"/author/jane-doe/feed.{kind}").data).entries]
        assert len(links) == len(set(links)) == 5, kind
    items = json.loads(writers.get("/feed.json").data)["items"]
    assert len({item["url"] for item in items}) == len(items) == 9
    assert "5 posts" in writers.get("/authors").get_data(as_text=True)
    with sessions() as session:
        hits = [hit.entry.url for hit in search(session, "oxytocin")]
    assert len(hits) == len(set(hits)) == 2  # two posts name it, each stored twice
    assert len(card_titles(writers.get("/search?q=oxytocin").get_data(as_text=True))) == 2
    assert 'Attachment</a> <span class="count">2 posts</span>' in writers.get("/tags").get_data(as_text=True)


def test_the_copy_not_shown_sends_its_reader_to_the_one_shown(writers, sessions):
    with sessions() as session:
        first, second = session.scalars(
            select(Entry.id).where(Entry.url == "https://demo.invalid/maren/blog/giving-thanks/").order_by(Entry.id)
        ).all()
    assert writers.get(f"/entry/{first}").status_code == 200
    moved = writers.get(f"/entry/{second}")
    assert moved.status_code == 301 and moved.headers["Location"].endswith(f"/entry/{first}")


def test_one_copy_leaving_shows_the_other(writers, sessions, tmp_path, feed_server):
    """The blog is taken out of feeds.yaml: the newsletter's copies take its place."""
    urls = {"blog": feed_server.url(THERAPIST), "newsletter": feed_server.url("newsletter.xml"), "sam": feed_server.url(COUNSELLOR)}
    write_and_sync(sessions, tmp_path, writers_yaml(urls).replace(f"      - url: {urls['blog']}\n", ""))
    titles = card_titles(writers.get("/author/jane-doe").get_data(as_text=True))
    assert len(titles) == len(set(titles)) == 5
