"""Log lines for operators: one per request, one per fetch, text or JSON.

Our log messages are `key=value` pairs (values that are text are JSON
strings), so one line reads well in a terminal and becomes JSON fields in
`--log-format json` without a second way of logging. Libraries that talk
too much are kept to what an operator needs: Alembic says which migrations
ran (nothing when none did), httpx says nothing (the poll line already
names each fetch).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from werkzeug.wsgi import ClosingIterator

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The record attributes a JSON line carries under names of its own.
RESERVED_FIELDS = frozenset({"ts", "level", "logger", "message", "exception"})
MAX_LOGGED_PATH = 1000

_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)(?:\s+|$)')
access_log = logging.getLogger("aggregator.web.access")


def setup_logging(level: int, log_format: str = "text") -> None:
    """Send log lines to stderr, one per record, in `log_format` (text or json).

    RQ's worker adds handlers of its own only when none is configured, so
    its lines come through this handler (and format) too.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(_migrations_only)
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _migrations_only(record: logging.LogRecord) -> bool:
    """Keep Alembic's "Running upgrade" lines, on one line each; drop its chatter."""
    if not record.name.startswith("alembic."):
        return True
    if record.levelno >= logging.WARNING:
        return True
    if not record.getMessage().startswith("Running "):
        return False
    # A migration's message is its whole docstring; its first line names it.
    record.msg, record.args = record.getMessage().splitlines()[0], ()
    return True


def message_fields(message: str) -> dict[str, Any]:
    """The `key=value` pairs of a message made only of them; {} for other messages."""
    fields: dict[str, Any] = {}
    position = 0
    while position < len(message):
        match = _FIELD.match(message, position)
        if match is None:
            return {}
        key, value = match.groups()
        fields[key] = _field_value(value)
        position = match.end()
    return fields


def _field_value(text: str) -> Any:
    if text.startswith('"'):
        return json.loads(text)
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, and the message's fields."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        for key, value in message_fields(message).items():
            if key not in RESERVED_FIELDS:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class AccessLog:
    """WSGI middleware: log one line per request once its response is sent.

    waitress logs no requests of its own; behind gunicorn, use its access
    log instead of this.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        status = ["-"]

        def recording_start_response(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = status_line.split(" ", 1)[0]
            return start_response(status_line, headers, exc_info)

        def log_request() -> None:
            _log_request(environ, status[0], started)

        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            _log_request(environ, "500", started)
            raise
        return ClosingIterator(body, log_request)


def _log_request(environ: dict[str, Any], status: str, started: float) -> None:
    # WSGI gives the path as latin-1 text of the raw bytes; readers sent UTF-8.
    path = (environ.get("PATH_INFO", "") or "/").encode("latin-1", "replace").decode("utf-8", "replace")
    if environ.get("QUERY_STRING"):
        path += "?" + environ["QUERY_STRING"]
    if len(path) > MAX_LOGGED_PATH:
        # A hostile 100 KB query must not become a 100 KB log line.
        path = path[:MAX_LOGGED_PATH] + f"…(+{len(path) - MAX_LOGGED_PATH} characters)"
    duration_ms = round((time.perf_counter() - started) * 1000)
    access_log.info(
        "method=%s path=%s status=%s duration_ms=%d",
        json.dumps(environ.get("REQUEST_METHOD", "")),
        json.dumps(path, ensure_ascii=False),
        status,
        duration_ms,
    )
