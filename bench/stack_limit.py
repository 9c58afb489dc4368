"""The limit of our own stack for one poll of many feeds: the reference of issue 12.

Run by bench/poll_bench.py with the project's .venv python:

    .venv/bin/python bench/stack_limit.py URLS_FILE DATABASE_FILE

For each feed address in URLS_FILE (one a line), in one process: a GET with
httpx (conditional, from the validators the previous run stored), feedparser
without its own sanitizing or URL resolving, one reused bleach Cleaner with
the allowlist of aggregator/clean.py, and one batched upsert per feed with
SQLAlchemy Core. Nothing else: no boilerplate rules, no excerpts, no tags,
no search rows, no schedule. A pipeline built on these parts cannot cost less.
"""

from __future__ import annotations

import sys
from pathlib import Path

import bleach
import feedparser
import httpx
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, UniqueConstraint, create_engine, select
from sqlalchemy.dialects.sqlite import insert

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aggregator.clean import ALLOWED_ATTRIBUTES, ALLOWED_PROTOCOLS, ALLOWED_TAGS  # noqa: E402

metadata = MetaData()
feeds = Table(
    "feeds", metadata,
    Column("url", String, primary_key=True), Column("etag", Text), Column("last_modified", Text), Column("title", Text),
)  # fmt: skip
entries = Table(
    "entries", metadata,
    Column("id", Integer, primary_key=True), Column("feed_url", String), Column("guid", String),
    Column("title", Text), Column("link", Text), Column("content", Text), Column("published", Text),
    UniqueConstraint("feed_url", "guid"),
)  # fmt: skip


def main() -> None:
    urls = Path(sys.argv[1]).read_text(encoding="utf-8").split()
    engine = create_engine(f"sqlite:///{sys.argv[2]}")
    metadata.create_all(engine)
    cleaner = bleach.sanitizer.Cleaner(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, protocols=ALLOWED_PROTOCOLS, strip=True)
    with engine.begin() as connection:
        validators = {row.url: row for row in connection.execute(select(feeds))}
    with httpx.Client(timeout=30, trust_env=False) as client:
        for url in urls:
            known = validators.get(url)
            headers = {}
            if known is not None and known.etag:
                headers["If-None-Match"] = known.etag
            if known is not None and known.last_modified:
                headers["If-Modified-Since"] = known.last_modified
            response = client.get(url, headers=headers)
            if response.status_code == 304:
                continue
            response.raise_for_status()
            parsed = feedparser.parse(response.content, sanitize_html=False, resolve_relative_uris=False)
            rows = []
            for entry in parsed.entries:
                content = entry.get("content")
                html = content[0].value if content else entry.get("summary", "")
                rows.append({
                    "feed_url": url, "guid": entry.get("id") or entry.get("link"), "title": entry.get("title"),
                    "link": entry.get("link"), "content": cleaner.clean(html), "published": entry.get("published"),
                })  # fmt: skip
            with engine.begin() as connection:
                if rows:
                    statement = insert(entries)
                    connection.execute(
                        statement.on_conflict_do_update(
                            index_elements=["feed_url", "guid"],
                            set_={name: statement.excluded[name] for name in ("title", "link", "content", "published")},
                        ),
                        rows,
                    )
                feed_row = {
                    "url": url, "etag": response.headers.get("etag"),
                    "last_modified": response.headers.get("last-modified"), "title": parsed.feed.get("title"),
                }  # fmt: skip
                statement = insert(feeds).values(feed_row)
                connection.execute(statement.on_conflict_do_update(index_elements=["url"], set_=feed_row))
    engine.dispose()


if __name__ == "__main__":
    main()
