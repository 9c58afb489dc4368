"""Each writer's wishes, from feeds.yaml to every page and output feed.

display (full, excerpt, title), since, noindex and license, on a writer or
on one of their feeds (whose own value wins), and hide: posts taken down at
the next sync that no later poll brings back. Real feeds from the fixture
server, real databases (SQLite and PostgreSQL), pages through Flask's client.
"""

from __future__ import annotations

import json
import re
from html import unescape

import feedparser
import pytest
from sqlalchemy import select

from aggregator.db import make_engine
from aggregator.models import Author, Entry
from aggregator.search import search
from aggregator.web import create_app
from tests.helpers import poll_all, write_and_sync

THERAPIST = "therapist-rss20.xml"
COUNSELLOR = "counsellor-atom10.xml"
THANKS = "https://demo.invalid/maren/blog/giving-thanks/"
THANKS_TITLE = "Giving Thanks: Peace, Food, Gratitude"
DEEP_IN_THE_POST = "Thorpe’s story is one of extraordinary gifts"  # past the excerpt
OXYTOCIN = "https://demo.invalid/maren/blog/life-love-and-healing-oxytocin/"  # 1 October 2026
LICENSE = "© Maren Holloway, shared with permission"


class Site:
    """Two writers in a feeds.yaml that a test rewrites with wishes, and the site that shows them."""

    def __init__(self, sessions, tmp_path, feed_server, database_url):
        self.sessions, self.tmp_path, self.feed_server = sessions, tmp_path, feed_server
        self.engine = make_engine(database_url)
        self.client = create_app(engine=self.engine, TESTING=True).test_client()

    def configure(self, maren: str = "", feed: str = "") -> list[str]:
        """Sync feeds.yaml with `maren` (indented key lines) on the writer and `feed` on her feed; return the report's lines."""
        text = f"""site:
  title: Test Reading Room
  base_url: http://127.0.0.1:5000
authors:
  - slug: maren
    name: Maren Holloway
{maren}    feeds:
      - url: {self.feed_server.url(THERAPIST)}
{feed}  - slug: samuel
    name: Samuel Okafor
    feeds:
      - url: {self.feed_server.url(COUNSELLOR)}
"""
        _, report = write_and_sync(self.sessions, self.tmp_path, text)
        return report.lines()

    def poll(self) -> None:
        outcomes = poll_all(self.sessions)
        assert all(outcome.result in ("ok", "not-modified") for outcome in outcomes), outcomes

    def page(self, path: str) -> str:
        response = self.client.get(path)
        assert response.status_code == 200, path
        return unescape(response.get_data(as_text=True))

    def entry_id(self, url: str) -> int:
        with self.sessions() as session:
            return session.scalar(select(Entry.id).where(Entry.url == url))

    def add_post(self, slug: str, title: str, date: str) -> str:
        """A new post at the top of Maren's feed; returns its link."""
        path = self.feed_server.root / THERAPIST
        link = f"https://demo.invalid/maren/blog/{slug}/"
        item = (
            f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid><pubDate>{date}</pubDate>"
            f"<description>{title}: a new post.</description></item>"
        )
        path.write_text(path.read_text(encoding="utf-8").replace("<item>", item + "<item>", 1), encoding="utf-8")
        return link


@pytest.fixture
def site(database_url, sessions, tmp_path, feed_server):
    site = Site(sessions, tmp_path, feed_server, database_url)
    site.configure()
    site.poll()
    yield site
    site.engine.dispose()


def output_feeds(site: Site, path: str = "/author/maren/") -> dict[str, dict]:
    """{kind: {link: (summary, content)}} of the author's three output feeds."""
    found: dict[str, dict] = {}
    for kind in ("atom", "rss"):
        parsed = feedparser.parse(site.client.get(f"{path}feed.{kind}").data)
        found[kind] = {item.link: (item.get("summary", ""), item.content[0].value if "content" in item else "") for item in parsed.entries}
    items = json.loads(site.client.get(f"{path}feed.json").data)["items"]
    found["json"] = {item["url"]: (item.get("summary", ""), item.get("content_html", "")) for item in items}
    return found


def card_excerpts(html: str) -> list[str]:
    return re.findall(r'<p class="card__excerpt">([^<]*)</p>', html)


