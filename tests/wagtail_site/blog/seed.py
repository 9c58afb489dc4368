"""Build the blog from an empty database in a few seconds.

Tables come straight from the models (settings.MIGRATION_MODULES), so the
rows that Wagtail's data migrations would have made are made here: the
locale, the root collection, the root page and the default site."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from wagtail.coreutils import get_supported_content_language_variant
from wagtail.images.formats import get_image_formats
from wagtail.images.models import Image
from wagtail.models import Collection, Locale, Page, Site
from wagtail.signal_handlers import disable_reference_index_auto_update

from .authoring import publish_post
from .content import COMMON, POSTS, SEED_POST_AFTER, PostText, seed_post
from .media import HEADER_DRAWINGS, INLINE_DRAWINGS, upload_handout, upload_image
from .models import BlogIndexPage, HomePage

# The seeded posts span about two years, up to yesterday.
SPAN = dt.timedelta(days=730)
PLACEHOLDER = re.compile(r"\{(page|image|document):([\w-]+)\}")
HEADER_RENDITIONS = ["fill-400x300", "fill-800x400"]


def create_tables() -> None:
    call_command("migrate", run_syncdb=True, interactive=False, verbosity=0)


def create_site(port: int) -> BlogIndexPage:
    locale = Locale.objects.create(language_code=get_supported_content_language_variant(settings.LANGUAGE_CODE))
    Collection.add_root(name="Root")
    root = Page.add_root(instance=Page(title="Root", slug="root", locale=locale))
    home = root.add_child(instance=HomePage(title=settings.WAGTAIL_SITE_NAME, slug="home"))
    Site.objects.create(
        hostname="127.0.0.1", port=port, root_page=home, is_default_site=True, site_name=settings.WAGTAIL_SITE_NAME
    )
    return home.add_child(instance=BlogIndexPage(title="Blog", slug="blog"))


def chronological() -> list[PostText]:
    posts = list(POSTS)
    after = next(index for index, post in enumerate(posts) if post.key == SEED_POST_AFTER)
    posts.insert(after + 1, seed_post())
    return posts


def publishing_times(count: int, today: dt.date) -> list[dt.datetime]:
    """Oldest first, the newest yesterday (never in the future), each at
    its own time of the morning."""
    cadence = dt.timedelta(days=SPAN.days // count)
    times = []
    for number in range(count):
        date = today - dt.timedelta(days=1) - cadence * (count - 1 - number)
        times.append(dt.datetime.combine(date, dt.time(7 + number % 4, number * 7 % 60, tzinfo=dt.UTC)))
    return times


def seed_posts() -> None:
    headers = [upload_image(drawing) for drawing in HEADER_DRAWINGS]
    inline = {key: upload_image(drawing) for key, (drawing, _alt) in INLINE_DRAWINGS.items()}
    known: dict[str, dict[str, Any]] = {
        "image": inline,
        "document": {key: upload_handout(key) for key in ("grounding", "worry-time")},
        "page": {},
    }
    posts = chronological()
    for number, (text, published_at) in enumerate(zip(posts, publishing_times(len(posts), timezone.now().date()))):
        if text.stream:
            kind, body = "article", [(block, _fill(value, known)) for block, value in text.stream]
        else:
            closing = "" if text.key == "oxytocin" else COMMON[number % len(COMMON)] + COMMON[(number + 5) % len(COMMON)]
            kind, body = "blog", _fill(text.body, known) + closing
        page = publish_post(
            text.title,
            body,
            intro=text.intro,
            tags=text.tags,
            date=published_at.date(),
            author=text.author,
            kind=kind,
            header_image=headers[number % len(headers)],
            published_at=published_at,
        )
        known["page"][text.key] = page
    _make_renditions(headers, list(inline.values()))


def _fill(value: Any, known: dict[str, dict[str, Any]]) -> Any:
    """Put ids in for placeholders in rich text, and the object itself for
    a whole-value placeholder (a StreamField image block)."""
    if not isinstance(value, str):
        return {name: _fill(part, known) for name, part in value.items()} if isinstance(value, dict) else value
    if whole := PLACEHOLDER.fullmatch(value):
        return known[whole[1]][whole[2]]
    return PLACEHOLDER.sub(lambda match: str(known[match[1]][match[2]].pk), value)


def _make_renditions(headers: list[Image], inline: list[Image]) -> None:
    """Make the renditions pages and the API ask for now, rather than in
    several server threads at once on the first requests."""
    for image in headers:
        image.get_renditions(*HEADER_RENDITIONS)
    inline_specs = {image_format.filter_spec for image_format in get_image_formats()} | {"original"}
    for image in inline:
        image.get_renditions(*inline_specs)


def build(port: int) -> None:
    create_tables()
    # The reference index serves the admin's usage counts, which nobody
    # reads here; Wagtail skips it the same way when loading fixtures.
    with transaction.atomic(), disable_reference_index_auto_update():
        create_site(port)
        seed_posts()
