"""The site: every page from a real database, through Flask's test client."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import unescape

import feedparser
import pytest
from sqlalchemy import event

from aggregator.db import make_engine
from aggregator.web import create_app
from aggregator.web.pages import filter_heading
from tests.helpers import feeds_yaml, poll_all, write_and_sync

PAGES = [
    "/", "/tags", "/authors", "/author/maren", "/tag/trauma", "/entry/1", "/settings", "/status",
    "/feed.atom", "/tag/trauma/feed.atom", "/author/maren/feed.atom", "/healthz", "/static/style.css", "/no-such-page",
]  # fmt: skip


def many_posts_feed(count: int, start: datetime) -> str:
    items = []
    for i in range(count):
        when = format_datetime(start - timedelta(hours=i), usegmt=True)
        tags = "<category>Grief</category>" if i % 2 else "<category>Grief</category><category>Hope</category>"
        items.append(
            f"<item><title>Letter {i:03d}</title><link>https://many.example/{i}</link><guid>many-{i}</guid>"
            f"<pubDate>{when}</pubDate>{tags}<description>Letter number {i} about grief.</description></item>"
        )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Many</title>{"".join(items)}</channel></rss>'


@pytest.fixture
def site(database_url, sessions, tmp_path, feed_server):
    (feed_server.root / "many.xml").write_text(many_posts_feed(70, datetime(2026, 11, 1, tzinfo=UTC)), encoding="utf-8")
    text = feeds_yaml(
        {
            "maren": [feed_server.url("therapist-rss20.xml") + " tags=psychotherapy"],
            "samuel": [feed_server.url("counsellor-atom10.xml"), feed_server.url("hostile-rss20.xml")],
            "many": [feed_server.url("many.xml")],
        },
        aliases={"ptsd": "trauma"},
    )
    write_and_sync(sessions, tmp_path, text)
    assert all(o.result == "ok" for o in poll_all(sessions))
    engine = make_engine(database_url)
    app = create_app(engine=engine, TESTING=True)
    yield app
    engine.dispose()


@pytest.fixture
def client(site):
    return site.test_client()


def titles(html: str) -> list[str]:
    return [unescape(t) for t in re.findall(r'class="card__title"><a href="/entry/\d+">([^<]+)</a>', html)]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_with_security_headers(client, path):
    response = client.get(path)
    response.close()
    assert response.status_code == (404 if path == "/no-such-page" else 200)
    csp = response.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'",
        "form-action 'self'", "frame-src https://www.youtube-nocookie.com https://player.vimeo.com",
    ):  # fmt: skip
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


def test_front_page_lists_newest_first_with_author_date_tags_and_excerpt(client):
    html = client.get("/").get_data(as_text=True)
    shown = titles(html)
    assert len(shown) == 30
    assert shown[0] == "From the Future"  # dated 2031, shown as first seen (now), not pinned above it forever
    assert shown.index("Giving Thanks: Peace, Food, Gratitude") < shown.index("What My Father Never Said (and What He Did)")
    assert '<a class="meta__author" href="/author/maren">Maren</a>' in html
    assert re.search(r'<time datetime="2026-11-26T14:00:00Z" title="Thursday 26 November 2026, 14:00 UTC">', html)
    assert '<a class="tag" href="/tag/psychotherapy">Psychotherapy</a>' in html
    assert "I’m still working through the hefty tome" in html
    assert "read on the writer’s site" in html


def test_cursor_pagination_walks_every_entry_once(client):
    seen: list[str] = []
    url = "/"
    for _ in range(10):
        html = client.get(url).get_data(as_text=True)
        seen += titles(html)
        match = re.search(r'<a rel="next" href="([^"]+)"', html)
        if not match:
            break
        url = match.group(1).replace("&amp;", "&")
        assert "before=" in url and "offset" not in url
    assert len(seen) == 5 + 4 + 3 + 70
    assert len(set(seen)) == len(seen)


def test_tag_filters_narrow_to_entries_with_all_tags(client):
    grief = titles(client.get("/?tag=grief").get_data(as_text=True))
    both = client.get("/?tag=grief&tag=hope").get_data(as_text=True)
    assert all(t.startswith("Letter") for t in titles(both))
    assert len(titles(both)) == 30 and len(grief) == 30
    every_both: list[str] = []
    url = "/?tag=grief&tag=hope"
    while url:
        html = client.get(url).get_data(as_text=True)
        every_both += titles(html)
        match = re.search(r'<a rel="next" href="([^"]+)"', html)
        url = match.group(1).replace("&amp;", "&") if match else None
        if url:
            assert "tag=grief" in url and "tag=hope" in url
    assert sorted(every_both) == [f"Letter {i:03d}" for i in range(0, 70, 2)]
    assert 'aria-label="Remove the filter Hope"' in both
    assert 'href="/?tag=grief"' in both


def test_not_filter_leaves_a_topic_out(client):
    html = client.get("/?tag=grief&not=hope").get_data(as_text=True)
    shown = titles(html)
    assert shown and all(int(t.split()[1]) % 2 == 1 for t in shown if t.startswith("Letter"))
    assert "leaving out" in html


def test_a_filtered_list_names_its_filter_in_words(client):
    assert "<h1>Grief and Hope</h1>" in client.get("/?tag=grief&tag=hope").get_data(as_text=True)
    assert "<h1>Grief, without Hope</h1>" in client.get("/?tag=grief&not=hope").get_data(as_text=True)
    assert "<h1>Everything but Grief or Hope</h1>" in client.get("/?not=grief&not=hope").get_data(as_text=True)


def test_topic_pages_honour_filters(client):
    narrowed = client.get("/tag/grief?not=hope")
    assert narrowed.status_code == 302 and narrowed.headers["Location"] == "/?tag=grief&not=hope"
    followed = client.get("/tag/grief?not=hope", follow_redirects=True).get_data(as_text=True)
    assert titles(followed) == titles(client.get("/?tag=grief&not=hope").get_data(as_text=True))
    assert "<h1>Grief, without Hope</h1>" in followed
    both = client.get("/tag/grief?tag=hope", follow_redirects=True).get_data(as_text=True)
    assert titles(both) and all(int(t.split()[1]) % 2 == 0 for t in titles(both) if t.startswith("Letter"))


def test_filter_headings_in_words():
    assert filter_heading(["grief"], []) == "Grief"
    assert filter_heading(["grief", "hope", "loss"], ["anger"]) == "Grief, Hope and Loss, without Anger"
    assert filter_heading([], ["self harm"]) == "Everything but Self harm"


def test_tag_filters_follow_aliases_and_spelling(client):
    html = client.get("/?tag=PTSD").get_data(as_text=True)
    assert "Language Arts: Neglect, Triggers, Dissociation" in titles(html)
    assert 'href="/?tag=trauma"' not in html  # the active filter shows the tag itself
    assert "<span class=\"filter\">Trauma" in html
    assert titles(client.get("/?tag=Trauma%20").get_data(as_text=True)) == titles(html)
    response = client.get("/tag/ptsd")
    assert response.status_code == 301 and response.headers["Location"].endswith("/tag/trauma")


def test_unknown_tags_give_an_empty_list_not_an_error(client):
    empty = client.get("/?tag=no-such-topic").get_data(as_text=True)
    assert "No posts match these filters" in empty


def test_tags_page_counts(client):
    html = client.get("/tags").get_data(as_text=True)
    assert re.search(r'<a href="/tag/grief">Grief</a> <span class="count">7\d posts</span>', html)


def test_tag_page(client):
    html = client.get("/tag/trauma").get_data(as_text=True)
    assert "<h1>Trauma</h1>" in html
    shown = titles(html)
    assert "Language Arts: Neglect, Triggers, Dissociation" in shown
    assert "When the Body Keeps Score at Work" in shown  # tagged "ptsd " in its feed


def test_authors_and_author_page(client):
    html = client.get("/authors").get_data(as_text=True)
    assert '<a href="/author/maren">Maren</a>' in html and "5 posts" in html
    page = client.get("/author/samuel").get_data(as_text=True)
    assert "<h1>Samuel</h1>" in page
    assert "samuel writes here." in page
    assert 'href="https://samuel.example/"' in page
    assert 'href="/author/samuel/feed.atom"' in page
    assert set(titles(page)) >= {"What My Father Never Said (and What He Did)", "Boundaries & Safety"}
    assert "Giving Thanks: Peace, Food, Gratitude" not in titles(page)
    filtered = client.get("/author/samuel?tag=grief").get_data(as_text=True)
    assert titles(filtered) == ["What My Father Never Said (and What He Did)", "Grief Doesn’t Keep a Calendar"]


def test_entry_page_shows_the_clean_post_and_links_to_the_original(client):
    front = client.get("/").get_data(as_text=True)
    entry_id = re.search(r'<a href="/entry/(\d+)">Giving Thanks', front).group(1)
    html = client.get(f"/entry/{entry_id}").get_data(as_text=True)
    assert "<h1>Giving Thanks: Peace, Food, Gratitude</h1>" in html
    assert 'href="https://demo.invalid/maren/blog/giving-thanks/" rel="noopener noreferrer">Read it on Maren’s site' in html
    assert "<p>I’m still working through the hefty tome" in html


def test_hostile_text_is_escaped_on_every_page(client):
    for path in ("/", "/author/samuel", "/tags"):
        html = client.get(path).get_data(as_text=True)
        assert "onerror" not in html and "<script" not in html and "alert(" not in html


@pytest.mark.parametrize("path", ["/author/nobody", "/tag/nothing", "/entry/999999", "/entry/99999999999999", "/entry/abc", "/no/such/page", "/author/nobody/feed.atom"])
def test_unknown_things_are_404_with_a_helpful_page(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "the latest posts" in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["before=garbage", "before=20261301000000000000-5", "tag=a&tag=b&tag=c&tag=d&tag=e&not=f"])
def test_bad_queries_are_400(client, query):
    assert client.get(f"/?{query}").status_code == 400


def test_atom_feed_parses_back(client):
    response = client.get("/feed.atom")
    assert response.mimetype == "application/atom+xml"
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Test Reading Room"
    assert len(parsed.entries) == 50
    by_title = {e.title: e for e in parsed.entries}
    giving = by_title["Giving Thanks: Peace, Food, Gratitude"]
    assert giving.link == "https://demo.invalid/maren/blog/giving-thanks/"
    assert giving.author == "Dr. Maren Holloway"
    assert "I’m still working through the hefty tome" in giving.content[0].value
    assert giving.id == "https://demo.invalid/maren/blog/giving-thanks/"
    assert {t.term for t in giving.tags} >= {"gratitude", "psychotherapy"}


def test_tag_and_author_feeds_parse_back(client):
    tag = feedparser.parse(client.get("/tag/trauma/feed.atom").data)
    assert not tag.bozo and tag.entries and all("trauma" in {t.term for t in e.tags} for e in tag.entries)
    author = feedparser.parse(client.get("/author/samuel/feed.atom").data)
    assert not author.bozo and {e.title for e in author.entries} >= {"Two People, One Argument, Again"}


def test_healthz(client):
    data = client.get("/healthz").get_json()
    assert data["status"] == "ok" and data["database"] == "ok"
    assert (data["authors"], data["feeds"], data["entries"]) == (3, 4, 82)
    assert data["last_poll"].endswith("Z")


def test_healthz_says_when_the_database_is_gone(tmp_path):
    app = create_app(f"sqlite:///{tmp_path}/no/such/dir/db.sqlite3")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unavailable"}


def test_front_page_without_a_database_is_a_calm_error(tmp_path):
    app = create_app(f"sqlite:///{tmp_path}/empty.sqlite3")  # no tables: never migrated
    response = app.test_client().get("/")
    assert response.status_code == 503
    assert "The database is not answering" in response.get_data(as_text=True)


def test_pages_use_a_fixed_number_of_queries(site):
    """No N+1: a page of 30 entries costs what a page of a few costs."""
    engine = site.extensions["aggregator.engine"]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("BEGIN", "ROLLBACK", "COMMIT")):
            statements.append(statement)

    def cost(path: str) -> int:
        statements.clear()
        assert client.get(path).status_code == 200
        return len(statements)

    event.listen(engine, "before_cursor_execute", count)
    try:
        client = site.test_client()
        def last_page(path: str) -> str:
            cursor = None
            while True:
                html = client.get(path + (("&" if "?" in path else "?") + f"before={cursor}" if cursor else "")).get_data(as_text=True)
                found = re.search(r'before=([0-9-]+)"', html)
                if not found:
                    return path + (("&" if "?" in path else "?") + f"before={cursor}" if cursor else "")
                cursor = found.group(1)

        pairs = [
            ("/", last_page("/")),
            ("/?tag=grief&tag=hope", last_page("/?tag=grief&tag=hope")),
            ("/tag/grief", "/tag/psychotherapy"),
            ("/author/many", "/author/maren"),
            ("/tag/grief/feed.atom", "/tag/psychotherapy/feed.atom"),
        ]
        for many, few in pairs:
            assert cost(many) == cost(few), (many, few)
            assert cost(many) <= 10, many
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_front_page_is_grouped_by_day(client):
    html = client.get("/").get_data(as_text=True)
    days = re.findall(r'<h2 class="day__heading" id="day-([0-9-]+)"><time datetime="\1">([^<]+)</time></h2>', html)
    assert days and days[0][1] == "Today"  # the post dated in the future shows as first seen: today
    assert [d for d, _ in days] == sorted({d for d, _ in days}, reverse=True)
    assert any(label.startswith(("Thursday 26 November", "Yesterday")) for _, label in days)
    assert '<h3 class="card__title">' in html


def test_filter_form_works_without_javascript(client):
    html = client.get("/?tag=grief").get_data(as_text=True)
    form = html[html.index('<form class="filter-form"'):html.index("</form>", html.index('<form class="filter-form"'))]
    assert 'method="get"' in form and '<input type="hidden" name="tag" value="grief">' in form
    assert '<label for="filter-tag">Narrow to a topic</label>' in form and '<option value="hope">' in form
    assert '<option value="grief">' not in form  # already chosen
    # What a browser sends when the form is submitted with "hope" chosen and no topic left out.
    both = client.get("/?tag=grief&tag=hope&not=").get_data(as_text=True)
    assert titles(both) and all(t.startswith("Letter") for t in titles(both))


def test_entry_page_links_the_same_writers_neighbours(client):
    html = client.get("/author/maren").get_data(as_text=True)
    ids = re.findall(r'class="card__title"><a href="/entry/(\d+)">', html)
    assert len(ids) == 5
    middle = client.get(f"/entry/{ids[2]}").get_data(as_text=True)
    assert f'rel="next" href="/entry/{ids[1]}"' in middle and f'rel="prev" href="/entry/{ids[3]}"' in middle
    newest = client.get(f"/entry/{ids[0]}").get_data(as_text=True)
    assert 'rel="next"' not in newest and f'rel="prev" href="/entry/{ids[1]}"' in newest


def test_reading_settings_apply_to_every_page(client):
    form = client.get("/settings").get_data(as_text=True)
    for name in ("size", "spacing", "face"):
        assert f'name="{name}"' in form
    assert 'id="face-legible"' in form
    response = client.post("/settings", data={"size": "large", "spacing": "loose", "face": "legible", "hide": []})
    assert response.status_code == 303 and any(c.startswith("reading=size=large") for c in response.headers.getlist("Set-Cookie"))
    for path in ("/", "/authors", "/tags", "/status"):
        assert '<html lang="en" class="size-large spacing-loose face-legible">' in client.get(path).get_data(as_text=True)
    client.post("/settings", data={"size": "enormous", "face": "comic-sans"})
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)


def test_writers_show_initials_or_their_avatar(client):
    html = client.get("/authors").get_data(as_text=True)
    assert '<span class="avatar" aria-hidden="true">M</span>' in html
