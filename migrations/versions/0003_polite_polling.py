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
    op.add_column("feeds", sa.Column("interval_fixed", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("feeds", sa.Column("body_hash", sa.String(64)))
    op.add_column("feeds", sa.Column("moved_to", sa.Text()))
    op.add_column("feeds", sa.Column("gone_at", sa.DateTime()))
    op.add_column("feeds", sa.Column("retry_after", sa.DateTime()))
    # Finding an entry again when its feed changed its guid: by link, or by title and date.
    op.create_index("ix_entries_feed_url", "entries", ["feed_id", "url"])


def downgrade() -> None:
    op.drop_index("ix_entries_feed_url", table_name="entries")
    op.drop_column("feeds", "retry_after")
    op.drop_column("feeds", "gone_at")
    op.drop_column("feeds", "moved_to")
    op.drop_column("feeds", "body_hash")
    op.drop_column("feeds", "interval_fixed")
