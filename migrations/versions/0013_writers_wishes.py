"""Writers as people, and each writer's wishes.

Authors gain what a reader choosing a therapist-writer wants to know
(pronouns, credentials, modalities, populations, location) and their wishes
as feeds.yaml gives them on the author (display, since, noindex, license,
and the links of posts taken down: hide). Feeds hold the wishes in force for
their posts, their own value or else their author's, so that every list
reads them from the feed row it already joins.

Entries gain hidden_at (taken down at the writer's request, kept so that
the curator can undo it), and is_copy with an index on (author, link): a
post carried by two of one writer's feeds is shown once, and only the
entries marked as a possible copy cost a look for the other. purged_entries keeps only the ids
of posts deleted at a writer's request, so that their pages answer 410.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

EMPTY_LIST = sa.text("'[]'")


def upgrade() -> None:
    op.add_column("authors", sa.Column("pronouns", sa.Text()))
    op.add_column("authors", sa.Column("credentials", sa.JSON(), nullable=False, server_default=EMPTY_LIST))
    op.add_column("authors", sa.Column("modalities", sa.JSON(), nullable=False, server_default=EMPTY_LIST))
    op.add_column("authors", sa.Column("populations", sa.JSON(), nullable=False, server_default=EMPTY_LIST))
    op.add_column("authors", sa.Column("location", sa.Text()))
    op.add_column("authors", sa.Column("display", sa.String(10)))
    op.add_column("authors", sa.Column("since", sa.DateTime()))
    op.add_column("authors", sa.Column("noindex", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("authors", sa.Column("license", sa.Text()))
    op.add_column("authors", sa.Column("hide", sa.JSON(), nullable=False, server_default=EMPTY_LIST))
    op.add_column("feeds", sa.Column("display", sa.String(10), nullable=False, server_default="full"))
    op.add_column("feeds", sa.Column("since", sa.DateTime()))
    op.add_column("feeds", sa.Column("noindex", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("feeds", sa.Column("license", sa.Text()))
    op.add_column("entries", sa.Column("hidden_at", sa.DateTime()))
    op.add_column("entries", sa.Column("is_copy", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_entries_author_url", "entries", ["author_id", "url"])
    # Written as each database writes the test of a boolean column, so that its planner sees the index fits.
    op.create_index(
        "ix_entries_copies", "entries", ["id"], sqlite_where=sa.text("is_copy = 1"), postgresql_where=sa.text("is_copy")
    )
    op.create_table(
        "purged_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("purged_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("purged_entries")
    op.drop_index("ix_entries_copies", table_name="entries")
    op.drop_index("ix_entries_author_url", table_name="entries")
    op.drop_column("entries", "is_copy")
    op.drop_column("entries", "hidden_at")
    for column in ("license", "noindex", "since", "display"):
        op.drop_column("feeds", column)
    for column in ("hide", "license", "noindex", "since", "display", "location", "populations", "modalities", "credentials", "pronouns"):
        op.drop_column("authors", column)
