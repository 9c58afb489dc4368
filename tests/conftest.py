"""Fixtures: a feed server on 127.0.0.1, real SQLite and PostgreSQL databases,
the real Redis, and the `aggregator` command run as a user runs it.

Tests that need PostgreSQL or Redis skip, with a loud line in the summary,
when the service is missing, unless AGGREGATOR_REQUIRE_ALL=1 (set by
.ci/run), under which they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from aggregator.db import make_engine, migrate, session_factory
from aggregator.models import Base
from tests.feedserver import FeedServer
from tests.wagtailsite import wagtail_site  # noqa: F401 - the session's real Wagtail blog, for any test

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent
POSTGRES_ADMIN_URL = os.environ.get("AGGREGATOR_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _redis_test_url() -> str:
    """Database 13 of the real Redis (or AGGREGATOR_TEST_REDIS's) for the first
    test process, the next one for each other (make test runs two): each
    process flushes only its own."""
    base = urlsplit(os.environ.get("AGGREGATOR_TEST_REDIS", "redis://127.0.0.1:6379/13"))
    process = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    return urlunsplit(base._replace(path=f"/{int(base.path.strip('/') or 0) + process}"))


REDIS_TEST_URL = _redis_test_url()
REQUIRE_ALL = os.environ.get("AGGREGATOR_REQUIRE_ALL") == "1"

_missing_services: dict[str, str] = {}


def _service_missing(name: str, reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"{name} is required (AGGREGATOR_REQUIRE_ALL=1) but unavailable: {reason}", pytrace=False)
    _missing_services[name] = reason
    pytest.skip(f"{name} unavailable: {reason}")


def require_chromium() -> None:
    """Skip (or, under AGGREGATOR_REQUIRE_ALL=1, fail) without Debian's Chromium."""
    from tests.browser import chromium_missing

    reason = chromium_missing()
    if reason:
        _service_missing("Chromium", reason)


_UNAVAILABLE = re.compile(r"(PostgreSQL|Redis|Chromium) unavailable: (.*)")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # With several test processes, the skips happen in the others: their
    # reports reach this one, which prints the summary.
    if report.skipped and isinstance(report.longrepr, tuple):
        found = _UNAVAILABLE.search(str(report.longrepr[2]))
        if found:
            _missing_services.setdefault(found.group(1), found.group(2))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, reason in _missing_services.items():
        terminalreporter.write_line(
            f"!!! TESTS SKIPPED: {name} unavailable ({reason}). This run does not prove the {name} paths; "
            "CI (AGGREGATOR_REQUIRE_ALL=1) fails instead of skipping.",
            red=True,
            bold=True,
        )


# -- feeds ---------------------------------------------------------------------


@pytest.fixture
def feed_dir(tmp_path: Path) -> Path:
    """A copy of tests/fixtures/feeds that a test may change."""
    target = tmp_path / "feeds"
    shutil.copytree(FIXTURES / "feeds", target)
    return target


@pytest.fixture
def feed_server(feed_dir: Path) -> Iterator[FeedServer]:
    with FeedServer(feed_dir) as server:
        yield server


# -- databases -----------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"aggregator_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        admin.dispose()
        _missing_services["PostgreSQL"] = str(exc).splitlines()[0]
        yield ""
        return
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_postgres(url: str) -> None:
    """Empty every table; rebuild the schema if a test took part of it away."""
    engine = make_engine(url)
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    except ProgrammingError:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        migrate(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database: SQLite in a temp file, or PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'aggregator.sqlite3'}"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        return url
    url = request.getfixturevalue("postgres_url")
    if not url:
        _service_missing("PostgreSQL", _missing_services.get("PostgreSQL", "cannot connect"))
    _empty_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'aggregator.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url, writer=True)
    yield session_factory(engine)
    engine.dispose()


# -- redis ---------------------------------------------------------------------


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The real Redis, on a database number of its own, flushed before and after."""
    from redis import Redis

    connection = Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except Exception as exc:  # noqa: BLE001
        _service_missing("Redis", str(exc))
    connection.flushdb()
    yield REDIS_TEST_URL
    connection.flushdb()
    connection.close()


# -- the command line ----------------------------------------------------------


class AggregatorCommand:
    """Runs `aggregator ...` in a subprocess with a chosen environment."""

    def __init__(self, cwd: Path, env: dict[str, str]):
        self.cwd = cwd
        self.env = env

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "aggregator", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"aggregator {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result


@pytest.fixture
def run_aggregator(tmp_path: Path) -> AggregatorCommand:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL", "AGGREGATOR_CONFIG")}
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    return AggregatorCommand(tmp_path, env)


def write_config(directory: Path, body: str) -> Path:
    path = directory / "feeds.yaml"
    path.write_text(body, encoding="utf-8")
    return path
