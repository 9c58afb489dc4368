"""Enclosures: the files an entry carries (podcast episodes, videos, workbooks).

Every feed is read in full once more at its next poll (as after new
cleaning rules), so that the episodes stored before this table existed get
their files; entries without any keep their content hash and are not
written again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enclosures",
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("media_type", sa.String(200)),
        sa.Column("length", sa.BigInteger()),
        sa.Column("duration_seconds", sa.Integer()),
    )
    op.execute("UPDATE feeds SET cleaned_with = NULL")


def downgrade() -> None:
    op.drop_table("enclosures")
