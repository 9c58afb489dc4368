"""Wagtail pages API sources: their options and what a poll remembers; withdrawn entries.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feeds", sa.Column("source_options", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("feeds", sa.Column("source_state", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("entries", sa.Column("withdrawn_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("entries", "withdrawn_at")
    op.drop_column("feeds", "source_state")
    op.drop_column("feeds", "source_options")
