"""What the last full read of a feed warned about, for /status.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feeds", sa.Column("last_warnings", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    op.drop_column("feeds", "last_warnings")
