"""The Alembic migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from aggregator.db import make_engine, migrate
from aggregator.models import Base, is_mapped_schema_object
from tests.helpers import migrate_to


def test_migrations_match_the_models(database_url):
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": is_mapped_schema_object}
            )
            differences = compare_metadata(context, Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_migrate_is_idempotent(database_url):
    engine = make_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"authors", "feeds", "entries", "tags", "entry_tags", "settings", "alembic_version"} <= tables
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode(sqlite_url):
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_plain_postgresql_urls_use_psycopg3():
    from aggregator.db import normalize_url

    assert normalize_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_upgrading_a_database_with_entries_keeps_them(tmp_path):
    """From the first schema, holding an entry with a tag, to the newest."""
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}", writer=True)
    try:
        migrate_to(engine, "0001")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO authors (id, slug, name, bio, created_at) VALUES (1, 'a', 'A', '', '2026-01-01')"))
            connection.execute(text(
                "INSERT INTO feeds (id, author_id, source, location, tags, interval_seconds, error_count, created_at) "
                "VALUES (1, 1, 'https://a.example/f', 'https://a.example/f', '[]', 1800, 0, '2026-01-01')"
            ))
            connection.execute(text(
                "INSERT INTO entries (id, feed_id, author_id, key_hash, title, content_html, summary_text, content_hash, "
                "first_seen_at, last_changed_at, sort_time) VALUES (1, 1, 1, 'k', 'Kept', '<p>x</p>', 'x', 'h', "
                "'2026-01-01', '2026-01-01', '2026-01-01')"
            ))
            connection.execute(text("INSERT INTO tags (id, slug, name) VALUES (1, 'grief', 'Grief')"))
            connection.execute(text("INSERT INTO entry_tags (entry_id, tag_id) VALUES (1, 1)"))
        migrate(engine)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT title, word_count, is_teaser FROM entries")).one() == ("Kept", 0, 0)
            assert connection.execute(text("SELECT count(*) FROM entry_tags")).scalar() == 1
            assert connection.execute(text("SELECT interval_fixed FROM feeds")).scalar() == 0
    finally:
        engine.dispose()
