"""Wagtail's stored rich text and StreamField bodies become plain HTML that the cleaner can take."""

from __future__ import annotations

from typing import Any

from aggregator.clean import clean_content
from pathlib import Path

from aggregator.config import parse_config
from aggregator.wagtail import FieldMap, Lookups, page_entry, render_rich_text, render_stream

SITE = "https://therapy.example"


class SiteLookups(Lookups):
    """Lookups answered from what a site's API would say, by endpoint and id."""

    def __init__(self, answers: dict[tuple[str, int], dict[str, Any]], known_pages: dict[int, str] | None = None):
        super().__init__(None, known_pages or {})
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    def _ask(self, kind: str, item_id: int) -> dict[str, Any] | None:
        self.asked.append((kind, item_id))
        return self.answers.get((kind, item_id))

    def _origin(self) -> str | None:
        return SITE


IMAGE = {"id": 5, "title": "A quiet room", "meta": {"download_url": "/media/original_images/room.jpg"}}
DOCUMENT = {"id": 2, "title": "Worksheet", "meta": {"download_url": "/documents/2/worksheet.pdf"}}
PAGE = {"id": 9, "title": "On grief", "meta": {"html_url": f"{SITE}/blog/on-grief/"}}


def test_page_document_and_image_references_become_absolute_links_and_images():
    lookups = SiteLookups({("images", 5): IMAGE, ("documents", 2): DOCUMENT, ("pages", 9): PAGE})
    stored = (
        '<p>See <a linktype="page" id="9">my post on grief</a> and '
        '<a linktype="document" id="2">the worksheet</a>.</p>'
        '<embed embedtype="image" id="5" format="left" alt="Two chairs &amp; a lamp"/>'
        '<p>An <a href="https://elsewhere.example/">outside link</a> stays.</p>'
    )
    rendered = render_rich_text(stored, lookups)
    assert f'<a href="{SITE}/blog/on-grief/">my post on grief</a>' in rendered
    assert f'<a href="{SITE}/documents/2/worksheet.pdf">the worksheet</a>' in rendered
    assert f'<img src="{SITE}/media/original_images/room.jpg" alt="Two chairs &amp; a lamp">' in rendered
    assert '<a href="https://elsewhere.example/">outside link</a>' in rendered
    assert "linktype" not in rendered and "embedtype" not in rendered
    assert lookups.warnings() == []


def test_pages_the_listing_named_need_no_request():
    lookups = SiteLookups({}, known_pages={9: f"{SITE}/blog/on-grief/"})
    assert render_rich_text('<a linktype="page" id="9">grief</a>', lookups) == f'<a href="{SITE}/blog/on-grief/">grief</a>'
    assert lookups.asked == []


def test_each_reference_is_looked_up_once_per_read():
    lookups = SiteLookups({("images", 5): IMAGE})
    render_rich_text('<embed embedtype="image" id="5" alt="a"/>' * 3, lookups)
    render_rich_text('<embed embedtype="image" id="5" alt="b"/>', lookups)
    assert lookups.asked == [("images", 5)]


def test_what_the_api_cannot_look_up_falls_back_to_text_with_a_warning():
    lookups = SiteLookups({})
    stored = (
        '<p><a linktype="page" id="404">a draft</a>, <a linktype="document" id="3">a file</a></p>'
        '<embed embedtype="image" id="77" alt="gone"/><embed embedtype="gallery" id="1"/>'
    )
    rendered = render_rich_text(stored, lookups)
    assert rendered == "<p>a draft, a file</p>"
    warnings = " ".join(lookups.warnings())
    assert "links to pages" in warnings and "links to documents" in warnings and "images" in warnings


def test_media_embeds_become_players_the_cleaner_keeps_or_links():
    lookups = SiteLookups({})
    stored = (
        '<embed embedtype="media" url="https://www.youtube.com/watch?v=abcDEF12345"/>'
        '<embed embedtype="media" url="https://podcasts.example/episode/7"/>'
    )
    cleaned = clean_content(render_rich_text(stored, lookups), True, f"{SITE}/blog/x/").html
    assert 'src="https://www.youtube-nocookie.com/embed/abcDEF12345"' in cleaned
    assert '<a href="https://podcasts.example/episode/7"' in cleaned


