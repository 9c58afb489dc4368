"""Search finds a post by its topics and its writer's name as well.

A new column, entries.search_terms, holds the names of the post's tags and
of its writer (the author of feeds.yaml and the feed's own byline); it is
written with the entry and backfilled here. SQLite's entries_fts index and
PostgreSQL's search_vector are rebuilt with it as a third part.

PostgreSQL's vector moves to a text search configuration of our own,
`reading_room`, that reads words as SQLite's FTS5 tokenizer does: accents
folded (the unaccent extension), stemmed with the original Porter algorithm
(FTS5's `porter`, not the Snowball `english` stemmer), and no stop words
dropped (FTS5 keeps them): the same query then finds the same posts on both.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXED_BEFORE = ("title", "content_text")
INDEXED_NOW = ("title", "content_text", "search_terms")

# Writer, byline, then the tag names; {names} is the dialect's string
# aggregate over the entry's tag names.
BACKFILL = """UPDATE entries SET search_terms = trim(
    coalesce((SELECT name FROM authors WHERE authors.id = entries.author_id), '') || ' ' ||
    coalesce(author_name, '') || ' ' ||
    coalesce((SELECT {names} FROM entry_tags JOIN tags ON tags.id = entry_tags.tag_id
              WHERE entry_tags.entry_id = entries.id), ''))"""
TAG_NAMES = {"sqlite": "group_concat(tags.name, ' ')", "postgresql": "string_agg(tags.name, ' ')"}


def sqlite_index(columns: tuple[str, ...]) -> list[str]:
    """Create entries_fts over `columns`, kept in step by triggers, and fill it."""
    listed = ", ".join(columns)
    new = ", ".join(f"new.{column}" for column in columns)
    old = ", ".join(f"old.{column}" for column in columns)
    return [
        f"""CREATE VIRTUAL TABLE entries_fts USING fts5(
            {listed}, content='entries', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2')""",
        f"""CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
            INSERT INTO entries_fts(rowid, {listed}) VALUES (new.id, {new});
        END""",
        f"""CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
            INSERT INTO entries_fts(entries_fts, rowid, {listed}) VALUES ('delete', old.id, {old});
        END""",
        f"""CREATE TRIGGER entries_fts_update AFTER UPDATE OF {listed} ON entries BEGIN
            INSERT INTO entries_fts(entries_fts, rowid, {listed}) VALUES ('delete', old.id, {old});
            INSERT INTO entries_fts(rowid, {listed}) VALUES (new.id, {new});
        END""",
        "INSERT INTO entries_fts(entries_fts) VALUES ('rebuild')",
    ]


SQLITE_DROP_INDEX = [
    "DROP TRIGGER entries_fts_update",
    "DROP TRIGGER entries_fts_delete",
    "DROP TRIGGER entries_fts_insert",
    "DROP TABLE entries_fts",
]


POSTGRES_CONFIGURATION = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH DICTIONARY reading_room_porter (TEMPLATE = snowball, Language = porter)",
    "CREATE TEXT SEARCH CONFIGURATION reading_room (COPY = english)",
    # The word types english sends to its stemmer; numbers, hosts, URLs and
    # the rest keep english's 'simple' treatment.
    """ALTER TEXT SEARCH CONFIGURATION reading_room
        ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part
        WITH unaccent, reading_room_porter""",
]
POSTGRES_DROP_CONFIGURATION = [
    "DROP TEXT SEARCH CONFIGURATION reading_room",
    "DROP TEXT SEARCH DICTIONARY reading_room_porter",
]


def postgres_vector(columns: tuple[str, ...], configuration: str, text_of: str = "coalesce({}, '')") -> list[str]:
    """Add search_vector over `columns` (weights A, B, C in that order), indexed."""
    weighted = " ||\n        ".join(
        f"setweight(to_tsvector('{configuration}', {text_of.format(column)}), '{weight}')"
        for column, weight in zip(columns, "ABC")
    )
    return [
        f"ALTER TABLE entries ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (\n        {weighted}) STORED",
        # Kept in the row, not moved out to TOAST: ranking reads the vector of
        # every match (see 0004).
        "ALTER TABLE entries ALTER COLUMN search_vector SET STORAGE MAIN",
        "CREATE INDEX ix_entries_search ON entries USING gin (search_vector)",
    ]


POSTGRES_DROP_VECTOR = ["DROP INDEX ix_entries_search", "ALTER TABLE entries DROP COLUMN search_vector"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    # The old index goes first: the backfill then writes each row once.
    for statement in SQLITE_DROP_INDEX if dialect == "sqlite" else POSTGRES_DROP_VECTOR:
        op.execute(statement)
    op.add_column("entries", sa.Column("search_terms", sa.Text(), nullable=False, server_default=""))
    op.execute(BACKFILL.format(names=TAG_NAMES[dialect]))
    if dialect == "sqlite":
        statements = sqlite_index(INDEXED_NOW)
    else:
        # PostgreSQL's parser reads "<dialog>" in a text as markup and skips it.
        text_of = "translate(coalesce({}, ''), '<>', '  ')"
        statements = POSTGRES_CONFIGURATION + postgres_vector(INDEXED_NOW, "reading_room", text_of)
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_DROP_INDEX if dialect == "sqlite" else POSTGRES_DROP_VECTOR:
        op.execute(statement)
    op.drop_column("entries", "search_terms")
    if dialect == "sqlite":
        statements = sqlite_index(INDEXED_BEFORE)
    else:
        # The unaccent extension stays: other things may use it by now.
        statements = POSTGRES_DROP_CONFIGURATION + postgres_vector(INDEXED_BEFORE, "english")
    for statement in statements:
        op.execute(statement)
