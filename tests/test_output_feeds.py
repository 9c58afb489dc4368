"""What the site re-publishes: Atom, RSS and JSON Feed for everything, each
tag, each writer and any filter; OPML of the writers; all answering 304."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import feedparser
import pytest

from aggregator.db import make_engine
from aggregator.opml import parse_opml
from aggregator.web import create_app
from tests.helpers import feeds_yaml, poll_all, write_and_sync

ATOM = "{http://www.w3.org/2005/Atom}"
KINDS = ["atom", "rss", "json"]


@pytest.fixture
def client(database_url, sessions, tmp_path, feed_server):
    text = feeds_yaml(
        {"maren": [feed_server.url("therapist-rss20.xml") + " tags=psychotherapy"], "samuel": [feed_server.url("counsellor-atom10.xml")]},
        aliases={"ptsd": "trauma"},
    )
    text = text.replace("authors:\n", "  content_notes: {grief: mentions grief}\nauthors:\n", 1)
    write_and_sync(sessions, tmp_path, text)
    poll_all(sessions)
    engine = make_engine(database_url)
    yield create_app(engine=engine).test_client()
    engine.dispose()


def parse(client, path: str):
    response = client.get(path)
    assert response.status_code == 200, path
    if path.split("?")[0].endswith(".json"):
        assert response.mimetype == "application/feed+json"
        return response, json.loads(response.data)
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    return response, parsed


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ["/feed.{}", "/tag/trauma/feed.{}", "/author/samuel/feed.{}", "/feed.{}?tag=grief&not=couples"])
def test_every_feed_parses_back_with_authors_links_and_content(client, kind, path):
    response, parsed = parse(client, path.format(kind))
    items = parsed["items"] if kind == "json" else parsed.entries
    assert items
    for item in items:
        if kind == "json":
            assert item["id"] and item["title"] and item["content_html"] and item["authors"][0]["name"]
            assert item["url"].startswith(("https://demo.invalid/", "http://127.0.0.1:5000/entry/"))
        else:
            assert item.id and item.title and item.link.startswith("https://demo.invalid/")
            assert item.author in ("Dr. Maren Holloway", "Samuel Okafor")
            assert (item.get("content") or [{}])[0].get("value") or item.get("summary")
    if "?tag=grief" in path:
        names = [i["title"] if kind == "json" else i.title for i in items]
        assert "What My Father Never Said (and What He Did)" in names and "Two People, One Argument, Again" not in names


def test_atom_has_its_required_elements(client):
    root = ElementTree.fromstring(client.get("/feed.atom").data)
    for required in ("id", "title", "updated"):
        assert root.find(ATOM + required) is not None and root.find(ATOM + required).text
    assert root.find(ATOM + "link[@rel='self']").get("href") == "http://127.0.0.1:5000/feed.atom"
    for entry in root.findall(ATOM + "entry"):
        for required in ("id", "title", "updated"):
            assert entry.find(ATOM + required) is not None and entry.find(ATOM + required).text
        assert entry.find(ATOM + "author/" + ATOM + "name").text
        assert entry.find(ATOM + "link[@rel='alternate']") is not None or entry.find(ATOM + "content") is not None


def test_json_feed_is_version_1_1(client):
    _, document = parse(client, "/feed.json")
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["feed_url"] == "http://127.0.0.1:5000/feed.json"
    first = document["items"][0]
    assert first["date_published"].endswith("Z") and isinstance(first["tags"], list)


def test_rss_carries_the_creator_and_full_content(client):
    _, parsed = parse(client, "/author/maren/feed.rss")
    item = next(e for e in parsed.entries if e.title.startswith("Giving Thanks"))
    assert item.author == "Dr. Maren Holloway"
    assert "I’m still working through the hefty tome" in item.content[0].value
    assert parsed.version == "rss20"


def test_content_notes_lead_in_every_format(client):
    _, atom = parse(client, "/feed.atom")
    _, rss = parse(client, "/feed.rss")
    _, document = parse(client, "/feed.json")
    title = "What My Father Never Said (and What He Did)"
    assert next(e for e in atom.entries if e.title == title).content[0].value.startswith("<p><strong>Content note: mentions grief")
    assert next(e for e in rss.entries if e.title == title).summary.startswith("Content note: mentions grief.")
    assert next(i for i in document["items"] if i["title"] == title)["content_html"].startswith("<p><strong>Content note")


@pytest.mark.parametrize("path", ["/feed.atom", "/feed.rss", "/feed.json", "/", "/author/maren", "/opml.xml"])
def test_pages_and_feeds_answer_304_when_unchanged(client, path):
    first = client.get(path)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache" and "Cookie" in first.headers["Vary"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    if path.startswith("/feed"):
        assert first.headers["Last-Modified"]
        assert client.get(path, headers={"If-Modified-Since": first.headers["Last-Modified"]}).status_code == 304


def test_static_files_are_cached_long_under_a_versioned_name(client):
    page = client.get("/").get_data(as_text=True)
    import re

    stylesheet = re.search(r'href="(/static/style\.css\?v=[0-9a-f]{12})"', page).group(1)
    response = client.get(stylesheet)
    assert "max-age=31536000" in response.headers["Cache-Control"]
    response.close()


def test_opml_lists_the_writers_and_their_web_feeds(client, feed_server):
    response = client.get("/opml.xml")
    assert response.mimetype == "text/x-opml"
    feeds = parse_opml(response.data)
    assert {(f.group, f.xml_url) for f in feeds} == {
        ("Maren", feed_server.url("therapist-rss20.xml")),
        ("Samuel", feed_server.url("counsellor-atom10.xml")),
    }
