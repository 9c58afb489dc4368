"""The web site: an app factory, one blueprint of pages, Jinja templates.

Pages only read (aggregator.reading); the poll path writes. Every response
carries a Content-Security-Policy that allows no inline script, no plugins
and no frames, so that even a sanitizer slip cannot run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aggregator.clean import EMBED_HOSTS
from aggregator.config import base_url_from_environment
from aggregator.db import make_engine, session_factory
from aggregator.resources import resource_dir
from aggregator.web import dates
from aggregator.web.summaries import DEFAULT_TTL, Summaries

CACHEABLE_TYPES = frozenset({
    "text/html", "application/atom+xml", "application/rss+xml", "application/feed+json", "text/x-opml",
})  # fmt: skip
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    # Posts show images from their authors' sites.
    "img-src 'self' https: http:",
    # and the audio and video they put in their posts (never data: or blob:).
    "media-src https: http:",
    "object-src 'none'",
    # Only the video players that clean.py builds, sandboxed.
    "frame-src " + " ".join(EMBED_HOSTS),
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])  # fmt: skip


def create_app(database_url: str | None = None, *, engine: Engine | None = None, **settings: Any) -> Flask:
    """Create the site. `engine` wins over `database_url`, which wins over DATABASE_URL.

    With none of them, the database is the SQLite file beside the feeds file
    ($AGGREGATOR_CONFIG, else ./feeds.yaml), as for the `aggregator` command.
    A bad AGGREGATOR_BASE_URL is refused here, at start, not on every page.
    """
    base_url_from_environment()
    app = Flask(
        __name__,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
        static_url_path="/static",
    )
    # Static files are named with a hash of their content (?v=...), so they
    # can be cached for a year: a new stylesheet is a new URL.
    app.config.update(SEND_FILE_MAX_AGE_DEFAULT=365 * 86400, **settings)
    static_version = _content_version(resource_dir("static"))
    engine = engine or make_engine(database_url)
    app.extensions["aggregator.engine"] = engine
    app.extensions["aggregator.sessions"] = session_factory(engine)
    app.extensions["aggregator.summaries"] = Summaries(app.config.get("SUMMARY_TTL", DEFAULT_TTL))

    app.jinja_env.filters.update(
        ago=dates.ago, exact_time=dates.exact, iso_time=dates.iso, day_label=dates.day_label, day_key=dates.day_key
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.teardown_appcontext
    def close_session(exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.after_request
    def conditional_get(response):
        # Pages and feeds answer If-None-Match (and feeds If-Modified-Since)
        # with 304: a reader's browser or feed reader asking again costs no
        # bytes. Pages depend on the reading-settings cookies, hence Vary.
        if (
            request.method in ("GET", "HEAD")
            and response.status_code == 200
            and not response.direct_passthrough
            and response.mimetype in CACHEABLE_TYPES
        ):
            response.add_etag()
            response.headers["Cache-Control"] = "no-cache"
            response.vary.add("Cookie")
            response.make_conditional(request)
        return response

    app.jinja_env.globals["static_version"] = static_version

    from aggregator.web import pages

    pages.register(app)
    return app


def _content_version(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def db_session() -> Session:
    """The request's database session, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["aggregator.sessions"]()
    return g.db_session
