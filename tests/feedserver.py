"""A real HTTP server on 127.0.0.1 that serves feed files to the tests.

Files come from a folder (normally tests/fixtures/feeds) with ETag and
Last-Modified, answering conditional requests with 304 as a well-behaved
blog does. A test can also script a path: a status, headers, a body, a
delay before answering, or a connection that breaks mid-body. Every request
is logged so tests can assert what the poller sent.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

CONTENT_TYPES = {".xml": "application/rss+xml", ".atom": "application/atom+xml", ".json": "application/feed+json"}


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    break_after: int | None = None  # send this many body bytes, then drop the connection
    trickle: float = 0.0  # seconds between single body bytes: a server that never quite finishes


@dataclass(frozen=True)
class LoggedRequest:
    path: str
    headers: dict[str, str]


class FeedServer:
    def __init__(self, root: Path, host: str = "127.0.0.1"):
        self.root = root
        self.scripts: dict[str, Scripted] = {}
        self.requests: list[LoggedRequest] = []
        self.active = 0  # requests being answered right now
        self.most_active = 0  # the most answered at once
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server._handle(self)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="feed-server", daemon=True)

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def script(self, path: str, **kwargs: object) -> None:
        """Answer `path` as told from now on (see Scripted)."""
        self.scripts["/" + path.lstrip("/")] = Scripted(**kwargs)  # type: ignore[arg-type]

    def unscript(self, path: str) -> None:
        self.scripts.pop("/" + path.lstrip("/"), None)

    def hits(self, path: str) -> list[LoggedRequest]:
        wanted = "/" + path.lstrip("/")
        with self._lock:
            return [r for r in self.requests if r.path == wanted]

    # -- serving ---------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path
        with self._lock:
            self.requests.append(LoggedRequest(path, {k.lower(): v for k, v in handler.headers.items()}))
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            scripted = self.scripts.get(path)
            if scripted is not None:
                self._send_scripted(handler, scripted)
            else:
                self._send_file(handler, path)
        finally:
            with self._lock:
                self.active -= 1

    def _send_scripted(self, handler: BaseHTTPRequestHandler, scripted: Scripted) -> None:
        if scripted.delay:
            time.sleep(scripted.delay)
        try:
            handler.send_response(scripted.status)
            headers = {"Content-Length": str(len(scripted.body)), **scripted.headers}
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            body = scripted.body if scripted.break_after is None else scripted.body[: scripted.break_after]
            if scripted.trickle:
                for index in range(len(body)):
                    handler.wfile.write(body[index : index + 1])
                    handler.wfile.flush()
                    time.sleep(scripted.trickle)
            else:
                handler.wfile.write(body)
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        if scripted.break_after is not None:
            handler.close_connection = True
            handler.connection.shutdown(2)

    def _send_file(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        file = (self.root / path.lstrip("/")).resolve()
        if not file.is_relative_to(self.root.resolve()) or not file.is_file():
            body = b"not found"
            handler.send_response(404)
            handler.send_header("Content-Type", "text/plain")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        body = file.read_bytes()
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'
        modified = file.stat().st_mtime
        last_modified = formatdate(modified, usegmt=True)
        if self._not_modified(handler, etag, modified):
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", CONTENT_TYPES.get(file.suffix, "application/xml") + "; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("ETag", etag)
        handler.send_header("Last-Modified", last_modified)
        handler.end_headers()
        handler.wfile.write(body)

    @staticmethod
    def _not_modified(handler: BaseHTTPRequestHandler, etag: str, modified: float) -> bool:
        if_none_match = handler.headers.get("If-None-Match")
        if if_none_match is not None:
            return etag in [tag.strip() for tag in if_none_match.split(",")]
        if_modified_since = handler.headers.get("If-Modified-Since")
        if if_modified_since:
            try:
                return int(modified) <= parsedate_to_datetime(if_modified_since).timestamp()
            except (TypeError, ValueError):
                return False
        return False
