"""Video embeds answered without the network: the tests have no internet,
and oEmbed lookups would otherwise be made on every page and feed render."""

from __future__ import annotations

import re

from wagtail.embeds.finders.base import EmbedFinder

YOUTUBE = re.compile(r"^https?://(?:www\.)?(?:youtube\.com/watch\?v=|youtu\.be/)([\w-]{6,})")
VIMEO = re.compile(r"^https?://(?:www\.)?vimeo\.com/(\d+)")


class OfflineVideoFinder(EmbedFinder):
    def __init__(self, **options: object) -> None:
        pass

    def accept(self, url: str) -> bool:
        return bool(YOUTUBE.match(url) or VIMEO.match(url))

    def find_embed(self, url: str, max_width: int | None = None, max_height: int | None = None) -> dict:
        if match := YOUTUBE.match(url):
            provider, src = "YouTube", f"https://www.youtube.com/embed/{match.group(1)}"
        elif match := VIMEO.match(url):
            provider, src = "Vimeo", f"https://player.vimeo.com/video/{match.group(1)}"
        else:
            raise ValueError(f"not a YouTube or Vimeo URL: {url}")
        return {
            "title": f"A video on {provider}",
            "author_name": "",
            "provider_name": provider,
            "type": "video",
            "thumbnail_url": None,
            "width": 640,
            "height": 360,
            "html": (
                f'<iframe width="640" height="360" src="{src}" frameborder="0" '
                'allow="encrypted-media; picture-in-picture" allowfullscreen></iframe>'
            ),
        }
