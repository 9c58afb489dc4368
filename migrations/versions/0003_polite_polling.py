"""Polite polling: body hashes, permanent moves, gone feeds, Retry-After,
fixed or adaptive intervals.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("interval_fixed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("body_hash", sa.String(64)))
        batch.add_column(sa.Column("moved_to", sa.Text()))
        batch.add_column(sa.Column("gone_at", sa.DateTime()))
        batch.add_column(sa.Column("retry_after", sa.DateTime()))
    with op.batch_alter_table("entries") as batch:
        # Finding an entry again when its feed changed its guid: by link, or by title and date.
        batch.create_index("ix_entries_feed_url", ["feed_id", "url"])


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_index("ix_entries_feed_url")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("retry_after")
        batch.drop_column("gone_at")
        batch.drop_column("moved_to")
        batch.drop_column("body_hash")
        batch.drop_column("interval_fixed")
