"""Logs an operator can read and ship: one line per request and per fetch, quiet when idle, JSON on request."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import update

from aggregator.db import make_engine
from aggregator.logs import JsonFormatter, message_fields
from aggregator.models import Feed
from tests.conftest import REPO
from tests.helpers import feeds_yaml, free_port

MIGRATIONS = len(list((REPO / "migrations" / "versions").glob("[0-9]*.py")))


class Serving:
    """`aggregator serve` in a subprocess, its stderr lines collected as they come."""

    def __init__(self, run_aggregator, cwd: Path, *options: str):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "serve", "--port", str(self.port), *options],
            cwd=cwd, env=run_aggregator.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(line.rstrip("\n") for line in self.process.stderr))
        self._reader.start()
        deadline = time.monotonic() + 30
        while self.get("/healthz") is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("serve did not start:\n" + "\n".join(self.lines))
            time.sleep(0.2)

    def get(self, path: str) -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return None

    def wait_for(self, count: int, marker: str) -> list[str]:
        """The log lines holding `marker`, once there are `count` of them (or after 30 s: CI machines are busy)."""
        deadline = time.monotonic() + 30
        while len(found := [line for line in list(self.lines) if marker in line]) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def stop(self) -> list[str]:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._reader.join(timeout=10)
        self.process.stderr.close()
        return self.lines


def _site(tmp_path: Path, feeds: list[str]) -> None:
    (tmp_path / "feeds.yaml").write_text(feeds_yaml({"maren": feeds}), encoding="utf-8")


def test_serve_logs_one_line_per_request(tmp_path, run_aggregator, sqlite_url):
    _site(tmp_path, ["https://maren.example/feed.xml"])
    run_aggregator.env["DATABASE_URL"] = sqlite_url
    server = Serving(run_aggregator, tmp_path, "--no-scheduler")
    try:
        paths = ("/", "/?tag=trauma&tag=grief", "/author/nobody", "/feed.atom", "/?q=" + "a" * 5000)
        statuses = [server.get(path) for path in paths]
        access = server.wait_for(6, "aggregator.web.access")  # the /healthz that saw the site up, then these five
    finally:
        lines = server.stop()
    assert statuses == [200, 200, 404, 200, 200]
    assert len(access) == 6
    assert len(access[5]) < 1200 and "(+4004 characters)" in access[5]  # a huge query is not a huge log line
    assert re.search(r' INFO aggregator.web.access: method="GET" path="/" status=200 duration_ms=\d+$', access[1])
    assert 'path="/?tag=trauma&tag=grief" status=200' in access[2]
    assert 'path="/author/nobody" status=404' in access[3]
    assert not [line for line in lines if "Traceback" in line]


def test_json_lines_for_log_shippers(tmp_path, run_aggregator, sqlite_url, feed_server):
    _site(tmp_path, [feed_server.url("therapist-rss20.xml")])
    run_aggregator.env.update(DATABASE_URL=sqlite_url, AGGREGATOR_LOG_FORMAT="json")
    server = Serving(run_aggregator, tmp_path)
    try:
        server.get("/?tag=trauma")
        server.wait_for(2, "aggregator.web.access")
    finally:
        lines = [json.loads(line) for line in server.stop()]  # every line is one JSON object
    assert all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    fetches = [line for line in lines if line["logger"] == "aggregator.poll"]
    assert [(f["feed"], f["result"], f["status"], f["new"]) for f in fetches] == [
        (feed_server.url("therapist-rss20.xml"), "ok", 200, 5)
    ]
    requests = [line for line in lines if line["logger"] == "aggregator.web.access"]
    assert {"method": "GET", "path": "/?tag=trauma", "status": 200}.items() <= requests[-1].items()
    assert isinstance(requests[-1]["duration_ms"], int)
    # The command-line option says the same as the variable.
    del run_aggregator.env["AGGREGATOR_LOG_FORMAT"]
    polled = run_aggregator("poll", "--all", "-v", "--log-format", "json")
    assert [json.loads(line)["result"] for line in polled.stderr.splitlines()] == ["not-modified"]


def test_migrations_are_quiet_unless_they_run(tmp_path, run_aggregator, feed_server):
    _site(tmp_path, [feed_server.url("therapist-rss20.xml")])
    first = run_aggregator("poll", "-v")
    ran = [line for line in first.stderr.splitlines() if "alembic" in line]
    assert len(ran) == MIGRATIONS and all("Running upgrade" in line for line in ran)
    second = run_aggregator("poll", "-v")
    assert "alembic" not in second.stderr and "created" not in second.stderr


def test_poll_logs_each_fetch_once(tmp_path, run_aggregator, sqlite_url, feed_server):
    feeds = [feed_server.url("therapist-rss20.xml"), feed_server.url("counsellor-atom10.xml")]
    _site(tmp_path, feeds)
    run_aggregator.env["DATABASE_URL"] = sqlite_url
    result = run_aggregator("poll", "-v")
    log_lines = [line for line in result.stderr.splitlines() if " INFO " in line or " WARNING " in line]
    fetches = [line for line in log_lines if "aggregator.poll" in line]
    assert sorted(message_fields(line.split(": ", 1)[1])["feed"] for line in fetches) == sorted(feeds)
    assert not [line for line in log_lines if "HTTP Request" in line or "httpx" in line]
    assert [line for line in log_lines if line not in fetches and "aggregator.sync" not in line] == []


@pytest.mark.redis
def test_the_scheduler_and_the_rq_worker_log_in_json_too(tmp_path, run_aggregator, sqlite_url, redis_url, feed_server):
    _site(tmp_path, [feed_server.url("therapist-rss20.xml")])
    run_aggregator.env.update(DATABASE_URL=sqlite_url, REDIS_URL=redis_url, AGGREGATOR_LOG_FORMAT="json")
    scheduled = run_aggregator("schedule", "--once")
    worked = run_aggregator("worker", "--burst", timeout=60)
    lines = [json.loads(line) for line in (scheduled.stderr + worked.stdout + worked.stderr).splitlines()]
    assert any(line["logger"] == "rq.worker" for line in lines)  # RQ's own lines come through our handler
    fetches = [line for line in lines if line["logger"] == "aggregator.poll"]  # logged in RQ's work horse
    assert [(line["feed"], line["result"]) for line in fetches] == [(feed_server.url("therapist-rss20.xml"), "ok")]


def test_idle_rounds_log_nothing(tmp_path, run_aggregator, sqlite_url, redis_url, feed_server):
    _site(tmp_path, [feed_server.url("therapist-rss20.xml")])
    run_aggregator.env["DATABASE_URL"] = sqlite_url
    # The embedded scheduler: a round every 0.2 s, one poll in the first and nothing due after.
    server = Serving(run_aggregator, tmp_path, "--every", "0.2")
    time.sleep(3)
    serving = [line for line in server.stop() if "aggregator.web.access" not in line]
    polls = [number for number, line in enumerate(serving) if "aggregator.poll" in line]
    assert len(polls) == 1
    assert serving[polls[0] + 1 :] == []  # the first round's sync and poll, then silence
    # The RQ scheduler: the first round queues the feed, the next ones (it is still queued) say nothing.
    engine = make_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(update(Feed).values(next_check_at=None))
    engine.dispose()
    run_aggregator.env["REDIS_URL"] = redis_url
    scheduling = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "schedule", "--every", "0.2"], cwd=tmp_path, env=run_aggregator.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(3)
    scheduling.terminate()
    _, errors = scheduling.communicate(timeout=30)
    rounds = [line for line in errors.splitlines() if "workers.queue" in line]
    assert scheduling.returncode == 0 and len(rounds) == 1 and "enqueued 1 due feed(s)" in rounds[0], errors


def test_message_fields_are_the_key_value_pairs_of_a_message():
    assert message_fields('feed="https://a.example/x y" result="ok" status=200 bytes=None ms=1.5 kind=plain') == {
        "feed": "https://a.example/x y", "result": "ok", "status": 200, "bytes": None, "ms": 1.5, "kind": "plain",
    }  # fmt: skip
    assert message_fields("schedule: enqueued 2 due feed(s)") == {}
    assert message_fields('a=1 and then some') == {}


def test_a_json_line_keeps_its_own_keys_and_the_traceback():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, 'level="spoofed" feed="f"', (), sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "error" and line["feed"] == "f" and "RuntimeError: boom" in line["exception"]