def test_full_text_by_default_with_the_original_as_canonical(site):
    page = site.page(f"/entry/{site.entry_id(THANKS)}")
    assert DEEP_IN_THE_POST in page
    assert f'<link rel="canonical" href="{THANKS}">' in page
    assert 'name="robots"' not in page
    for kind, items in output_feeds(site).items():
        assert DEEP_IN_THE_POST in items[THANKS][1], kind


def test_excerpt_shows_the_beginning_and_links_out_everywhere(site):
    assert "changed author maren (display)" in site.configure(maren="    display: excerpt\n")
    page = site.page(f"/entry/{site.entry_id(THANKS)}")
    assert DEEP_IN_THE_POST not in page
    assert "I’m still working through the hefty tome" in page
    assert "Maren Holloway shares an excerpt of this post here." in page and f'href="{THANKS}"' in page
    assert f'<link rel="canonical" href="{THANKS}">' in page
    assert "I’m still working through" in site.page("/author/maren")
    for kind, items in output_feeds(site).items():
        summary, content = items[THANKS]
        assert DEEP_IN_THE_POST not in summary + content, kind
        assert "I’m still working through" in summary + content, kind
        assert f"Read “{THANKS_TITLE}” on" in content and THANKS in content, kind


def test_title_only_shows_no_words_of_the_post(site):
    site.configure(maren="    display: title\n")
    page = site.page(f"/entry/{site.entry_id(THANKS)}")
    assert THANKS_TITLE in page and "I’m still working through" not in page
    assert "shares only the title of this post here" in page
    author_page = site.page("/author/maren")
    assert THANKS_TITLE in author_page and card_excerpts(author_page) == []
    assert "I’m still working through" not in site.page("/")
    search_page = site.page("/search?q=thorpe")
    assert THANKS_TITLE in search_page and "<mark>" not in search_page
    for kind, items in output_feeds(site).items():
        summary, content = items[THANKS]
        assert "I’m still working through" not in summary + content, kind
        assert f"Read “{THANKS_TITLE}” on" in content, kind
    # The other writer keeps their full text.
    assert all(content for _, content in output_feeds(site, "/author/samuel/")["atom"].values())


def test_a_changed_display_applies_to_stored_posts_at_the_next_render(site):
    site.configure(maren="    display: title\n")
    assert DEEP_IN_THE_POST not in output_feeds(site, "/")["atom"][THANKS][1]
    site.configure(maren="    display: full\n")  # no poll in between
    assert DEEP_IN_THE_POST in output_feeds(site, "/")["atom"][THANKS][1]
    assert DEEP_IN_THE_POST in site.page(f"/entry/{site.entry_id(THANKS)}")


def test_a_feeds_own_wish_wins_over_its_writers(site):
    lines = site.configure(maren="    display: title\n    noindex: true\n", feed="        display: full\n        noindex: false\n")
    assert lines == ["changed author maren (display, noindex)"]  # her feed's wishes in force did not change
    page = site.page(f"/entry/{site.entry_id(THANKS)}")
    assert DEEP_IN_THE_POST in page and 'name="robots"' not in page
    assert '<meta name="robots" content="noindex">' in site.page("/author/maren")  # her own wish, for her page


def test_since_hides_older_posts_stored_or_polled_later(site):
    older = site.entry_id(OXYTOCIN)
    site.configure(maren="    since: 2026-10-20\n")
    titles = site.page("/author/maren")
    assert THANKS_TITLE in titles and "Oxytocin" not in titles and "Body Keeps Score" not in titles
    assert "Oxytocin" not in site.page("/") and "Oxytocin" not in site.page("/search?q=oxytocin")
    for kind, items in output_feeds(site).items():
        assert OXYTOCIN not in items and THANKS in items, kind
    gone = site.client.get(f"/entry/{older}")
    assert gone.status_code == 410 and "shares only their newer posts" in gone.get_data(as_text=True)
    # A poll later brings an old post (written before the writer agreed) and a new one.
    old_link = site.add_post("an-old-letter", "An Old Letter", "Tue, 01 Sep 2026 10:00:00 +0000")
    new_link = site.add_post("a-new-letter", "A New Letter", "Fri, 27 Nov 2026 10:00:00 +0000")
    site.poll()
    assert site.entry_id(old_link) and site.entry_id(new_link)
    page = site.page("/author/maren")
    assert "A New Letter" in page and "An Old Letter" not in page
    assert old_link not in output_feeds(site, "/")["rss"]
    site.configure()  # the wish withdrawn: every stored post is shown again
    assert "Oxytocin" in site.page("/author/maren") and "An Old Letter" in site.page("/author/maren")


