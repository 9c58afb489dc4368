"""Authors' avatars and social links, from feeds.yaml.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("authors", sa.Column("avatar", sa.Text()))
    op.add_column("authors", sa.Column("links", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    op.drop_column("authors", "links")
    op.drop_column("authors", "avatar")
