"""URLs, bases, titles and identities as the writer wrote them, through real polls and pages."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from aggregator.clean import clean_content, safe_url
from aggregator.db import make_engine
from aggregator.models import Entry
from aggregator.poll import Poller
from aggregator.web import create_app
from tests.helpers import count_entries, entries_by_title, feed_id, feeds_yaml, get_feed, poll_all, write_and_sync

BASE = "https://writer.example/blog/2026/a-post/"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/uploads/My Photo.jpg", "https://writer.example/uploads/My%20Photo.jpg"),
        ("/blog/ünïcode/", "https://writer.example/blog/%C3%BCn%C3%AFcode/"),
        ("  \n https://a.example/x y?q=ä#part two \t", "https://a.example/x%20y?q=%C3%A4#part%20two"),
        ("https://a.example/100%25", "https://a.example/100%25"),  # already encoded: not encoded twice
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://a.example/?a=1&amp;b=2&copy=3", "https://a.example/?a=1&b=2&copy=3"),
        ("/x\r\ny", "https://writer.example/xy"),  # tabs and newlines are dropped anywhere, as browsers do
        ("java\tscript:alert(1)", None),
        ("java&#x09;script:alert(1)", None),
        ("\x01 javascript:alert(1)", None),
        ("https://a b.example/", None),
    ],
)
def test_safe_url_encodes_what_browsers_keep(url, expected):
    assert safe_url(url, BASE) == expected


def test_an_element_base_in_the_content_applies_inside_it():
    html = clean_content(
        '<div xml:base="sub/"><p xml:base="../other/"><img src="a.jpg" alt=""></p><a href="b">b</a></div>'
        '<a href="c">c</a><p xml:base="javascript:alert(1)"><a href="d">d</a></p>',
        base_url="https://w.example/blog/post/",
    ).html
    assert 'src="https://w.example/blog/post/other/a.jpg"' in html
    assert 'href="https://w.example/blog/post/sub/b"' in html
    assert 'href="https://w.example/blog/post/c"' in html
    assert 'href="https://w.example/blog/post/d"' in html  # an unsafe base is ignored
    assert "xml:base" not in html


# -- through a real poll and the real pages ------------------------------------


@pytest.fixture
def site(database_url, sessions, tmp_path, feed_server):
    text = feeds_yaml({
        "ines": [feed_server.url("url-fidelity-atom.xml"), feed_server.url("guid-not-base-atom.xml")],
        "practice": [feed_server.url("guid-not-base-rss20.xml"), feed_server.url("numeric-values.json")],
        "notes": [feed_server.url("no-identity-rss20.xml")],
    })  # fmt: skip
    write_and_sync(sessions, tmp_path, text)
    outcomes = poll_all(sessions)
    assert [o.result for o in outcomes] == ["ok"] * 5, [o.error for o in outcomes]
    engine = make_engine(database_url)
    app = create_app(engine=engine, TESTING=True)
    yield app.test_client()
    engine.dispose()


def page(client, entry: Entry) -> str:
    response = client.get(f"/entry/{entry.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_spaces_and_non_ascii_in_urls_are_encoded_never_deleted(site, sessions, feed_server):
    entry = entries_by_title(sessions)["Notes on <dialog>"]
    photo = f'src="{feed_server.base_url}/uploads/My%20Photo.jpg"'
    earlier = f'href="{feed_server.base_url}/blog/%C3%BCn%C3%AFcode/"'
    for html in (entry.content_html, page(site, entry)):
        assert photo in html and earlier in html
    # "java<TAB>script:" is a javascript: URL to a browser: its link goes, its words stay.
    assert "script:" not in entry.content_html
    assert "nothing that runs" in entry.content_html


def test_xml_base_composes_from_the_document_url(site, sessions, feed_server):
    practice = f"{feed_server.base_url}/practice/"
    entries = entries_by_title(sessions)
    on_dialog, in_therapy = entries["Notes on <dialog>"], entries["Tom & Jerry in therapy"]
    # The feed's xml:base="/practice/" against the document's URL, the entry's
    # "journal/" against that, the content's "on-dialog/" against that.
    assert on_dialog.url == practice + "journal/on-dialog/"
    assert f'href="{practice}journal/on-dialog/notes/"' in page(site, on_dialog)
    assert get_feed(sessions, feed_server.url("url-fidelity-atom.xml")).site_url == practice
    # XHTML content: the content's own base, and a base on an element inside it.
    html = page(site, in_therapy)
    assert f'href="{practice}journal/on-dialog/"' in html
    assert f'src="{practice}journal/in-therapy/gallery/chair.jpg"' in html


def test_a_guid_is_not_a_base(site, sessions, feed_server):
    entries = entries_by_title(sessions)
    # The entry's link, else the feed's link, else the document's URL; never the tag:/urn: id.
    assert 'src="https://practice.example/journal/one/img/one.jpg"' in page(site, entries["With its own link"])
    without_link = entries["Without a link"]
    assert without_link.guid.startswith("urn:uuid:") and without_link.url is None
    html = page(site, without_link)
    assert 'src="https://practice.example/journal/img/two.jpg"' in html
    assert 'href="https://practice.example/about/"' in html
    only_id = entries["Known only by its id"]
    assert only_id.url is None
    assert f'src="{feed_server.base_url}/img/three.jpg"' in page(site, only_id)


def test_titles_keep_their_type(site, sessions, feed_server):
    entries = entries_by_title(sessions)
    assert "Notes on <dialog>" in entries and "Tom & Jerry in therapy" in entries
    html = page(site, entries["Notes on <dialog>"])
    assert "<h1>Notes on &lt;dialog&gt;</h1>" in html and "<dialog>" not in html
    feed_title = get_feed(sessions, feed_server.url("url-fidelity-atom.xml")).title
    assert feed_title == "Notes on <dialog> & repair"
    author_page = site.get("/author/ines").get_data(as_text=True)
    assert "Notes on &lt;dialog&gt; &amp; repair" in author_page
    items = json.loads(site.get("/feed.json").get_data(as_text=True))["items"]
    assert "Notes on <dialog>" in [item.get("title") for item in items]


def test_numbers_in_json_are_text_where_text_is_meant_and_never_urls(site, sessions, feed_server):
    entry = entries_by_title(sessions)["2026"]
    assert entry.guid == "7"
    assert entry.url is None  # "url": 3.14 is no address
    assert f'src="{feed_server.base_url}/img/year.jpg"' in page(site, entry)
    assert entries_by_title(sessions)["A post with a real address"].url == feed_server.url("posts/words/")
    assert get_feed(sessions, feed_server.url("numeric-values.json")).site_url is None


def test_items_without_identity_are_distinct_entries(site, sessions, feed_server):
    source = feed_server.url("no-identity-rss20.xml")
    with sessions() as session:
        texts = sorted(session.scalars(select(Entry.content_text).where(Entry.feed_id == feed_id(sessions, source))))
    assert texts == ["A different note, about asking for help early.", "A short note on resting when the week has been long."]
    # The same items in new bytes are the same entries: keys come from their text.
    path = feed_server.root / "no-identity-rss20.xml"
    path.write_bytes(path.read_bytes() + b"\n")
    with Poller(sessions) as poller:
        again = poller.poll(feed_id(sessions, source))
    assert (again.result, again.new, again.updated) == ("ok", 0, 0)
    assert "entry 3 repeats an earlier entry's id and was skipped" in again.warnings
    assert count_entries(sessions, source) == 2
