"""Database engines and the schema's migrations.

SQLite is the default (a file in an `instance/` folder beside the feeds
file, wherever the command runs from), PostgreSQL the way to grow;
`DATABASE_URL` chooses. Engines are made per process: RQ forks a
work horse per job, and a connection pool must never cross a fork.
"""

from __future__ import annotations

import os
import re
import shlex
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from aggregator.config import default_config_path
from aggregator.resources import resource_dir

DEFAULT_SQLITE_FILE = Path("instance") / "aggregator.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Any fixed number shared by every process that may migrate the same database.
MIGRATION_LOCK_ID = 7_202_611
POSTGRES_PORT = 5432

_MISSING_DATABASE = re.compile(r'database "(?P<name>[^"]+)" does not exist')
# psycopg's "connection failed: connection to server at "h", port p failed: FATAL:  ..."
_CONNECTION_PREAMBLE = re.compile(r"^(connection failed: )?(connection to server at .*? failed: )?(FATAL:\s+)?")


def database_url(config_path: Path | None = None) -> str:
    """DATABASE_URL, else the SQLite file beside the feeds file (default: $AGGREGATOR_CONFIG, ./feeds.yaml)."""
    return os.environ.get("DATABASE_URL") or default_database_url(config_path)


def default_database_url(config_path: Path | None = None) -> str:
    folder = (config_path or default_config_path()).resolve().parent
    return URL.create("sqlite", database=str(folder / DEFAULT_SQLITE_FILE)).render_as_string()


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for other databases and in-memory ones."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def is_missing_database(error: SQLAlchemyError) -> bool:
    """Whether the server answered that the database does not exist: no use waiting for it."""
    return _MISSING_DATABASE.search(str(getattr(error, "orig", None) or error)) is not None


def describe_database_error(url: str, error: SQLAlchemyError) -> str:
    """Say in one line what went wrong opening `url`, and what to do for a missing PostgreSQL database."""
    parsed = make_url(normalize_url(url))
    cause = str(getattr(error, "orig", None) or error)
    missing = _MISSING_DATABASE.search(cause)
    if parsed.get_backend_name() == "postgresql" and missing:
        host, port = parsed.host or "localhost", parsed.port or POSTGRES_PORT
        user = ["-U", parsed.username] if parsed.username else []
        createdb = shlex.join(["createdb", "-h", host, "-p", str(port), *user, missing["name"]])
        return f"the PostgreSQL database {missing['name']} does not exist on {host}:{port}; create it with: {createdb}"
    details = [line.strip() for line in cause.splitlines() if line.strip()]
    details[:1] = [_CONNECTION_PREAMBLE.sub("", details[0])] if details else [type(error).__name__]
    details[1:] = [detail[:1].lower() + detail[1:] for detail in details[1:]]
    return f"cannot open the database {parsed.render_as_string(hide_password=True)}: {'; '.join(details)}"


def normalize_url(url: str) -> str:
    """Use psycopg 3 (which we ship) for plain `postgresql://` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str | None = None, *, writer: bool = False, **kwargs: Any) -> Engine:
    """Create an engine for `url` (default: DATABASE_URL, else the SQLite file).

    A `writer` engine's transactions on SQLite take the write lock when they
    begin: a transaction that reads and then writes would otherwise fail at
    once ("database is locked") when another process wrote in between,
    instead of waiting its turn.
    """
    url = normalize_url(url or database_url())
    if make_url(url).get_backend_name() == "sqlite":
        if (path := sqlite_file(url)) is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        event.listen(engine, "connect", _configure_sqlite)
        begin = "BEGIN IMMEDIATE" if writer else "BEGIN"
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql(begin))
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    # The sqlite3 module's own transaction handling begins late and never
    # for SELECT; SQLAlchemy's "begin" event above does it instead.
    dbapi_connection.isolation_level = None
    # WAL lets the site read while a poll writes; foreign keys are off in
    # SQLite unless asked for on every connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]):
    """A session whose work is committed on success and rolled back on error."""
    with factory() as session, session.begin():
        yield session


def alembic_config() -> Any:
    """Alembic's configuration for our migrations, which ship with the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest migration (a no-op when it is there)."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two processes starting at once must not both create the tables.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
