"""What the site re-publishes: Atom, RSS and JSON Feed for everything, each
tag, each writer and any filter; OPML of the writers; all answering 304."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from xml.etree import ElementTree

import feedparser
import pytest
from sqlalchemy import select

from aggregator.db import make_engine
from aggregator.models import Entry
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


# -- validity: every output read back by feedparser and an XML parser -------------

PATHS = ["/feed.{}", "/tag/trauma/feed.{}", "/author/samuel/feed.{}", "/feed.{}?tag=grief&not=couples"]
JSON_FEED_KEYS = {"version", "title", "home_page_url", "feed_url", "description", "user_comment", "next_url", "icon",
                  "favicon", "authors", "language", "expired", "hubs", "items"}  # fmt: skip
JSON_ITEM_KEYS = {"id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
                  "banner_image", "date_published", "date_modified", "authors", "tags", "language", "attachments"}  # fmt: skip


def stored_entries(sessions) -> dict[str, Entry]:
    """Every stored entry under each id an output feed may give it: its URI guid or its page."""
    by_id = {}
    with sessions() as session:
        for entry in session.scalars(select(Entry)):
            by_id[f"http://127.0.0.1:5000/entry/{entry.id}"] = entry
            if entry.guid:
                by_id[entry.guid] = entry
    return by_id


def sent_content(body: bytes) -> dict[str, str]:
    """Each entry's HTML content as the XML carries it, by entry id (Atom or RSS)."""
    root = ElementTree.fromstring(body)
    if root.tag == ATOM + "feed":
        return {e.findtext(ATOM + "id"): e.findtext(ATOM + "content") for e in root.iter(ATOM + "entry")}
    return {i.findtext("guid"): i.findtext("{http://purl.org/rss/1.0/modules/content/}encoded") for i in root.iter("item")}


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def utc(parsed_time) -> datetime:
    return datetime(*parsed_time[:6], tzinfo=UTC)


@pytest.mark.parametrize("path", PATHS)
def test_atom_uses_the_default_namespace_and_is_well_formed(client, path):
    body = client.get(path.format("atom")).data
    root = ElementTree.fromstring(body)  # well formed, or this raises
    assert root.tag == ATOM + "feed"
    assert b'<feed xmlns="http://www.w3.org/2005/Atom">' in body
    assert b"atom:" not in body and b"xmlns:" not in body  # no prefix anywhere
    assert all(element.tag.startswith(ATOM) for element in root.iter())


@pytest.mark.parametrize("path", PATHS)
def test_rss_is_well_formed_with_its_prefixed_self_link(client, path):
    body = client.get(path.format("rss")).data
    root = ElementTree.fromstring(body)
    assert root.tag == "rss" and root.get("version") == "2.0"
    assert root.find(f"channel/{ATOM}link[@rel='self']").get("href").startswith("http://127.0.0.1:5000/")
    assert b'xmlns:atom="http://www.w3.org/2005/Atom"' in body and b"<atom:link " in body


@pytest.mark.parametrize("kind", ["atom", "rss"])
@pytest.mark.parametrize("path", PATHS)
def test_xml_feeds_round_trip_through_feedparser(client, sessions, kind, path):
    url = path.format(kind)
    body = client.get(url).data
    # sanitize_html off: this checks what we send, not feedparser's own cleaning.
    parsed = feedparser.parse(body, sanitize_html=False)
    assert parsed.bozo == 0, (url, parsed.get("bozo_exception"))
    sent = sent_content(body)
    assert parsed.version == {"atom": "atom10", "rss": "rss20"}[kind]
    assert parsed.feed.title and parsed.feed.link.startswith("http://127.0.0.1:5000/")
    stored = stored_entries(sessions)
    assert parsed.entries
    for item in parsed.entries:
        entry = stored[item.id]
        assert item.title == entry.title
        assert item.link == (entry.url or f"http://127.0.0.1:5000/entry/{entry.id}")
        assert utc(item.published_parsed) == (entry.published_at or entry.sort_time).replace(microsecond=0)
        # The HTML arrives byte for byte, after its note if it has one.
        assert sent[item.id].endswith(entry.content_html)
        note = sent[item.id].removesuffix(entry.content_html)
        assert note == "" or (note.startswith("<p><strong>Content note: ") and note.endswith("</strong></p>"))
        # feedparser writes HTML back in its own spelling (attribute order, "/>"): the text is the same.
        assert text_of(item.content[0].value) == text_of(sent[item.id])
        assert item.content[0].value.startswith("<p><strong>Content note: ") == bool(note)
        assert item.summary.startswith("Content note: ") == bool(note)
        if kind == "atom":
            assert utc(item.updated_parsed) == (entry.updated_at or entry.published_at or entry.sort_time).replace(microsecond=0)


@pytest.mark.parametrize("path", PATHS)
def test_the_three_formats_agree_on_ids_titles_and_notes(client, path):
    atom = feedparser.parse(client.get(path.format("atom")).data)
    rss = feedparser.parse(client.get(path.format("rss")).data)
    document = json.loads(client.get(path.format("json")).data)

    def noted(text: str) -> bool:
        return text.startswith("<p><strong>Content note: ")

    views = [
        [(e.id, e.title, noted(e.content[0].value)) for e in atom.entries],
        [(e.id, e.title, noted(e.content[0].value)) for e in rss.entries],
        [(i["id"], i["title"], noted(i["content_html"])) for i in document["items"]],
    ]
    assert views[0] == views[1] == views[2]
    if "tag=grief" in path:  # every post there is noted for grief
        assert all(is_noted for _, _, is_noted in views[0])


@pytest.mark.parametrize("path", PATHS)
def test_json_feed_has_the_1_1_required_fields(client, sessions, path):
    document = json.loads(client.get(path.format("json")).data)
    assert set(document) <= JSON_FEED_KEYS
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(document["title"], str) and document["title"]
    assert document["feed_url"] == "http://127.0.0.1:5000" + path.format("json")
    assert isinstance(document["items"], list) and document["items"]
    stored = stored_entries(sessions)
    for item in document["items"]:
        assert set(item) <= JSON_ITEM_KEYS, set(item) - JSON_ITEM_KEYS
        assert isinstance(item["id"], str) and item["id"]
        assert isinstance(item.get("content_html", item.get("content_text")), str)
        entry = stored[item["id"]]
        assert item["title"] == entry.title
        assert item["url"] == (entry.url or f"http://127.0.0.1:5000/entry/{entry.id}")
        assert item["content_html"].endswith(entry.content_html)
        # RFC 3339: a full date and time with its offset.
        published = datetime.fromisoformat(item["date_published"])
        assert published.tzinfo is not None and published == (entry.published_at or entry.sort_time).replace(microsecond=0)
        if "date_modified" in item:
            assert datetime.fromisoformat(item["date_modified"]).tzinfo is not None
        assert item["authors"] and all(isinstance(a, dict) and ({"name", "url", "avatar"} & set(a)) for a in item["authors"])
        assert all(isinstance(tag, str) for tag in item.get("tags", []))