def test_noindex_marks_the_writers_page_and_posts_only(site):
    site.configure(maren="    noindex: true\n")
    robots = '<meta name="robots" content="noindex">'
    assert robots in site.page("/author/maren")
    assert robots in site.page(f"/entry/{site.entry_id(THANKS)}")
    assert robots not in site.page("/author/samuel") and robots not in site.page("/")
    with site.sessions() as session:
        samuels = session.scalar(select(Entry.id).join(Author, Entry.author_id == Author.id).where(Author.slug == "samuel").limit(1))
    assert robots not in site.page(f"/entry/{samuels}")


def test_a_feeds_noindex_marks_its_posts_and_its_writers_page(site):
    site.configure(feed="        noindex: true\n")
    robots = '<meta name="robots" content="noindex">'
    assert robots in site.page(f"/entry/{site.entry_id(THANKS)}")
    assert robots in site.page("/author/maren")


def test_the_license_is_shown_on_posts_and_in_output_feeds(site):
    site.configure(maren=f'    license: "{LICENSE}"\n')
    assert LICENSE in site.page(f"/entry/{site.entry_id(THANKS)}")
    atom = feedparser.parse(site.client.get("/author/maren/feed.atom").data)
    assert all(item.rights == LICENSE for item in atom.entries)
    assert all(LICENSE in item.content[0].value for item in atom.entries)
    rss = site.client.get("/author/maren/feed.rss").get_data(as_text=True)
    assert rss.count(f"<dc:rights>{LICENSE}</dc:rights>") == 5
    items = json.loads(site.client.get("/author/maren/feed.json").data)["items"]
    assert all(LICENSE in item["content_html"] for item in items)
    # Only her posts carry it.
    assert LICENSE not in site.client.get("/author/samuel/feed.atom").get_data(as_text=True)


def test_a_hidden_post_leaves_every_page_and_feed_at_the_next_sync(site):
    post = site.entry_id(THANKS)
    word = "thorpe"
    with site.sessions() as session:
        assert post in [hit.entry.id for hit in search(session, word)]
    lines = site.configure(maren=f"    hide: [{THANKS}]\n")
    assert "changed author maren (hide, 1 post taken down)" in lines
    for path in ("/", "/author/maren", "/tag/gratitude", f"/search?q={word}", "/feed.atom", "/feed.rss", "/feed.json",
                 "/author/maren/feed.atom", "/tag/attachment/feed.rss"):  # fmt: skip
        response = site.client.get(path)
        assert THANKS_TITLE not in unescape(response.get_data(as_text=True)), path
    gone = site.client.get(f"/entry/{post}")
    assert gone.status_code == 410 and "taken down" in gone.get_data(as_text=True)
    assert THANKS not in gone.get_data(as_text=True)  # not even its link
    assert 'Gratitude</a> <span class="count">' not in site.page("/tags")


def test_a_hidden_post_is_not_brought_back_by_later_polls(site):
    site.configure(maren=f"    hide: [{THANKS.rstrip('/')}]\n")  # as copied from a browser, without the slash
    # The writer edits the post and publishes another: both polls read it again.
    path = site.feed_server.root / THERAPIST
    path.write_text(path.read_text(encoding="utf-8").replace("hefty tome", "heavy tome"), encoding="utf-8")
    site.add_post("after-thanks", "After Thanks", "Fri, 27 Nov 2026 10:00:00 +0000")
    site.poll()
    page = site.page("/author/maren")
    assert "After Thanks" in page and THANKS_TITLE not in page
    assert site.client.get(f"/entry/{site.entry_id(THANKS)}").status_code == 410


def test_a_post_hidden_before_its_first_poll_is_never_shown(database_url, sessions, tmp_path, feed_server):
    site = Site(sessions, tmp_path, feed_server, database_url)
    try:
        site.configure(maren=f"    hide: [{THANKS}]\n")
        site.poll()
        assert site.entry_id(THANKS) is not None  # stored, kept down
        assert THANKS_TITLE not in site.page("/") and THANKS_TITLE not in site.page("/feed.atom")
    finally:
        site.engine.dispose()


def test_taking_a_link_out_of_hide_brings_the_post_back(site):
    site.configure(maren=f"    hide: [{THANKS}]\n")
    assert "changed author maren (hide, 1 post shown again)" in site.configure()
    assert THANKS_TITLE in site.page("/author/maren")
    assert site.client.get(f"/entry/{site.entry_id(THANKS)}").status_code == 200
