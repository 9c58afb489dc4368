"""Each sample feed in fixtures/feeds parses to what its .expected.json says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregator.parse import ParseError, entry_key, parse_feed

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
SAMPLES = sorted(p for p in FEEDS.iterdir() if not p.name.endswith(".expected.json"))


def _expected(sample: Path) -> dict:
    return json.loads((FEEDS / f"{sample.stem}.expected.json").read_text(encoding="utf-8"))


def test_every_sample_has_an_expected_result():
    assert SAMPLES, "no sample feeds found"
    missing = [s.name for s in SAMPLES if not (FEEDS / f"{s.stem}.expected.json").exists()]
    assert missing == []


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_sample_parses_as_expected(sample: Path):
    expected = _expected(sample)
    feed_type = "wagtail" if "wagtail" in sample.name else None
    if "error" in expected:
        with pytest.raises(ParseError) as raised:
            parse_feed(sample.read_bytes(), expected["url"], None, feed_type)
        assert str(raised.value) == expected["error"]
        return
    parsed = parse_feed(sample.read_bytes(), expected["url"], None, feed_type)
    assert parsed.format == expected["format"]
    assert parsed.title == expected["title"]
    assert parsed.site_url == expected["site_url"]
    assert list(parsed.warnings) == expected["warnings"]
    actual = [
        {
            "key": e.key,
            "guid": e.guid,
            "title": e.title,
            "url": e.url,
            "published": e.published.isoformat() if e.published else None,
            "updated": e.updated.isoformat() if e.updated else None,
            "author": e.author,
            "categories": list(e.categories),
            "base_url": e.base_url,
            "content_is_html": e.content_is_html,
            "content_starts": e.content[:50],
        }
        for e in parsed.entries
    ]
    assert actual == expected["entries"]


def test_json_feed_is_detected_without_a_content_type():
    body = (FEEDS / "jsonfeed11.json").read_bytes()
    assert parse_feed(body, "https://x.example/feed", content_type=None).format == "json1.1"


def test_json_that_is_not_a_json_feed_is_refused():
    with pytest.raises(ParseError, match="JSON Feed version"):
        parse_feed(b'{"hello": "world"}', "https://x.example/feed")


def test_bad_json_names_the_line():
    with pytest.raises(ParseError, match="line 2"):
        parse_feed(b'{"version": "https://jsonfeed.org/version/1.1",\n "items": [,]}', "https://x.example/feed")


def test_wagtail_answer_is_detected_as_json():
    body = (FEEDS / "wagtail-pages.json").read_bytes()
    assert parse_feed(body, "https://x.example/api/v2/pages/").format == "wagtail"


def test_wagtail_without_bodies_warns_the_curator():
    body = json.dumps({"meta": {"total_count": 1}, "items": [{"id": 1, "title": "T", "meta": {"html_url": "https://w.example/t/"}}]})
    parsed = parse_feed(body.encode(), "https://w.example/api/v2/pages/", feed_type="wagtail")
    assert parsed.entries[0].url == "https://w.example/t/"
    assert any("?type=" in warning for warning in parsed.warnings)


@pytest.mark.parametrize(
    ("guid", "url", "title", "expected"),
    [
        ("urn:x:1", "https://a.example/1", "T", "urn:x:1"),
        ("  ", "https://a.example/1", "T", "https://a.example/1"),
        (None, None, "T", "sha256:"),
    ],
)
def test_entry_key_falls_back_from_guid_to_link_to_hash(guid, url, title, expected):
    assert entry_key(guid, url, title, None).startswith(expected)


def test_entry_key_hash_depends_on_title_and_date():
    from datetime import UTC, datetime

    one = entry_key(None, None, "Same title", datetime(2026, 1, 1, tzinfo=UTC))
    two = entry_key(None, None, "Same title", datetime(2026, 1, 2, tzinfo=UTC))
    assert one != two
    assert one == entry_key(None, None, "Same title", datetime(2026, 1, 1, tzinfo=UTC))


def test_one_bad_entry_does_not_sink_the_feed():
    body = b"""{"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "ok", "title": "Fine", "content_text": "x"},
        {"id": "bad", "title": "Bad date", "date_published": 12345, "tags": "not-a-list"},
        {"title": "", "content_text": ""}
    ]}"""
    parsed = parse_feed(body, "https://x.example/feed.json")
    assert [e.key for e in parsed.entries] == ["ok", "bad"]
    assert parsed.entries[1].published is None
    assert parsed.warnings == ("entry 3 was skipped: it has no title, link or content",)


def test_repeated_entry_ids_keep_the_first():
    body = b"""{"version": "https://jsonfeed.org/version/1", "items": [
        {"id": "same", "title": "Newest", "content_text": "a"},
        {"id": "same", "title": "Older copy", "content_text": "b"}]}"""
    parsed = parse_feed(body, "https://x.example/feed.json")
    assert [e.title for e in parsed.entries] == ["Newest"]
    assert "repeats" in parsed.warnings[0]


def test_categories_given_as_one_comma_list_are_split():
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
      <item><title>x</title><guid>1</guid><category>trauma, grief ,  loss</category></item></channel></rss>"""
    parsed = parse_feed(body, "https://x.example/feed")
    assert parsed.entries[0].categories == ("trauma", "grief", "loss")
