"""Fetch a feed's bytes politely: HTTP with conditional GET, or a file beside feeds.yaml.

The only module that touches the network. Reach is bounded: connect and
read timeouts, a deadline for the whole fetch (a server that trickles bytes
is cut off), a maximum body size counted while streaming and after
decompression (a compression bomb is cut off, not inflated), at most five
redirects, and no redirect from a public address into the internal network.
At most a few fetches run at once against one host (`HostLimiter`).
Failures become FetchError with a message for the curator who reads it on
the status page.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urljoin, urlsplit

import brotli
import httpx
from werkzeug.datastructures import ResponseCacheControl
from werkzeug.http import parse_age, parse_cache_control_header, parse_date

from aggregator import __version__

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
ACCEPT_ENCODING = "gzip, deflate, br"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
# A server may ask us to wait (Retry-After); we wait at most this long.
MAX_RETRY_AFTER = timedelta(days=7)
MAX_EXPLANATION = 4096  # bytes of an error answer kept for its message


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
    # The feed's identity in feeds.yaml. For a file, "path:demo/feed.xml"
    # tells the folder of feeds.yaml, which the file must not leave.
    source: str | None = None


@dataclass(frozen=True)
class FetchResult:
    status: int
    url: str  # where the body came from, after redirects
    body: bytes | None = None  # None when not modified
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # the new address, when the feed moved for good
    fresh_for: int | None = None  # seconds the publisher says the feed stays fresh (max-age, Expires)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.body is None


class FetchError(Exception):
    """The feed could not be fetched; the message is for the curator."""

    def __init__(
        self, message: str, status: int | None = None, retry_after: datetime | None = None, explanation: str = ""
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # the server asked for no request before then
        # The start of a 400 answer's body: APIs say there what they refused.
        self.explanation = explanation

    @property
    def gone(self) -> bool:
        return self.status == 410


class HostBusy(Exception):
    """Too many fetches run against this host already; try again shortly."""


class HostLimiter(Protocol):
    def slot(self, host: str) -> AbstractContextManager[None]:  # pragma: no cover - a protocol
        """Hold one of the host's few fetch slots, or raise HostBusy."""


class LocalHostLimiter:
    """At most `per_host` fetches at once per host, within this process."""

    def __init__(self, per_host: int = 2, wait_seconds: float = 30.0):
        self.per_host = per_host
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._lock:
            semaphore = self._slots.setdefault(host, threading.BoundedSemaphore(self.per_host))
        if not semaphore.acquire(timeout=self.wait_seconds):
            raise HostBusy(host)
        try:
            yield
        finally:
            semaphore.release()


def user_agent(site_url: str | None) -> str:
    agent = f"TherapyWritersAggregator/{__version__}"
    return f"{agent} (+{site_url})" if site_url else agent


def is_internal_host(host: str) -> bool:
    """Whether `host` is, or resolves to, a loopback, private or link-local address."""
    try:
        addresses = {ipaddress.ip_address(host.strip("[]"))}
    except ValueError:
        try:
            addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in socket.getaddrinfo(host, None)}
        except (socket.gaierror, UnicodeError):
            return False  # unresolvable: the request will fail on its own
    return any(_internal(address) for address in addresses)


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_loopback or address.is_private or address.is_link_local or address.is_reserved
        or address.is_multicast or address.is_unspecified or address in ipaddress.ip_network("100.64.0.0/10")
    )  # fmt: skip