def test_a_streamfield_body_renders_block_by_block_and_names_what_it_skipped():
    lookups = SiteLookups({("images", 5): IMAGE, ("pages", 9): PAGE})
    blocks = [
        {"type": "heading", "value": "Beginning again", "id": "a"},
        {"type": "paragraph", "value": '<p>Read <a linktype="page" id="9">this</a> first.</p>', "id": "b"},
        {"type": "image", "value": 5, "id": "c"},
        {"type": "quote", "value": "The curious paradox is that when I accept myself just as I am, then I can change.", "id": "d"},
        {"type": "embed", "value": "https://vimeo.com/76979871", "id": "e"},
        {"type": "raw_html", "value": '<p onclick="steal()">Raw <script>alert(1)</script>words</p>', "id": "f"},
        {"type": "callout", "value": {"title": "Book a session", "text": "Now open"}, "id": "g"},
    ]
    skipped: list[str] = []
    rendered = render_stream(blocks, lookups, skipped)
    assert rendered.startswith("<h2>Beginning again</h2>")
    assert f'<a href="{SITE}/blog/on-grief/">this</a>' in rendered
    assert f'<img src="{SITE}/media/original_images/room.jpg" alt="A quiet room">' in rendered
    assert "<blockquote><p>The curious paradox" in rendered
    assert skipped == ["callout"] and "Book a session" not in rendered
    cleaned = clean_content(rendered, True, f"{SITE}/blog/x/").html
    assert "player.vimeo.com/video/76979871" in cleaned
    assert "onclick" not in cleaned and "<script" not in cleaned and "Raw" in cleaned


def test_a_page_is_keyed_by_its_site_and_id_not_its_slug():
    item = {
        "id": 12, "title": "Naming the feeling",
        "meta": {"html_url": f"{SITE}/blog/naming/", "first_published_at": "2025-04-02T08:30:00Z"},
        "date": "2025-04-02", "last_published_at": "2025-05-01T10:00:00Z",
        "body": "<p>Words help.</p>", "tags": ["anxiety", {"name": "CBT"}], "author": {"name": "Ana Ruiz"},
    }  # fmt: skip
    entry = page_entry(item, FieldMap(), SITE, f"{SITE}/api/v2/pages/", SiteLookups({}), [])
    renamed = dict(item, meta={**item["meta"], "html_url": f"{SITE}/blog/naming-the-feeling/"})
    again = page_entry(renamed, FieldMap(), SITE, f"{SITE}/api/v2/pages/", SiteLookups({}), [])
    assert entry.key == again.key == f"{SITE}/api/v2/pages/12/"
    assert again.url == f"{SITE}/blog/naming-the-feeling/"
    assert entry.published.isoformat() == "2025-04-02T08:30:00+00:00"
    assert entry.updated.isoformat() == "2025-05-01T10:00:00+00:00"
    assert entry.categories == ("anxiety", "CBT") and entry.author == "Ana Ruiz"


def test_a_backdated_post_keeps_its_own_date():
    item = {"id": 3, "title": "Old post", "date": "2019-06-01", "body": "<p>x</p>",
            "meta": {"html_url": f"{SITE}/blog/old/", "first_published_at": "2025-01-10T09:00:00Z"}}  # fmt: skip
    entry = page_entry(item, FieldMap(), SITE, f"{SITE}/api/v2/pages/", SiteLookups({}), [])
    assert entry.published.isoformat() == "2019-06-01T00:00:00+00:00"


def test_a_field_map_from_feeds_yaml_picks_the_fields():
    config = parse_config(
        """
authors:
  - slug: ana
    name: Ana
    feeds:
      - url: https://therapy.example/api/v2/pages/?type=news.Article
        type: wagtail
        max_posts: 50
        fields: {content: story, summary: teaser, author: writer.full_name, tags: topics, image: hero}
""",
        Path("feeds.yaml"),
    )
    (_, feed), = config.feeds
    assert feed.source_options == {
        "fields": {"content": "story", "summary": "teaser", "author": "writer.full_name", "tags": "topics", "image": "hero"},
        "max_posts": 50,
    }
    fields = FieldMap.from_options(feed.source_options)
    item = {
        "id": 4, "title": "T", "meta": {"html_url": f"{SITE}/news/t/"},
        "story": "<p>The story.</p>", "teaser": "Short", "writer": {"full_name": "Ana Ruiz"}, "topics": ["grief"],
        "hero": {"id": 5, "title": "Hero", "meta": {"download_url": "/media/hero.jpg"}},
    }  # fmt: skip
    entry = page_entry(item, fields, SITE, f"{SITE}/api/v2/pages/", SiteLookups({}), [])
    assert entry.content == f'<img src="{SITE}/media/hero.jpg" alt="Hero">\n<p>The story.</p>'
    assert entry.author == "Ana Ruiz" and entry.categories == ("grief",)
    assert fields.wanted()[:4] == ["story", "teaser", "hero", "topics"]
