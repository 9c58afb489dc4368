"""The reader's pages and the combined output feeds."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, make_response, redirect, render_template, request, url_for
from flask.globals import request_ctx
from sqlalchemy.exc import DataError, SQLAlchemyError
from werkzeug.exceptions import BadHost, HTTPException, InternalServerError

from aggregator import reading, search
from aggregator.config import SiteConfig
from aggregator.opml import ExportFeed, ExportWriter, export_opml
from aggregator.settings import load_settings
from aggregator.tagging import tag_slug
from aggregator.web import db_session, health, notes, preferences, status, syndication
from aggregator.web.summaries import summary

log = logging.getLogger("aggregator.web")
blueprint = Blueprint("pages", __name__)
FEED_SIZE = 50
FILTER_CHOICES = 40  # the most used topics, offered in the filter form
MAX_FILTER_TAGS = 5
# A Host header: a name or IPv4 address in the characters RFC 3986 allows
# there, or an [IPv6] address, and an optional port. (Werkzeug's own check is
# stricter, and turns a name it refuses into an empty host, not an error.)
_HOST_HEADER = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=%-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?")
MAX_HOST_LENGTH = 253 + len(":65535")
MAX_SHOWN_SLUG = 80  # of an unknown slug echoed in a 404
UNSHOWN_REASONS = {
    "purged": "Its writer asked for their posts to be removed from the reading room.",
    "hidden": "Its writer asked for it to be taken down from the reading room.",
    "before since": "Its writer shares only their newer posts here.",
}


def site() -> SiteConfig:
    """The site settings that `aggregator sync` stored (defaults before the first sync), AGGREGATOR_BASE_URL applied."""
    if "site" not in g:
        g.site = load_settings(db_session()).site
    return g.site


def _tag_or_404(slug: str) -> reading.TagView:
    tag_view = reading.get_tag(db_session(), slug)
    if tag_view is None:
        abort(404, description=f"There is no tag “{slug[:MAX_SHOWN_SLUG]}”.")
    return tag_view


def _author_or_404(slug: str) -> reading.AuthorView:
    author_view = reading.get_author(db_session(), slug)
    if author_view is None:
        abort(404, description=f"There is no author “{slug[:MAX_SHOWN_SLUG]}” here.")
    return author_view


@blueprint.before_app_request
def refuse_malformed_requests() -> None:
    """Answer 400 to what no link or browser sends: a Host header that is
    no host name, or a NUL byte in the address (PostgreSQL refuses text
    that holds one, so it must not reach a query)."""
    host = request.headers.get("Host")
    if host is not None and (len(host) > MAX_HOST_LENGTH or not _HOST_HEADER.fullmatch(host)):
        abort(400, description="The Host header of this request is not a valid host name.")
    if "\x00" in request.path or any("\x00" in key + "".join(values) for key, values in request.args.lists()):
        abort(400, description="This address holds a character that no address of this site has.")


@blueprint.app_context_processor
def template_globals() -> dict[str, Any]:
    return {"site": _site_or_default(), "reading_classes": preferences.html_classes()}


def _site_or_default() -> SiteConfig:
    try:
        return site()
    except SQLAlchemyError:
        return SiteConfig()


def list_url(endpoint: str = "pages.index", *, tags: Sequence[str] = (), exclude: Sequence[str] = (), **values: Any) -> str:
    """The URL of a filtered list; `tags` and `exclude` become ?tag= and ?not=."""
    query: dict[str, Any] = {key: value for key, value in values.items() if value is not None}
    if tags:
        query["tag"] = list(tags)
    if exclude:
        query["not"] = list(exclude)
    return url_for(endpoint, **query)


def _aliases() -> dict[str, str]:
    return dict(load_settings(db_session()).aliases)


def _filters() -> tuple[list[str], list[str]]:
    """The ?tag= and ?not= slugs, normalised like stored tags, aliases followed."""
    aliases = _aliases() if request.args.getlist("tag") or request.args.getlist("not") else {}

    def slugs(name: str) -> list[str]:
        found = (tag_slug(value) for value in request.args.getlist(name))
        return [aliases.get(slug, slug) for slug in found if slug]

    tags = list(dict.fromkeys(slugs("tag")))
    exclude = [slug for slug in dict.fromkeys(slugs("not")) if slug not in tags]
    if len(tags) + len(exclude) > MAX_FILTER_TAGS:
        abort(400, description=f"Choose at most {MAX_FILTER_TAGS} tags at once.")
    return tags, exclude


def _cursor() -> reading.Cursor | None:
    text = request.args.get("before")
    if text is None:
        return None
    cursor = reading.Cursor.decode(text)
    if cursor is None:
        abort(400, description="That page link is broken; start again from the newest posts.")
    return cursor


def _hidden(tags: list[str], exclude: list[str]) -> list[str]:
    """Topics the reader hides always, unless this list asks for them."""
    return [slug for slug in notes.hidden_topics() if slug not in tags and slug not in exclude]


def _filtered_list(author_id: int | None = None) -> dict[str, Any]:
    """A page of entries narrowed by ?tag=, ?not= and the reader's hidden
    topics, with the filters as the template shows them."""
    tags, exclude = _filters()
    hidden = _hidden(tags, exclude)
    session = db_session()
    tag_views, exclude_views = reading.get_tags(session, tags), reading.get_tags(session, exclude)
    return {
        "page": reading.list_entries(session, tags=tags, exclude=exclude + hidden, author_id=author_id, before=_cursor()),
        "tags": tags,
        "exclude": exclude,
        "tag_views": tag_views,
        "exclude_views": exclude_views,
        "hidden_views": reading.get_tags(session, hidden),
        "filter_heading": filter_heading(_names(tags, tag_views), _names(exclude, exclude_views)),
    }


def filter_heading(names: list[str], without: list[str]) -> str:
    """A filter in words: "Trauma and Grief, without Neglect"."""
    wanted = _in_words(names, "and")
    unwanted = _in_words(without, "or")
    if wanted and unwanted:
        return f"{wanted}, without {unwanted}"
    return wanted or f"Everything but {unwanted}"


def _names(slugs: list[str], views: list[reading.TagView]) -> list[str]:
    known = {view.slug: view.name for view in views}
    return [known.get(slug, slug.replace("-", " ")) for slug in slugs]


def _in_words(names: list[str], joiner: str) -> str:
    names = [name[:1].upper() + name[1:] for name in names]
    return names[0] if len(names) == 1 else (f"{', '.join(names[:-1])} {joiner} {names[-1]}" if names else "")


@blueprint.get("/")
def index() -> str:
    listed = _filtered_list()
    session = db_session()
    all_tags = summary("tag-counts", lambda: reading.tag_counts(session))
    return render_template(
        "index.html",
        top_tags=all_tags[:12] if not listed["tags"] and not listed["exclude"] else [],
        filter_tags=sorted(all_tags[:FILTER_CHOICES], key=lambda pair: pair[0].name.casefold()),
        days=_by_day(listed["page"].entries),
        counts=summary("site-counts", lambda: reading.site_counts(session)),
        paged=request.args.get("before") is not None,
        **listed,
    )


def _by_day(entries: list[reading.EntryView]) -> list[tuple[date, list[reading.EntryView]]]:
    """Entries in runs of one (UTC) day, newest first, as the list shows them."""
    days: dict[date, list[reading.EntryView]] = {}
    for entry in entries:
        days.setdefault(entry.sort_time.astimezone(UTC).date(), []).append(entry)
    return list(days.items())


@blueprint.get("/search")
def search_page() -> str:
    query = " ".join(request.args.get("q", "").split())[: search.MAX_QUERY_LENGTH]
    tags, exclude = _filters()
    hidden = _hidden(tags, exclude)
    session = db_session()
    hits = search.search(session, query, tags=tags, exclude=exclude + hidden) if query else []
    return render_template(
        "search.html",
        query=query,
        hits=hits,
        nothing_to_find=bool(query) and search.parse_query(query).empty,
        tags=tags,
        exclude=exclude,
        tag_views=reading.get_tags(session, tags),
        exclude_views=reading.get_tags(session, exclude),
        hidden_views=reading.get_tags(session, hidden),
        topics=sorted(summary("tag-counts", lambda: reading.tag_counts(session))[:FILTER_CHOICES], key=lambda p: p[0].name.casefold()),
        limit=search.MAX_RESULTS,
    )


@blueprint.get("/tags")
def tags() -> str:
    session = db_session()
    return render_template("tags.html", tag_counts=summary("tag-counts", lambda: reading.tag_counts(session)))


@blueprint.get("/tag/<slug>")
def tag(slug: str) -> str | Response:
    target = _aliases().get(tag_slug(slug))
    if target and target != slug:
        return redirect(url_for("pages.tag", slug=target), 301)
    if request.args.getlist("tag") or request.args.getlist("not"):
        # Narrowing a topic is the front page's filter with this topic in it.
        query = {"tag": [slug, *request.args.getlist("tag")], "not": request.args.getlist("not")}
        return redirect(url_for("pages.index", **query), 302)
    tag_view = _tag_or_404(slug)
    hidden = _hidden([slug], [])
    page = reading.list_entries(db_session(), tags=[slug], exclude=hidden, before=_cursor())
    topic = load_settings(db_session()).vocabulary.topics.get(slug)  # a curated topic's label and description
    return render_template("tag.html", tag=tag_view, topic=topic, page=page, hidden_views=reading.get_tags(db_session(), hidden))


@blueprint.get("/authors")
def authors() -> str:
    """Every writer with a line of who they are; ?modality=emdr keeps those who practise it."""
    listed = reading.list_authors(db_session())
    modalities = modality_choices(author for author, _, _ in listed)
    wanted = tag_slug(request.args.get("modality", ""))[:MAX_SHOWN_SLUG]
    if wanted:
        listed = [row for row in listed if wanted in {tag_slug(m) for m in row[0].modalities}]
    return render_template(
        "authors.html", authors=listed, modalities=modalities, modality=wanted, modality_name=modalities.get(wanted, wanted)
    )


def modality_choices(authors) -> dict[str, str]:
    """{slug: name} of every modality the writers list, by name; the first spelling met names it."""
    found: dict[str, str] = {}
    for author in authors:
        for name in author.modalities:
            found.setdefault(tag_slug(name), name)
    return dict(sorted(((slug, name) for slug, name in found.items() if slug), key=lambda pair: pair[1].casefold()))


@blueprint.get("/author/<slug>")
def author(slug: str) -> str:
    author_view = _author_or_404(slug)
    session = db_session()
    feeds = reading.author_feeds(session, author_view.id)
    return render_template(
        "author.html",
        author=author_view,
        author_tags=summary(("author-tags", author_view.id), lambda: reading.tag_counts(session, author_id=author_view.id))[:20],
        feeds=feeds,
        # A wish of the writer's, or of any one of their feeds, keeps their page out of search engines.
        noindex=author_view.noindex or any(feed.noindex for feed in feeds),
        **_filtered_list(author_view.id),
    )


@blueprint.get("/entry/<int:entry_id>")
def entry(entry_id: int) -> str | Response:
    entry_view = reading.get_entry(db_session(), entry_id)
    if entry_view is None:
        if (retired := reading.retired_entry(db_session(), entry_id)) is not None:
            # Its writer was taken off the site, or the writer unpublished it:
            # gone for good here, and the original (if still there) is a click away.
            title, original, withdrawn = retired
            reason = "Its writer has unpublished it." if withdrawn else "Its writer is no longer listed here."
            return error_page(410, "This post has left the reading room", reason, post_title=title, original=original)
        why = reading.unshown_entry(db_session(), entry_id)
        if isinstance(why, int):
            return redirect(url_for("pages.entry", entry_id=why), 301)  # the same post, from another of the writer's feeds
        if why is not None:
            # Taken down or purged at the writer's request: neither its title nor its link is repeated.
            reason = UNSHOWN_REASONS[why]
            return error_page(410, "This post has left the reading room", reason)
        abort(404, description="There is no such post here; it may have been removed by its author.")
    entry_notes = notes.notes_for(entry_view)
    older, newer = reading.adjacent_entries(db_session(), entry_view)
    return render_template(
        "entry.html", entry=entry_view, notes=entry_notes, panels=notes.support_panels(entry_notes), older=older, newer=newer
    )


@blueprint.route("/settings", methods=["GET", "POST"])
def settings() -> str | Response:
    """Reading settings, kept in a cookie: no account, no JavaScript."""
    offered = preferences.topics_to_leave_out(db_session(), notes.configured_notes(), notes.hidden_topics())
    if request.method == "POST":
        response = redirect(url_for("pages.settings", saved=1), 303)
        can_leave_out = {topic.slug for topic, _ in offered}
        for name, value in (
            (notes.HIDE_COOKIE, notes.cookie_value([slug for slug in request.form.getlist("hide") if slug in can_leave_out])),
            (preferences.COOKIE, preferences.from_form(request.form)),
        ):
            if value:
                response.set_cookie(name, value, max_age=365 * 86400, samesite="Lax", httponly=True)
            else:
                response.delete_cookie(name, samesite="Lax", httponly=True)
        return response
    return render_template(
        "settings.html",
        topics=offered,
        hidden=set(notes.hidden_topics()),
        choices=preferences.CHOICES,
        chosen=preferences.current(),
        saved=request.args.get("saved") == "1",
    )


@blueprint.get("/feed.<any(atom, rss, json):kind>")
def feed_all(kind: str) -> Response:
    """Everything, or any filtered list: /feed.rss?tag=grief&not=suicide."""
    tags, exclude = _filters()
    current = site()
    page = reading.list_entries(db_session(), tags=tags, exclude=exclude, limit=FEED_SIZE, with_content=True)
    names = [tag.name for tag in reading.get_tags(db_session(), tags)]
    return _feed_response(
        kind,
        title=current.title + (" — " + ", ".join(names) if names else ""),
        subtitle=current.description,
        path=list_url("pages.feed_all", kind=kind, tags=tags, exclude=exclude),
        home=list_url("pages.index", tags=tags, exclude=exclude),
        entries=page.entries,
    )


@blueprint.get("/tag/<slug>/feed.<any(atom, rss, json):kind>")
def feed_tag(slug: str, kind: str) -> Response:
    tag_view = _tag_or_404(slug)
    page = reading.list_entries(db_session(), tags=[slug], limit=FEED_SIZE, with_content=True)
    return _feed_response(
        kind,
        title=f"{site().title} — {tag_view.name}",
        subtitle=f"Posts about {tag_view.name}",
        path=url_for("pages.feed_tag", slug=slug, kind=kind),
        home=url_for("pages.tag", slug=slug),
        entries=page.entries,
    )


@blueprint.get("/author/<slug>/feed.<any(atom, rss, json):kind>")
def feed_author(slug: str, kind: str) -> Response:
    author_view = _author_or_404(slug)
    page = reading.list_entries(db_session(), author_id=author_view.id, limit=FEED_SIZE, with_content=True)
    return _feed_response(
        kind,
        title=f"{author_view.name} — {site().title}",
        subtitle=author_view.bio or None,
        path=url_for("pages.feed_author", slug=slug, kind=kind),
        home=url_for("pages.author", slug=slug),
        entries=page.entries,
    )


@blueprint.get("/opml.xml")
def opml() -> Response:
    """The subscription list: every feed the public can subscribe to, writer by writer, as OPML 2.0."""
    session = db_session()
    current = site()
    writers = []
    for author_view, _, _ in reading.list_authors(session):
        feeds = tuple(
            ExportFeed(
                source=feed.source, url=feed.moved_to or feed.location, title=feed.title, html_url=feed.site_url,
                type=feed.type, syndication_url=(feed.source_state or {}).get("syndication_feed") or None,
            )
            for feed in reading.author_feeds(session, author_view.id)
            if feed.gone_at is None
        )
        writers.append(ExportWriter(author_view.slug, author_view.name, author_view.homepage, feeds))
    body = export_opml(title=f"{current.title}: the writers", owner_url=current.base_url, date=datetime.now(UTC), writers=writers)
    return Response(body, mimetype="text/x-opml")


def _feed_response(kind: str, *, title: str, subtitle: str | None, path: str, home: str, entries: list) -> Response:
    base_url = site().base_url
    document = syndication.OutputFeed(
        title=title,
        subtitle=subtitle,
        feed_url=base_url + path,
        home_url=base_url + home,
        base_url=base_url,
        entries=entries,
        notes={entry.id: [note.text for note in notes.notes_for(entry)] for entry in entries},
    )
    response = Response(syndication.render(kind, document), mimetype=syndication.MEDIA_TYPES[kind])
    response.last_modified = document.updated
    return response


def register(app: Flask) -> None:
    app.register_blueprint(blueprint)
    app.register_blueprint(status.blueprint)
    app.register_blueprint(health.blueprint)
    # Globals, not context variables, so that imported macros see them too.
    app.jinja_env.globals.update(list_url=list_url, notes_for=notes.notes_for)
    _register_error_pages(app)


ERROR_TITLES = {
    400: "That request did not make sense",
    404: "Page not found",
    405: "This page cannot do that",
    413: "That request is too large",
    431: "That request's headers are too large",
    500: "Something went wrong on our side",
}
# Our words for an error whose description is Werkzeug's generic one.
PLAIN_MESSAGES = {
    400: "This address or request is malformed.",
    404: "There is nothing at this address.",
    413: "That request sent more than this site accepts.",
    500: "The error has been logged. Please try again in a moment.",
}


def _register_error_pages(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        """Every error in the site's own page, with the error's headers
        kept (Allow on a 405, Retry-After on a 503)."""
        status = error.code or 500
        message = error.description or ""
        if isinstance(error, BadHost):
            message = "The Host header of this request is not a valid host name."
        elif status == 405:
            message = "This address does not answer that kind of request."
        elif message == type(error).description or isinstance(error, InternalServerError):
            message = PLAIN_MESSAGES.get(status, message)
        response = error_page(status, ERROR_TITLES.get(status, error.name), message)
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(DataError)
    def refused_value(error: DataError) -> Response:
        # A value from the request that the database cannot hold (a number
        # past its integers, a NUL byte in text) is the request's fault. The
        # checks before each query should have caught it, hence a warning.
        log.warning("the database refused a value from the request: %s", error.orig)
        db_session().rollback()
        return error_page(400, ERROR_TITLES[400], PLAIN_MESSAGES[400])

    @app.errorhandler(SQLAlchemyError)
    def database_error(error: SQLAlchemyError) -> Response:
        log.error("database error: %s", error)
        return error_page(
            503, "The reading room is briefly closed", "The database is not answering. Please try again in a minute."
        )


def error_page(status: int, title: str, message: str, **context: Any) -> Response:
    """The site's error page; it renders even for a request Werkzeug could not route."""
    _bind_urls_without_host()
    return make_response(render_template("error.html", status=status, title=title, message=message, **context), status)


def _bind_urls_without_host() -> None:
    """Give the request a URL adapter where Werkzeug could not bind one.

    A Host header that is no name under IDNA (a label over 63 characters,
    an empty label) makes Werkzeug refuse to bind the URL map: the request
    fails with BadHost (400) before routing and keeps no URL adapter, so
    every url_for on the error page raised and the 400 became a 500 on
    every route (Flask leaves this to the application). The page's links
    are relative, so any host name builds them.
    """
    context = request_ctx._get_current_object()
    if context.url_adapter is None:
        context.url_adapter = current_app.url_map.bind(
            "localhost", script_name=request.script_root or "/", url_scheme=request.scheme
        )