class Fetcher:
    """Fetches feeds over one pooled HTTP client; use as a context manager."""

    def __init__(
        self,
        limits: FetchLimits | None = None,
        site_url: str | None = None,
        *,
        limiter: HostLimiter | None = None,
        internal: Callable[[str], bool] = is_internal_host,
    ):
        self.limits = limits or FetchLimits()
        self.limiter = limiter or LocalHostLimiter()
        self.internal = internal
        timeout = httpx.Timeout(
            connect=self.limits.connect_timeout,
            read=self.limits.read_timeout,
            write=self.limits.read_timeout,
            pool=self.limits.connect_timeout,
        )
        self.client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,  # followed by hand: counted, checked, permanent moves noticed
            headers={"User-Agent": user_agent(site_url), "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
            # Feeds are fetched directly; proxy settings of the environment do not apply.
            trust_env=False,
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def fetch(self, request: FetchRequest) -> FetchResult:
        parts = urlsplit(request.location)
        scheme = parts.scheme.lower()
        if scheme == "file":
            return fetch_file(request, self.limits.max_bytes)
        if scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"cannot fetch {request.location!r}: only http, https and files are read")
        with self.limiter.slot(parts.hostname.lower()):
            return self._fetch_http(request)

    def _fetch_http(self, request: FetchRequest) -> FetchResult:
        deadline = time.monotonic() + self.limits.total_timeout
        headers = {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        url = request.location
        origin_is_internal: bool | None = None
        visited = [url]
        moved_for_good = True
        permanent_redirect = None
        try:
            while True:
                with self.client.stream("GET", url, headers=headers) as response:
                    status = response.status_code
                    if status in REDIRECT_STATUSES and "location" in response.headers:
                        target = urljoin(url, response.headers["location"].strip())
                        if target in visited:
                            raise FetchError(f"redirect loop: {' -> '.join([*visited, target])}", status)
                        if len(visited) > self.limits.max_redirects:
                            raise FetchError(f"more than {self.limits.max_redirects} redirects, last to {target}", status)
                        target_host = urlsplit(target).hostname
                        if urlsplit(target).scheme.lower() not in ("http", "https") or not target_host:
                            raise FetchError(f"redirected to {target!r}, which is not an http address", status)
                        if origin_is_internal is None:
                            origin_is_internal = self.internal(urlsplit(request.location).hostname or "")
                        if not origin_is_internal and self.internal(target_host):
                            # A public feed must not make us read the internal network
                            # (cloud metadata, intranet pages) and publish it.
                            raise FetchError(
                                f"refused a redirect to {target}: it points into an internal network", status
                            )
                        # Only an unbroken chain of permanent moves changes the feed's address.
                        moved_for_good = moved_for_good and status in PERMANENT_REDIRECTS
                        permanent_redirect = target if moved_for_good else None
                        visited.append(target)
                        url = target
                        continue
                    if status == 304:
                        return FetchResult(
                            status=304, url=url, etag=response.headers.get("etag") or request.etag,
                            last_modified=response.headers.get("last-modified") or request.last_modified,
                            permanent_redirect=permanent_redirect, fresh_for=fresh_for(response.headers),
                            headers=dict(response.headers),
                        )
                    if status >= 400 or status < 200:
                        explanation = _explanation(response, deadline) if status == 400 else ""
                        raise FetchError(_status_message(response), status, retry_after(response.headers), explanation)
                    body = self._read_body(response, deadline)
                    return FetchResult(
                        status=status,
                        url=url,
                        body=body,
                        content_type=response.headers.get("content-type"),
                        etag=response.headers.get("etag"),
                        last_modified=response.headers.get("last-modified"),
                        permanent_redirect=permanent_redirect,
                        fresh_for=fresh_for(response.headers),
                        headers=dict(response.headers),
                    )
        except httpx.ConnectTimeout:
            raise FetchError(f"could not connect within {self.limits.connect_timeout:g} s") from None
        except httpx.ReadTimeout:
            raise FetchError(f"timed out: the server sent nothing for {self.limits.read_timeout:g} s") from None
        except httpx.ConnectError as exc:
            raise FetchError(f"could not connect: {_reason(exc)}") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"the connection failed: {_reason(exc)}") from None

    def _read_body(self, response: httpx.Response, deadline: float) -> bytes:
        limit = self.limits.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(f"the feed is {int(declared):,} bytes, over the limit of {limit:,}", response.status_code)
        decoder = _Decoder(response.headers.get("content-encoding", ""), response.status_code)
        chunks = []
        size = 0
        for raw in response.iter_raw():  # as the bytes arrive, so the deadline is checked often
            if time.monotonic() > deadline:
                raise FetchError(
                    f"timed out: the whole feed did not arrive within {self.limits.total_timeout:g} s",
                    response.status_code,
                )
            chunk = decoder.decode(raw, limit - size)
            size += len(chunk)
            chunks.append(chunk)
        chunks.append(decoder.finish(limit - size))
        return b"".join(chunks)


