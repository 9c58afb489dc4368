"""A writer taken off the site: their posts answer 410 Gone with a link to the original, and leave every list and feed."""

from __future__ import annotations

import feedparser
import pytest
from sqlalchemy import select

from aggregator.db import make_engine
from aggregator.models import Author, Entry
from aggregator.search import search
from aggregator.web import create_app
from tests.helpers import feeds_yaml, poll_all, write_and_sync

THERAPIST = "therapist-rss20.xml"
COUNSELLOR = "counsellor-atom10.xml"


@pytest.fixture
def retired_post(database_url, sessions, tmp_path, feed_server):
    """Two writers polled, then samuel taken out of feeds.yaml; yields (client, samuel's post)."""
    both = {"maren": [feed_server.url(THERAPIST)], "samuel": [feed_server.url(COUNSELLOR)]}
    write_and_sync(sessions, tmp_path, feeds_yaml(both))
    assert all(outcome.result == "ok" for outcome in poll_all(sessions))
    with sessions() as session:
        post = session.scalars(
            select(Entry).join(Author, Entry.author_id == Author.id).where(Author.slug == "samuel").order_by(Entry.id)
        ).first()
    # Search found it while its writer was listed.
    word = max(post.title.split(), key=len)
    with sessions() as session:
        assert post.id in [hit.entry.id for hit in search(session, word)]
    write_and_sync(sessions, tmp_path, feeds_yaml({"maren": [feed_server.url(THERAPIST)]}))
    engine = make_engine(database_url)
    yield create_app(engine=engine, TESTING=True).test_client(), post
    engine.dispose()


def test_a_retired_writers_post_is_gone_with_a_link_to_the_original(retired_post):
    client, post = retired_post
    response = client.get(f"/entry/{post.id}")
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "This post has left the reading room" in page
    assert f'href="{post.url}"' in page and post.title in page
    assert client.get("/entry/999999").status_code == 404  # never stored: still a plain 404


def test_a_retired_writers_posts_leave_every_list_and_feed(retired_post):
    client, post = retired_post
    word = max(post.title.split(), key=len)
    for path in ("/", "/tags", "/authors", f"/search?q={word}", "/search?q=samuel"):
        assert post.title not in client.get(path).get_data(as_text=True), path
    assert client.get("/author/samuel").status_code == 404
    for path in ("/feed.atom", "/feed.rss", "/feed.json"):
        assert post.title not in client.get(path).get_data(as_text=True), path
    assert post.url not in [item.link for item in feedparser.parse(client.get("/feed.atom").data).entries]
