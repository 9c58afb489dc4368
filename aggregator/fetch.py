"""Fetch a feed's bytes: HTTP with conditional GET, or a file beside feeds.yaml.

The only module that touches the network. Reach is bounded: connect and
read timeouts, a deadline for the whole fetch, a maximum body size counted
after decompression, and a limit on redirects. Failures become FetchError
with a message written for the curator who will read it on the status page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from aggregator import __version__

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5


@dataclass(frozen=True)
class FetchRequest:
    location: str  # http(s) URL or file:// URI
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    status: int
    url: str  # where the body came from, after redirects
    body: bytes | None = None  # None when not modified
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # the new address, when the feed moved for good
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.body is None


class FetchError(Exception):
    """The feed could not be fetched; the message is for the curator."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def user_agent(site_url: str | None) -> str:
    agent = f"TherapyWritersAggregator/{__version__}"
    return f"{agent} (+{site_url})" if site_url else agent


class Fetcher:
    """Fetches feeds over one pooled HTTP client; use as a context manager."""

    def __init__(self, limits: FetchLimits | None = None, site_url: str | None = None):
        self.limits = limits or FetchLimits()
        timeout = httpx.Timeout(
            connect=self.limits.connect_timeout,
            read=self.limits.read_timeout,
            write=self.limits.read_timeout,
            pool=self.limits.connect_timeout,
        )
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,  # followed by hand, to count them and notice permanent moves
            headers={"User-Agent": user_agent(site_url), "Accept": ACCEPT},
            trust_env=False,
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def fetch(self, request: FetchRequest) -> FetchResult:
        scheme = urlsplit(request.location).scheme.lower()
        if scheme == "file":
            return fetch_file(request, self.limits.max_bytes)
        if scheme not in ("http", "https"):
            raise FetchError(f"cannot fetch {request.location!r}: only http, https and files are read")
        return self._fetch_http(request)

    def _fetch_http(self, request: FetchRequest) -> FetchResult:
        deadline = time.monotonic() + self.limits.total_timeout
        headers = {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        url = request.location
        visited = [url]
        moved_for_good = True
        permanent_redirect = None
        try:
            while True:
                with self.client.stream("GET", url, headers=headers) as response:
                    if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                        target = urljoin(url, response.headers["location"])
                        if target in visited:
                            raise FetchError(f"redirect loop: {' -> '.join([*visited, target])}", response.status_code)
                        if len(visited) > self.limits.max_redirects:
                            raise FetchError(
                                f"more than {self.limits.max_redirects} redirects, last to {target}", response.status_code
                            )
                        if urlsplit(target).scheme.lower() not in ("http", "https"):
                            raise FetchError(f"redirected to {target!r}, which is not an http address", response.status_code)
                        # Only an unbroken chain of permanent moves changes the feed's address.
                        moved_for_good = moved_for_good and response.status_code in PERMANENT_REDIRECTS
                        permanent_redirect = target if moved_for_good else None
                        visited.append(target)
                        url = target
                        continue
                    if response.status_code == 304:
                        return FetchResult(
                            status=304, url=url, etag=request.etag, last_modified=request.last_modified,
                            permanent_redirect=permanent_redirect, headers=dict(response.headers),
                        )
                    if response.status_code >= 400 or response.status_code < 200:
                        raise FetchError(_status_message(response), response.status_code)
                    body = self._read_body(response, deadline)
                    return FetchResult(
                        status=response.status_code,
                        url=url,
                        body=body,
                        content_type=response.headers.get("content-type"),
                        etag=response.headers.get("etag"),
                        last_modified=response.headers.get("last-modified"),
                        permanent_redirect=permanent_redirect,
                        headers=dict(response.headers),
                    )
        except httpx.ConnectTimeout:
            raise FetchError(f"could not connect within {self.limits.connect_timeout:g} s") from None
        except httpx.ReadTimeout:
            raise FetchError(f"timed out: the server sent nothing for {self.limits.read_timeout:g} s") from None
        except httpx.ConnectError as exc:
            raise FetchError(f"could not connect: {_reason(exc)}") from None
        except httpx.DecodingError as exc:
            raise FetchError(f"the response could not be decompressed: {_reason(exc)}") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"the connection failed: {_reason(exc)}") from None

    def _read_body(self, response: httpx.Response, deadline: float) -> bytes:
        limit = self.limits.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit and "content-encoding" not in response.headers:
            raise FetchError(f"the feed is {int(declared):,} bytes, over the limit of {limit:,}", response.status_code)
        chunks = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise FetchError(f"the feed is over the limit of {limit:,} bytes", response.status_code)
            if time.monotonic() > deadline:
                raise FetchError(
                    f"timed out: the whole feed did not arrive within {self.limits.total_timeout:g} s",
                    response.status_code,
                )
            chunks.append(chunk)
        return b"".join(chunks)


def fetch_file(request: FetchRequest, max_bytes: int) -> FetchResult:
    """Read a feed file; its size and modification time stand in for an ETag."""
    path = Path(unquote(urlsplit(request.location).path))
    try:
        stat = path.stat()
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        last_modified = formatdate(stat.st_mtime, usegmt=True)
        if request.etag == etag:
            return FetchResult(status=304, url=request.location, etag=etag, last_modified=last_modified)
        if stat.st_size > max_bytes:
            raise FetchError(f"the feed file is {stat.st_size:,} bytes, over the limit of {max_bytes:,}")
        body = path.read_bytes()
    except FileNotFoundError:
        raise FetchError(f"the feed file {path} does not exist") from None
    except OSError as exc:
        raise FetchError(f"the feed file {path} cannot be read: {exc.strerror}") from None
    content_type = "application/feed+json" if path.suffix.lower() == ".json" else "application/xml"
    return FetchResult(
        status=200, url=request.location, body=body, content_type=content_type, etag=etag, last_modified=last_modified
    )


def _status_message(response: httpx.Response) -> str:
    status = response.status_code
    phrase = response.reason_phrase or ""
    advice = {
        401: "the feed needs a login; ask the author for a public feed",
        403: "the server refuses us; the author may be blocking aggregators",
        404: "not found; check the feed's address in feeds.yaml",
        410: "gone; the author has removed this feed",
        429: "too many requests; we will wait before trying again",
    }.get(status, "a server error; it is usually temporary" if status >= 500 else "")
    return f"the server answered {status} {phrase}".rstrip() + (f": {advice}" if advice else "")


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