class _Decoder:
    """Undo Content-Encoding a bounded piece at a time: never more than
    `room` bytes of output per call, so a bomb is stopped, not inflated."""

    def __init__(self, header: str, status: int):
        self.status = status
        self.steps = []
        for coding in reversed([c.strip().lower() for c in header.split(",") if c.strip()]):
            if coding in ("identity", ""):
                continue
            if coding in ("gzip", "x-gzip"):
                self.steps.append(("zlib", zlib.decompressobj(16 + zlib.MAX_WBITS)))
            elif coding == "deflate":
                self.steps.append(("deflate", None))
            elif coding == "br":
                self.steps.append(("br", brotli.Decompressor()))
            else:
                raise FetchError(f"the server sent the feed in an encoding we cannot read ({coding})", status)

    def decode(self, data: bytes, room: int) -> bytes:
        for index, (kind, state) in enumerate(self.steps):
            if not data:
                break
            try:
                if kind == "deflate" and state is None:
                    # "deflate" is zlib-wrapped by the standard and raw in practice.
                    wbits = zlib.MAX_WBITS if data[:1] == b"\x78" else -zlib.MAX_WBITS
                    state = zlib.decompressobj(wbits)
                    self.steps[index] = ("deflate", state)
                if kind == "br":
                    data = state.process(data, output_buffer_limit=room + 1)
                else:
                    data = state.decompress(data, room + 1)
            except (zlib.error, brotli.error) as exc:
                raise FetchError(f"the feed could not be decompressed: {exc}", self.status) from None
            if len(data) > room:
                raise FetchError("the feed is over the size limit once decompressed (a compression bomb?)", self.status)
        if len(data) > room:
            raise FetchError(f"the feed is over the limit of {room:,} bytes", self.status)
        return data

    def finish(self, room: int) -> bytes:
        tail = b""
        for kind, state in self.steps:
            if kind != "br" and state is not None:
                tail += state.flush()
        if len(tail) > room:
            raise FetchError("the feed is over the size limit once decompressed (a compression bomb?)", self.status)
        return tail


