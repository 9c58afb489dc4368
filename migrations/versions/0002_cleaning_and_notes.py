"""Entry text, reading length, teaser flag and declared content notes;
curators' boilerplate rules per feed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (SQLite does it in place; a batch copy of the table
    # would trip the foreign keys of entry_tags).
    op.add_column("entries", sa.Column("content_text", sa.Text(), nullable=False, server_default=""))
    op.add_column("entries", sa.Column("word_count", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("entries", sa.Column("is_teaser", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("entries", sa.Column("content_notes", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.add_column("feeds", sa.Column("boilerplate", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    op.drop_column("feeds", "boilerplate")
    op.drop_column("entries", "content_notes")
    op.drop_column("entries", "is_teaser")
    op.drop_column("entries", "word_count")
    op.drop_column("entries", "content_text")
