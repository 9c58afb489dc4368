"""A real Wagtail blog (tests/wagtail_site/) served on 127.0.0.1 for the session.

`wagtail_site` builds it in a scratch folder (SQLite, uploaded media) and
serves it with a threaded WSGI server until the session ends. The seed: 34
BlogPages and 3 ArticlePages (StreamField, every block type and a custom
`callout`), by two writers, first published on distinct mornings over two
years up to yesterday; their stored rich text holds page links, document
links, inline images and YouTube/Vimeo embeds (answered offline).

    api_url / article_api_url   the pages API listing of each post type
    rss_url / atom_url          the blog's Django syndication feeds
    posts(), post(id)           posts fresh from the database (author, header
                                image and tags.all() loaded; anything else
                                queries from the calling thread)
    publish, edit, unpublish, republish, rename
                                what a writer does in the admin, through revisions
    break_api(after_offset)     API listings answer 500 from that offset on
    requests, reset_requests()  what the site was asked, in order

The site is shared by every test of the session and tests change it, so a
test must not assume exact counts: "at least 30 posts", "the post I
published is there". Django runs once per process, so this is the only
Django site a session can have.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    import datetime as dt
    from types import ModuleType

    from tests.wagtail_site.blog.models import Post
    from tests.wagtail_site.middleware import Controls

T = TypeVar("T")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the site's own request log is in WagtailSite.requests


def _authoring() -> ModuleType:
    from tests.wagtail_site.blog import authoring  # its models need Django set up

    return authoring


class WagtailSite:
    def __init__(
        self, base_url: str, database: ThreadPoolExecutor, controls: Controls, startup_seconds: float, build_seconds: float
    ):
        self.base_url = base_url
        self.api_url = f"{base_url}/api/v2/pages/?type=blog.BlogPage"
        self.article_api_url = f"{base_url}/api/v2/pages/?type=blog.ArticlePage"
        self.rss_url = f"{base_url}/blog/rss/"
        self.atom_url = f"{base_url}/blog/atom/"
        self.index_url = f"{base_url}/blog/"
        self.startup_seconds = startup_seconds  # from nothing to serving
        self.build_seconds = build_seconds  # of which: tables, site and seeded posts
        # Every ORM call of the helpers runs in this one thread: it keeps one
        # connection, closed at the end, and works even when the test's own
        # thread runs an event loop (Playwright's sync API), where Django
        # refuses database calls.
        self._database = database
        self._controls = controls

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _db(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self._database.submit(work, *args, **kwargs).result()

    def posts(self) -> list[Post]:
        """Every live BlogPage and ArticlePage, newest first."""
        return self._db(_authoring().live_posts)

    def post(self, page_id: int) -> Post:
        """One post, live or not (author, header image and tags loaded)."""
        return self._db(_authoring().get_post, page_id)

    def publish(
        self,
        title: str,
        body: Any,
        *,
        intro: str = "",
        tags: tuple[str, ...] | list[str] = (),
        date: dt.date | None = None,
        author: str | None = None,
        kind: str = "blog",
    ) -> Post:
        """Publish a new post through a revision; first published now, or at
        09:00 UTC on `date`.

        `body`: stored rich text HTML for kind="blog"; for kind="article",
        StreamField data such as [("paragraph", "<p>..</p>"), ("heading", "..")].
        `author`: a writer's name (a new one becomes a snippet), or None."""
        return self._db(
            _authoring().publish_post, title, body, intro=intro, tags=tags, date=date, author=author, kind=kind
        )

    def edit(self, page_id: int, **fields: Any) -> Post:
        """Change fields (title, intro, body, tags, author, date, ...) and
        publish a new revision, which moves last_published_at to now. As
        Publish in the admin, it puts an unpublished post live again."""
        return self._db(_authoring().edit_post, page_id, **fields)

    def unpublish(self, page_id: int) -> None:
        self._db(_authoring().unpublish_post, page_id)

    def republish(self, page_id: int) -> Post:
        return self._db(_authoring().republish_post, page_id)

    def rename(self, page_id: int, new_slug: str) -> tuple[str, str]:
        """Publish a new slug; the old URL then answers 301 to the new one.
        Returns (old full URL, new full URL)."""
        return self._db(_authoring().rename_post, page_id, new_slug)

    @contextmanager
    def break_api(self, after_offset: int = 20) -> Iterator[None]:
        """API listings (pages, images, documents) asked with offset >=
        `after_offset` answer 500 inside the block."""
        self._controls.break_api_from = after_offset
        try:
            yield
        finally:
            self._controls.break_api_from = None

    @contextmanager
    def without_validators(self) -> Iterator[None]:
        """Inside the block the site sends no ETag or Last-Modified and ignores conditional requests."""
        from tests.wagtail_site.middleware import controls

        controls.validators = False
        try:
            yield
        finally:
            controls.validators = True

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path with query) of each request served since the start
        or the last reset_requests(), in order."""
        return self._controls.requests()

    def reset_requests(self) -> None:
        self._controls.reset_requests()


def _start_django(port: int, folder: Path) -> Callable[..., Any]:
    """Configure Django for the site on `port`; return its WSGI application."""
    os.environ["WAGTAIL_SITE_PORT"] = str(port)
    os.environ["WAGTAIL_SITE_DIR"] = str(folder)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.wagtail_site.settings"
    import django
    from django.core.handlers.wsgi import WSGIHandler

    django.setup()
    return WSGIHandler()


@contextmanager
def _serving(folder: Path) -> Iterator[WagtailSite]:
    started = time.perf_counter()
    application: list[Callable[..., Any]] = []

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return application[0](environ, start_response)

    # Bound first (on a free port the system picks), because the settings
    # must know the port and Django reads them only once.
    server: BaseWSGIServer = make_server("127.0.0.1", 0, wsgi, threaded=True, request_handler=_QuietHandler)
    database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wagtail-site-db")
    try:
        application.append(_start_django(server.server_port, folder))
        from tests.wagtail_site.blog.seed import build
        from tests.wagtail_site.middleware import controls

        building = time.perf_counter()
        database.submit(build, server.server_port).result()
        build_seconds = time.perf_counter() - building
        thread = threading.Thread(target=server.serve_forever, name="wagtail-site", daemon=True)
        thread.start()
        try:
            startup_seconds = time.perf_counter() - started
            base_url = f"http://127.0.0.1:{server.server_port}"
            yield WagtailSite(base_url, database, controls, startup_seconds, build_seconds)
        finally:
            server.shutdown()
            thread.join(10)
    finally:
        server.server_close()
        from django.db import connections

        database.submit(connections.close_all).result()
        database.shutdown()
        connections.close_all()


class _Shared:
    """The one site of the process. Django is configured once per process,
    so a module that imports the fixture beside conftest's (pytest then
    holds two session fixtures) gets the same site, not a second one."""

    site: WagtailSite | None = None
    users = 0
    stack = ExitStack()
    failure: BaseException | None = None


@pytest.fixture(scope="session")
def wagtail_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WagtailSite]:
    if _Shared.failure is not None:
        raise RuntimeError("the Wagtail site failed to start earlier in this session") from _Shared.failure
    if _Shared.site is None:
        try:
            _Shared.site = _Shared.stack.enter_context(_serving(tmp_path_factory.mktemp("wagtail-site")))
        except BaseException as error:
            _Shared.failure = error
            raise
    _Shared.users += 1
    try:
        yield _Shared.site
    finally:
        _Shared.users -= 1
        if _Shared.users == 0:
            _Shared.failure = RuntimeError("the Wagtail site has stopped; it cannot start twice in one process")
            _Shared.stack.close()