def fetch_file(request: FetchRequest, max_bytes: int) -> FetchResult:
    """Read a feed file inside its folder; its size and modification time stand in for an ETag.

    The folder is checked at every read, not only when feeds.yaml is
    loaded: a file replaced since by a symbolic link that leads out of the
    folder (or by a device or a pipe) is refused. The file is opened first
    and then matched with the path it resolves to, so that a swap between
    the check and the read cannot slip another file in.
    """
    path = Path(unquote(urlsplit(request.location).path))
    folder = feed_folder(request.source, path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise FetchError(f"the feed file {path} does not exist") from None
    except OSError as exc:
        raise FetchError(f"the feed file {path} cannot be read: {exc.strerror}") from None
    with os.fdopen(descriptor, "rb") as file:
        try:
            target = path.resolve(strict=True)
            # lstat: a target swapped for a link since it was resolved does not match.
            opened, resolved = os.fstat(file.fileno()), target.lstat()
        except OSError as exc:
            raise FetchError(f"the feed file {path} cannot be read: {exc.strerror}") from None
        if not target.is_relative_to(folder.resolve()):
            raise FetchError(
                f"the feed file {path} leads out of {folder} (to {target}); only files inside the folder of "
                "feeds.yaml are read: replace the link by the file itself"
            )
        if (opened.st_dev, opened.st_ino) != (resolved.st_dev, resolved.st_ino):
            raise FetchError(f"the feed file {path} was replaced while it was read; it is read again at the next poll")
        if not stat.S_ISREG(opened.st_mode):
            raise FetchError(f"the feed file {path} is not a regular file")
        etag = f'"{opened.st_mtime_ns:x}-{opened.st_size:x}"'
        last_modified = formatdate(opened.st_mtime, usegmt=True)
        if request.etag == etag:
            return FetchResult(status=304, url=request.location, etag=etag, last_modified=last_modified)
        # The size is checked again on the bytes read: the file may grow meanwhile.
        body = file.read(max_bytes + 1) if opened.st_size <= max_bytes else b""
        if opened.st_size > max_bytes or len(body) > max_bytes:
            raise FetchError(f"the feed file is {max(opened.st_size, len(body)):,} bytes, over the limit of {max_bytes:,}")
    content_type = "application/feed+json" if path.suffix.lower() == ".json" else "application/xml"
    return FetchResult(
        status=200, url=request.location, body=body, content_type=content_type, etag=etag, last_modified=last_modified
    )


def feed_folder(source: str | None, path: Path) -> Path:
    """The folder a feed file must stay inside.

    For a feed listed as `path: demo/feed.xml` (source "path:demo/feed.xml")
    it is the folder of feeds.yaml: the stored path less those last parts.
    Without such a source, the file's own folder.
    """
    relative = Path(source.removeprefix("path:")).parts if source and source.startswith("path:") else ()
    if relative and len(path.parts) > len(relative) and path.parts[-len(relative):] == relative:
        return Path(*path.parts[: -len(relative)])
    return path.parent


def retry_after(headers: httpx.Headers, now: datetime | None = None) -> datetime | None:
    """When a 429 or 503 says to come back: delta-seconds or an HTTP date; bounded.

    An HTTP date is the server's clock: it is measured from the response's
    Date when there is one, so a server whose clock is off still gets the
    wait it asked for. A past moment means now; a wait longer than
    MAX_RETRY_AFTER is cut to it.
    """
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    now = now or datetime.now(UTC)
    if value.isascii() and value.isdigit():
        moment = now + timedelta(seconds=int(value))
    else:
        moment = parse_date(value)
        if moment is None:
            return None
        moment = now + (moment - _server_clock(headers, now))
    return min(max(moment, now), now + MAX_RETRY_AFTER)


def fresh_for(headers: httpx.Headers, now: datetime | None = None) -> int | None:
    """Seconds the publisher says the feed stays fresh, or None when it gives no hint.

    Cache-Control first (RFC 9111): no-store or a bare no-cache give no
    hint; s-maxage wins over max-age, because we are a shared cache of
    sorts (one fetch serves every reader of the site and its output feeds);
    an invalid max-age means stale. Else Expires, measured against the
    response's Date (the server's clock, not ours), where an invalid date
    such as "0" means already expired. The Age a cache in front reports is
    time already spent.
    """
    # Directive names are case-insensitive; werkzeug matches them as written.
    control = parse_cache_control_header((headers.get("cache-control") or "").lower(), cls=ResponseCacheControl)
    if control.no_store or control.no_cache is True:
        return None
    if "s-maxage" in control or "max-age" in control:
        lifetime = control.s_maxage if "s-maxage" in control else control.max_age
        lifetime = max(0, lifetime or 0)
    elif headers.get("expires") is not None:
        expires = parse_date(headers["expires"])
        lifetime = int((expires - _server_clock(headers, now)).total_seconds()) if expires else 0
    else:
        return None
    age = parse_age(headers.get("age"))
    return max(0, lifetime - int(age.total_seconds() if age else 0))


def _server_clock(headers: httpx.Headers, now: datetime | None) -> datetime:
    """The moment the response was made by the server's clock (its Date), else by ours."""
    return parse_date(headers.get("date")) or now or datetime.now(UTC)


def _status_message(response: httpx.Response) -> str:
    status = response.status_code
    phrase = response.reason_phrase or ""
    advice = {
        401: "the feed needs a login; ask the author for a public feed",
        403: "the server refuses us; the author may be blocking aggregators",
        404: "not found; check the feed's address in feeds.yaml",
        410: "gone: the author has removed this feed; polling stops (remove it from feeds.yaml)",
        429: "too many requests; we wait as the server asks before trying again",
    }.get(status, "a server error; it is usually temporary" if status >= 500 else "")
    return f"the server answered {status} {phrase}".rstrip() + (f": {advice}" if advice else "")


def _explanation(response: httpx.Response, deadline: float) -> str:
    """The first few KiB of an error answer, as text: no more is read of it."""
    received = b""
    try:
        for chunk in response.iter_raw():
            received += chunk
            if len(received) >= MAX_EXPLANATION or time.monotonic() > deadline:
                break
    except httpx.HTTPError:
        pass
    try:
        decoder = _Decoder(response.headers.get("content-encoding", ""), response.status_code)
        text = decoder.decode(received, MAX_EXPLANATION * 16)
    except FetchError:
        return ""  # cut short or in an unknown coding: no message to read
    return text[:MAX_EXPLANATION].decode("utf-8", "replace")


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
