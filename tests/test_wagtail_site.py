"""The test Wagtail blog itself: what the Wagtail source's tests lean on."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urljoin
from xml.etree import ElementTree

import httpx
import pytest

from tests.wagtailsite import WagtailSite

ATOM = "{http://www.w3.org/2005/Atom}"


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10)


def all_items(site: WagtailSite, url: str) -> list[dict]:
    """Every item of an API listing, page by page as a consumer reads it."""
    items: list[dict] = []
    while True:
        page = get(f"{url}&offset={len(items)}").json()
        items += page["items"]
        if not page["items"] or len(items) >= page["meta"]["total_count"]:
            return items


def test_startup_time(wagtail_site: WagtailSite) -> None:
    print(
        f"\nWagtail site serving after {wagtail_site.startup_seconds:.2f} s, "
        f"of which {wagtail_site.build_seconds:.2f} s for tables and seed"
    )


def test_api_lists_posts_twenty_at_a_time(wagtail_site: WagtailSite) -> None:
    first = get(wagtail_site.api_url).json()
    total = first["meta"]["total_count"]
    assert total >= 30
    assert len(first["items"]) == 20
    second = get(f"{wagtail_site.api_url}&offset=20").json()
    assert second["meta"]["total_count"] == total
    assert len(second["items"]) == min(20, total - 20)
    assert not {item["id"] for item in first["items"]} & {item["id"] for item in second["items"]}
    assert get(f"{wagtail_site.api_url}&limit=21").status_code == 400  # WAGTAILAPI_LIMIT_MAX stays 20


def test_api_gives_rich_text_in_wagtails_stored_form(wagtail_site: WagtailSite) -> None:
    items = all_items(wagtail_site, f"{wagtail_site.api_url}&fields=body,author,tags,header_image_thumbnail")
    bodies = " ".join(item["body"] for item in items)
    for stored in ('<a linktype="page" id="', '<a linktype="document" id="', '<embed embedtype="image" id="'):
        assert stored in bodies
    assert '<embed embedtype="media" url="https://www.youtube.com/watch?v=' in bodies
    assert "<p>Signup to my Mailing List</p>" in bodies  # the real post, its debris kept
    assert {item["author"]["name"] for item in items if item["author"]} >= {"Dr. Miriam Hale", "Tomás Reyes"}
    assert "self-compassion" in {tag for item in items for tag in item["tags"]}
    thumbnail = items[0]["header_image_thumbnail"]
    assert (thumbnail["width"], thumbnail["height"]) == (400, 300)
    assert get(thumbnail["full_url"]).headers["content-type"] == "image/jpeg"


def test_article_bodies_use_every_block(wagtail_site: WagtailSite) -> None:
    items = all_items(wagtail_site, f"{wagtail_site.article_api_url}&fields=body")
    assert len(items) >= 2
    for item in items:
        kinds = {block["type"] for block in item["body"]}
        assert kinds == {"paragraph", "heading", "image", "quote", "embed", "raw_html", "callout"}
        callout = next(block for block in item["body"] if block["type"] == "callout")
        assert set(callout["value"]) == {"title", "text"}


def test_api_orders_by_last_published_at(wagtail_site: WagtailSite) -> None:
    response = get(f"{wagtail_site.api_url}&order=-last_published_at&fields=last_published_at")
    assert response.status_code == 200
    times = [item["last_published_at"] for item in response.json()["items"]]
    assert times == sorted(times, reverse=True)


def test_images_and_documents_are_downloadable(wagtail_site: WagtailSite) -> None:
    images = get(f"{wagtail_site.base_url}/api/v2/images/").json()
    assert images["meta"]["total_count"] >= 6
    image = get(images["items"][0]["meta"]["detail_url"]).json()
    picture = get(urljoin(wagtail_site.base_url, image["meta"]["download_url"]))
    assert picture.status_code == 200
    assert picture.content[:3] == b"\xff\xd8\xff"  # a JPEG

    documents = get(f"{wagtail_site.base_url}/api/v2/documents/").json()
    assert documents["meta"]["total_count"] >= 2
    pdf = next(item for item in documents["items"] if item["meta"]["download_url"].endswith(".pdf"))
    download = get(urljoin(wagtail_site.base_url, pdf["meta"]["download_url"]))
    assert download.status_code == 200
    assert download.content.startswith(b"%PDF")


def test_feeds_carry_every_post_as_a_description(wagtail_site: WagtailSite) -> None:
    live = wagtail_site.posts()
    rss = ElementTree.fromstring(get(wagtail_site.rss_url).content)
    items = rss.findall("./channel/item")
    assert [item.findtext("title") for item in items] == [post.title for post in live]
    for item in items:
        assert item.findtext("description")
        assert item.find("{http://purl.org/rss/1.0/modules/content/}encoded") is None
    descriptions = " ".join(item.findtext("description") or "" for item in items)
    assert 'src="https://www.youtube.com/embed/' in descriptions  # the offline embed finder
    assert 'src="https://player.vimeo.com/video/' in descriptions

    atom = ElementTree.fromstring(get(wagtail_site.atom_url).content)
    entries = atom.findall(f"{ATOM}entry")
    assert len(entries) == len(live)
    assert all(entry.find(f"{ATOM}summary") is not None and entry.find(f"{ATOM}content") is None for entry in entries)


def test_a_renamed_post_redirects_permanently(wagtail_site: WagtailSite) -> None:
    post = wagtail_site.publish("Reading-room test post", "<p>Soon to be renamed.</p>", tags=["grief"])
    old_url, new_url = wagtail_site.rename(post.id, f"renamed-{post.id}")
    assert old_url != new_url
    moved = get(old_url)
    assert moved.status_code == 301
    assert urljoin(old_url, moved.headers["location"]) == new_url
    assert get(new_url).status_code == 200


def test_unpublishing_removes_a_post_and_republishing_restores_it(wagtail_site: WagtailSite) -> None:
    post = wagtail_site.publish("Reading-room test post", "<p>Here, then gone.</p>", date=dt.date(2025, 3, 1))
    assert post.first_published_at == dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
    detail = f"{wagtail_site.base_url}/api/v2/pages/{post.id}/"
    assert get(detail).status_code == 200

    wagtail_site.unpublish(post.id)
    assert get(detail).status_code == 404
    assert post.id not in {item["id"] for item in all_items(wagtail_site, wagtail_site.api_url)}
    assert post.id not in {live.id for live in wagtail_site.posts()}

    republished = wagtail_site.republish(post.id)
    assert republished.first_published_at == post.first_published_at
    assert get(detail).status_code == 200


def test_an_edit_moves_last_published_at(wagtail_site: WagtailSite) -> None:
    post = wagtail_site.publish("Reading-room test post", "<p>First draft.</p>", date=dt.date(2025, 4, 1))
    edited = wagtail_site.edit(post.id, body="<p>Second thoughts.</p>", tags=["CBT", "anxiety"], author="Tomás Reyes")
    assert edited.last_published_at > post.last_published_at
    assert edited.first_published_at == post.first_published_at
    item = get(f"{wagtail_site.base_url}/api/v2/pages/{post.id}/").json()
    assert item["body"] == "<p>Second thoughts.</p>"
    assert item["tags"] == ["CBT", "anxiety"]
    assert item["author"]["name"] == "Tomás Reyes"


def test_articles_can_be_published(wagtail_site: WagtailSite) -> None:
    post = wagtail_site.publish(
        "Reading-room test article",
        [("heading", "A heading"), ("paragraph", "<p>A paragraph.</p>"), ("callout", {"title": "T", "text": "x"})],
        kind="article",
    )
    item = get(f"{wagtail_site.base_url}/api/v2/pages/{post.id}/").json()
    assert [block["type"] for block in item["body"]] == ["heading", "paragraph", "callout"]
    assert "<aside class=\"callout\">" in get(post.full_url).text


@pytest.mark.parametrize("offset, status", [(0, 200), (20, 500), (40, 500)])
def test_break_api_fails_listings_from_an_offset(wagtail_site: WagtailSite, offset: int, status: int) -> None:
    with wagtail_site.break_api(after_offset=20):
        assert get(f"{wagtail_site.api_url}&offset={offset}").status_code == status
    assert get(f"{wagtail_site.api_url}&offset={offset}").status_code == 200


def test_the_request_log_counts_what_was_asked(wagtail_site: WagtailSite) -> None:
    wagtail_site.reset_requests()
    total = len(all_items(wagtail_site, wagtail_site.api_url))
    get(wagtail_site.rss_url)
    get(f"{wagtail_site.base_url}/no-such-page/")
    assert wagtail_site.requests == [
        *(("GET", f"/api/v2/pages/?type=blog.BlogPage&offset={offset}") for offset in range(0, total, 20)),
        ("GET", "/blog/rss/"),
        ("GET", "/no-such-page/"),
    ]
