"""The version of the cleaning rules each feed's entries were cleaned with.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feeds", sa.Column("cleaned_with", sa.String(64)))


def downgrade() -> None:
    op.drop_column("feeds", "cleaned_with")
