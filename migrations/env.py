"""Alembic environment: runs migrations on the connection the caller gives.

`aggregator.db.migrate()` passes its connection in `config.attributes`; the
`alembic -c migrations/alembic.ini ...` command line (for writing new
migrations) connects to DATABASE_URL instead.
"""

from alembic import context

from aggregator.db import make_engine
from aggregator.models import Base, is_mapped_schema_object

target_metadata = Base.metadata


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies tables.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=is_mapped_schema_object,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = make_engine()
    with engine.begin() as own_connection:
        run_migrations(own_connection)
    engine.dispose()
