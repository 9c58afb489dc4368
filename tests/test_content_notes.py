"""Content notes: shown before excerpts, one click before the text, hidden
on request, carried in output feeds; authors' own "cw:" categories count."""

from __future__ import annotations

import re
from html import unescape

import feedparser
import pytest

from aggregator.db import make_engine
from aggregator.web import create_app
from tests.helpers import feeds_yaml, poll_all, write_and_sync

NOTES = """  content_notes:
    suicide:
      note: mentions suicide
      support: crisis-lines
    self-harm: discusses self-harm
support:
  crisis-lines:
    title: If you need someone to talk to now
    text: You do not have to wait until things get worse.
    links:
      - label: "US: 988 Suicide & Crisis Lifeline"
        url: https://988lifeline.org/
      - label: "UK and Ireland: Samaritans, 116 123"
        url: https://www.samaritans.org/
"""


@pytest.fixture
def client(database_url, sessions, tmp_path, feed_server):
    text = feeds_yaml({"gently": [feed_server.url("noted-rss20.xml")], "samuel": [feed_server.url("counsellor-atom10.xml")]}, aliases={"x": "y"})
    text = text.replace("authors:\n", NOTES + "authors:\n", 1)
    write_and_sync(sessions, tmp_path, text)
    poll_all(sessions)
    engine = make_engine(database_url)
    yield create_app(engine=engine).test_client()
    engine.dispose()


def card(html: str, title: str) -> str:
    start = html.index(title)
    return html[start : html.index("</article>", start)]


def entry_path(client, title: str) -> str:
    html = client.get("/").get_data(as_text=True)
    return re.search(r'<a href="(/entry/\d+)">' + re.escape(title), html).group(1)


def test_lists_show_the_note_before_the_excerpt(client):
    html = unescape(client.get("/").get_data(as_text=True))
    suicide = card(html, "After a Suicide")
    assert suicide.index("Content note:</strong> mentions suicide") < suicide.index("Those bereaved by suicide")
    assert "Content note:</strong> discusses self-harm" in card(html, "What Self-Harm Is Trying to Say")
    assert "Content note:</strong> the author notes: Eating disorders" in card(html, "Notes on Eating and Shame")
    assert "Content note" not in card(html, "Small Joys in the Therapy Room")
    author_page = unescape(client.get("/author/gently").get_data(as_text=True))
    assert "mentions suicide" in author_page


@pytest.mark.parametrize("path", ["/", "/tag/suicide", "/author/gently"])
def test_a_noted_excerpt_waits_behind_the_same_one_click(client, path):
    html = unescape(client.get(path).get_data(as_text=True))
    suicide = card(html, "After a Suicide")
    guard = suicide.index('<details class="content-guard content-guard--excerpt">')
    assert suicide.index("Content note:</strong> mentions suicide") < guard < suicide.index("Those bereaved by suicide")
    assert "<summary>Show the excerpt" in suicide
    if path == "/":
        plain = card(html, "Small Joys in the Therapy Room")
        assert "content-guard" not in plain and '<p class="card__excerpt">' in plain


def test_a_noted_search_result_waits_behind_the_same_one_click(client):
    html = unescape(client.get("/search?q=bereaved").get_data(as_text=True))
    start = html.index("After a Suicide")
    hit = html[start : html.index("</li>", start)]
    guard = hit.index('<details class="content-guard content-guard--excerpt">')
    assert hit.index("Content note:</strong> mentions suicide") < guard < hit.index("<mark>")


def test_entry_page_asks_one_click_and_offers_support(client):
    html = unescape(client.get(entry_path(client, "After a Suicide")).get_data(as_text=True))
    guard = html.index('<details class="content-guard">')
    assert html.index("Content note:</strong> mentions suicide.") < guard
    assert guard < html.index("<p>Those bereaved by suicide")
    assert "<summary>Show the post</summary>" in html
    assert "If you need someone to talk to now" in html
    assert '<a href="https://988lifeline.org/" rel="noopener noreferrer">US: 988 Suicide & Crisis Lifeline</a>' in html
    plain = client.get(entry_path(client, "Small Joys in the Therapy Room")).get_data(as_text=True)
    assert "content-guard" not in plain and "support-panel" not in plain


def test_not_filter_leaves_a_noted_topic_out(client):
    html = unescape(client.get("/?not=suicide").get_data(as_text=True))
    assert "After a Suicide" not in html and "Small Joys" in html


def test_reading_setting_hides_noted_topics_everywhere(client):
    page = client.get("/settings").get_data(as_text=True)
    assert 'name="hide" value="suicide"' in page and 'name="hide" value="self-harm"' in page
    response = client.post("/settings", data={"hide": ["suicide", "self-harm", "not-a-noted-topic"]})
    assert response.status_code == 303
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("hide_topics="))
    assert "hide_topics=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "not-a-noted-topic" not in cookie
    for path in ("/", "/author/gently"):
        html = unescape(client.get(path).get_data(as_text=True))
        assert "After a Suicide" not in html and "What Self-Harm" not in html, path
        assert "Small Joys" in html
        notice = re.search(r"Leaving out ([^<]*), as your <a", html)
        assert notice and set(notice.group(1).split(", ")) == {"Suicide", "Self harm"}
    assert 'checked' in client.get("/settings").get_data(as_text=True)
    # Asking for the topic itself still shows it.
    assert "After a Suicide" in unescape(client.get("/tag/suicide").get_data(as_text=True))
    cleared = client.post("/settings", data={})
    assert any(c.startswith("hide_topics=;") for c in cleared.headers.getlist("Set-Cookie"))
    assert "After a Suicide" in unescape(client.get("/").get_data(as_text=True))


def test_output_feeds_carry_the_note_in_front(client):
    parsed = feedparser.parse(client.get("/feed.atom").data)
    entry = next(e for e in parsed.entries if e.title.startswith("After a Suicide"))
    assert entry.summary.startswith("Content note: mentions suicide.")
    assert entry.content[0].value.startswith("<p><strong>Content note: mentions suicide</strong></p>")
    other = next(e for e in parsed.entries if e.title.startswith("Small Joys"))
    assert "Content note" not in other.content[0].value


def test_a_cut_short_post_says_so_and_links_to_the_whole(client):
    html = unescape(client.get(entry_path(client, "Notes on Eating and Shame")).get_data(as_text=True))
    assert "This is only the beginning" in html
    assert '<a href="https://gently.example/eating-and-shame/" rel="noopener noreferrer">Read the whole post on their site</a>' in html
    whole = client.get(entry_path(client, "Small Joys in the Therapy Room")).get_data(as_text=True)
    assert "This is only the beginning" not in whole


def test_reading_time_is_shown(client):
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'What My Father Never Said.*?<span class="meta__length">3 min read</span>', html, re.S)
