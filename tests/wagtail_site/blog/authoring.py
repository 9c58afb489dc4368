"""What a writer does in the Wagtail admin, done through the same revisions
and publishing actions: the seed and the tests' helpers both go this way,
so history, redirects and `last_published_at` behave as on a real site."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.utils import timezone
from django.utils.text import slugify
from wagtail.images.models import Image
from wagtail.models import Page

from .models import POST_TYPES, ArticlePage, Author, BlogIndexPage, BlogPage, Post

KINDS: dict[str, type[Post]] = {"blog": BlogPage, "article": ArticlePage}

# A post given only a date was published that morning.
PUBLISHING_TIME = dt.time(9, 0, tzinfo=dt.UTC)
PUBLICATION_TIMES = ("first_published_at", "last_published_at")


def blog_index() -> BlogIndexPage:
    return BlogIndexPage.objects.get(slug="blog")


def author_named(name: str | None) -> Author | None:
    if not name:
        return None
    return Author.objects.get_or_create(name=name)[0]


def live_posts() -> list[Post]:
    """Every live post, newest first."""
    posts = [post for model in POST_TYPES for post in _loaded(model.objects.live())]
    return sorted(posts, key=lambda post: (post.first_published_at, post.pk), reverse=True)


def get_post(page_id: int) -> Post:
    for model in POST_TYPES:
        found = _loaded(model.objects.filter(pk=page_id))
        if found:
            return found[0]
    raise LookupError(f"no blog post with page id {page_id}")


def _loaded(queryset: Any) -> list[Post]:
    """Posts with what tests read most already fetched, so that reading them
    in another thread asks nothing more of the database."""
    return list(queryset.select_related("author", "header_image").prefetch_related("tags").order_by("pk"))


def free_slug(parent: Page, title: str) -> str:
    base = slugify(title)[:200] or "post"
    taken = set(parent.get_children().values_list("slug", flat=True))
    slug, number = base, 1
    while slug in taken:
        number += 1
        slug = f"{base}-{number}"
    return slug


def publish_post(
    title: str,
    body: Any,
    *,
    intro: str = "",
    tags: Iterable[str] = (),
    date: dt.date | None = None,
    author: str | Author | None = None,
    kind: str = "blog",
    header_image: Image | None = None,
    published_at: dt.datetime | None = None,
) -> Post:
    """Create a post under the blog index and publish it through a revision.

    `body` is stored HTML for "blog" and StreamField data ((type, value)
    pairs, or the raw JSON list) for "article". It goes out as first
    published `published_at`, else at 09:00 UTC on `date`, else now."""
    index = blog_index()
    if published_at is None and date is not None:
        published_at = dt.datetime.combine(date, PUBLISHING_TIME)
    page = KINDS[kind](
        title=title,
        slug=free_slug(index, title),
        date=date or timezone.now().date(),
        intro=intro,
        body=body,
        author=author if isinstance(author, Author) or author is None else author_named(author),
        header_image=header_image,
        live=False,
        # Publishing keeps a first_published_at that is already set.
        first_published_at=published_at,
    )
    index.add_child(instance=page)
    page.tags.set(list(tags))
    page.save_revision().publish()
    if published_at is not None:
        # An old post was last published when it was first published.
        Page.objects.filter(pk=page.pk).update(last_published_at=published_at)
    return get_post(page.pk)


def edit_post(page_id: int, **fields: Any) -> Post:
    """Change fields and publish a new revision (so last_published_at moves).

    `author` may be a name; `tags` replaces the post's tags. Publishing
    sets the publication times itself, so given ones are written after it."""
    page = get_post(page_id)
    timestamps = {name: fields.pop(name) for name in PUBLICATION_TIMES if name in fields}
    for name, value in fields.items():
        if name == "tags":
            page.tags.set(list(value))
        elif name == "author" and not isinstance(value, Author):
            page.author = author_named(value)
        elif hasattr(page, name):
            setattr(page, name, value)
        else:
            raise AttributeError(f"{type(page).__name__} has no field {name!r}")
    page.save_revision().publish()
    if timestamps:
        Page.objects.filter(pk=page_id).update(**timestamps)
    return get_post(page_id)


def unpublish_post(page_id: int) -> None:
    Page.objects.get(pk=page_id).specific.unpublish()


def republish_post(page_id: int) -> Post:
    page = Page.objects.get(pk=page_id).specific
    page.get_latest_revision().publish()
    return get_post(page_id)


def rename_post(page_id: int, new_slug: str) -> tuple[str, str]:
    """Give the post a new slug through a published revision; Wagtail then
    redirects (301) the old URL. Returns the old and new full URLs."""
    page = get_post(page_id)
    old_url = page.full_url
    page.slug = new_slug
    page.save_revision().publish()
    return old_url, get_post(page_id).full_url
