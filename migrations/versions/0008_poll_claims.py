"""One poll of a feed at a time: who holds the feed's claim, and until when.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feeds", sa.Column("polled_by", sa.String(200)))
    op.add_column("feeds", sa.Column("polling_until", sa.DateTime()))


def downgrade() -> None:
    op.drop_column("feeds", "polling_until")
    op.drop_column("feeds", "polled_by")
