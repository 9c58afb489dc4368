"""The blog's RSS and Atom feeds, as most Django sites write them: a
description only (the body as display HTML), no full-content element."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.utils.feedgenerator import Atom1Feed
from wagtail.models import Page
from wagtail.rich_text import expand_db_html

from .models import POST_TYPES, ArticlePage, Post


class PostsFeed(Feed):
    title = settings.WAGTAIL_SITE_NAME
    link = "/blog/"
    description = "Notes from a psychotherapist's practice: attachment, grief, anxiety and the slow work of healing."

    def items(self) -> list[Post]:
        return list(Page.objects.live().type(*POST_TYPES).specific().order_by("-first_published_at", "-pk"))

    def item_title(self, item: Post) -> str:
        return item.title

    def item_description(self, item: Post) -> str:
        if isinstance(item, ArticlePage):
            return str(item.body.render_as_block())
        return expand_db_html(item.body)

    def item_link(self, item: Post) -> str:
        return item.full_url

    def item_pubdate(self, item: Post) -> datetime | None:
        return item.first_published_at

    def item_updateddate(self, item: Post) -> datetime | None:
        return item.last_published_at

    def item_author_name(self, item: Post) -> str | None:
        return item.author.name if item.author else None

    def item_categories(self, item: Post) -> list[str]:
        return sorted(item.tags.names())


class AtomPostsFeed(PostsFeed):
    feed_type = Atom1Feed
    subtitle = PostsFeed.description
