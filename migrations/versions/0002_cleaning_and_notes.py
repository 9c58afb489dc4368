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
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("content_text", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("word_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("is_teaser", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("content_notes", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("boilerplate", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("boilerplate")
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("content_notes")
        batch.drop_column("is_teaser")
        batch.drop_column("word_count")
        batch.drop_column("content_text")
