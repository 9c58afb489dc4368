"""Poll counters and scheduler liveness, for /metrics and /healthz.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poll_counts",
        sa.Column("result", sa.String(20), primary_key=True),
        sa.Column("polls", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("entries_new", sa.Integer(), nullable=False),
        sa.Column("entries_updated", sa.Integer(), nullable=False),
    )
    op.create_table(
        "poll_duration_buckets",
        sa.Column("result", sa.String(20), primary_key=True),
        sa.Column("le_ms", sa.Integer(), primary_key=True),
        sa.Column("polls", sa.Integer(), nullable=False),
    )
    op.create_table(
        "scheduler_liveness",
        sa.Column("scheduler", sa.String(20), primary_key=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_round_at", sa.DateTime()),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("queue_depth", sa.Integer()),
    )


def downgrade() -> None:
    op.drop_table("scheduler_liveness")
    op.drop_table("poll_duration_buckets")
    op.drop_table("poll_counts")
