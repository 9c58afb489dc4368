"""Failures an operator meets on day one answer in one line, with what to do, and no traceback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_ADMIN_URL, _missing_services, _service_missing
from tests.helpers import feeds_yaml


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another program listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.fixture
def missing_postgres_database(postgres_url: str) -> Iterator[str]:
    """The URL of a database that does not exist on the real PostgreSQL server."""
    if not postgres_url:
        _service_missing("PostgreSQL", _missing_services.get("PostgreSQL", "cannot connect"))
    name = f"aggregator_missing_{uuid.uuid4().hex[:10]}"
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_serve_on_a_taken_port_says_so_before_polling(tmp_path, run_aggregator, taken_port, feed_server, sqlite_url):
    (tmp_path / "feeds.yaml").write_text(feeds_yaml({"maren": [feed_server.url("therapist-rss20.xml")]}), encoding="utf-8")
    run_aggregator.env["DATABASE_URL"] = sqlite_url
    result = run_aggregator("serve", "--port", str(taken_port), check=False, timeout=30)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert line.startswith(f"aggregator: port {taken_port} on 127.0.0.1 is in use; choose another with --port ")
    suggested = int(line.split("--port ")[1].split()[0])
    assert suggested != taken_port and f"(or PORT={suggested} make run)" in line
    assert feed_server.requests == []  # the port is checked before the first round
    with socket.socket() as probe:  # and the suggested port is one that can be taken
        probe.bind(("127.0.0.1", suggested))


def test_serve_on_an_address_this_machine_lacks_says_so(tmp_path, run_aggregator, sqlite_url):
    (tmp_path / "feeds.yaml").write_text(feeds_yaml({"maren": ["https://maren.example/feed.xml"]}), encoding="utf-8")
    run_aggregator.env["DATABASE_URL"] = sqlite_url
    # 192.0.2.0/24 is reserved for documentation: no interface has it.
    result = run_aggregator("serve", "--host", "192.0.2.1", "--port", "5000", "--no-scheduler", check=False, timeout=30)
    assert result.returncode == 2
    assert _one_line(result.stderr).startswith("aggregator: cannot listen on 192.0.2.1 port 5000: ")


@pytest.mark.postgres
def test_a_missing_postgresql_database_is_reported_with_the_createdb_command(
    tmp_path, run_aggregator, missing_postgres_database
):
    (tmp_path / "feeds.yaml").write_text(feeds_yaml({"maren": ["https://maren.example/feed.xml"]}), encoding="utf-8")
    url = make_url(missing_postgres_database)
    run_aggregator.env["DATABASE_URL"] = missing_postgres_database
    createdb = f"createdb -h {url.host} -p {url.port or 5432} -U {url.username} {url.database}"
    expected = (
        f"aggregator: the PostgreSQL database {url.database} does not exist on {url.host}:{url.port or 5432}; "
        f"create it with: {createdb}"
    )
    for command in (["sync"], ["status"], ["serve", "--port", "0", "--no-scheduler"]):
        result = run_aggregator(*command, check=False, timeout=30)
        assert result.returncode == 2, command
        assert _one_line(result.stderr) == expected, command
    polled = run_aggregator("poll", check=False, timeout=30)
    assert polled.returncode == 2 and expected in polled.stderr.splitlines() and "Traceback" not in polled.stderr

    if shutil.which("createdb") is None:
        return
    subprocess.run(createdb.split(), check=True, timeout=30)  # the command we print works as printed
    assert "Synced" in run_aggregator("sync").stdout


def test_an_unreachable_database_server_is_one_readable_line(tmp_path, run_aggregator):
    (tmp_path / "feeds.yaml").write_text(feeds_yaml({"maren": ["https://maren.example/feed.xml"]}), encoding="utf-8")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens on it
        run_aggregator.env["DATABASE_URL"] = f"postgresql://aggregator:secret@127.0.0.1:{port}/aggregator"
        result = run_aggregator("sync", check=False, timeout=30)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert line.startswith(f"aggregator: cannot open the database postgresql+psycopg://aggregator:***@127.0.0.1:{port}/aggregator: ")
    assert "Connection refused" in line and "secret" not in line
