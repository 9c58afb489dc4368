"""A small TCP proxy on 127.0.0.1 that a test can cut, to take a service away.

Clients connect to the proxy's port instead of the service's. `cut()`
resets every open connection, both sides, and from then on resets every
new one as soon as it is accepted, as a network that went down would:
the client learns at once, nothing hangs. `restore()` lets connections
through again. Each connection is two threads, one per direction; every
thread ends when the proxy is closed.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field

# How often the accepting thread looks whether the proxy was closed.
ACCEPT_POLL_SECONDS = 0.1
# Connecting to the service must not hold a client for long.
CONNECT_TIMEOUT_SECONDS = 5.0
JOIN_TIMEOUT_SECONDS = 5.0
CHUNK = 65536


def _reset(sock: socket.socket, *, abort: bool = True) -> None:
    """Close `sock`, waking any thread blocked on it; with `abort`, with a reset (RST) rather than a FIN."""
    if abort:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@dataclass(eq=False)
class _Link:
    """One client's connection and the proxy's connection to the service for it."""

    client: socket.socket
    upstream: socket.socket
    threads: list[threading.Thread] = field(default_factory=list)
    _closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self, *, abort: bool = True) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        _reset(self.client, abort=abort)
        _reset(self.upstream, abort=abort)


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port`; use as a context manager."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(ACCEPT_POLL_SECONDS)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._passing = True
        self._closing = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"tcpproxy-{self.port}", daemon=True)
        self.accepted = 0  # connections let through, over the proxy's life
        self.refused = 0  # connections reset while cut
        self.dropped = 0  # open connections reset by cut()

    def __enter__(self) -> TcpProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._links)

    def cut(self) -> int:
        """Reset every open connection and refuse new ones until `restore()`; return how many were reset."""
        with self._lock:
            self._passing = False
            links, self._links = self._links, set()
            self.dropped += len(links)
        self._close_links(links)
        return len(links)

    def restore(self) -> None:
        """Let connections through again."""
        with self._lock:
            self._passing = True

    def close(self) -> None:
        """Stop accepting, reset every connection and wait for the proxy's threads to end."""
        self._closing.set()
        if self._acceptor.is_alive():
            self._acceptor.join(JOIN_TIMEOUT_SECONDS)
        self._listener.close()
        with self._lock:
            links, self._links = self._links, set()
        self._close_links(links)

    def _close_links(self, links: set[_Link]) -> None:
        for link in links:
            link.close()
        for link in links:
            for thread in link.threads:
                if thread is not threading.current_thread():
                    thread.join(JOIN_TIMEOUT_SECONDS)

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            client.settimeout(None)
            with self._lock:
                passing = self._passing
            if not passing:
                self.refused += 1
                _reset(client)
                continue
            self._connect(client)

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=CONNECT_TIMEOUT_SECONDS)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        link = _Link(client, upstream)
        link.threads = [
            threading.Thread(target=self._pump, args=(link, client, upstream), name=f"tcpproxy-{self.port}-up", daemon=True),
            threading.Thread(target=self._pump, args=(link, upstream, client), name=f"tcpproxy-{self.port}-down", daemon=True),
        ]
        with self._lock:
            # cut() may have come while the service was being reached.
            registered = self._passing and not self._closing.is_set()
            if registered:
                self._links.add(link)
                self.accepted += 1
        if not registered:
            self.refused += 1
            link.close()
            return
        for thread in link.threads:
            thread.start()

    def _pump(self, link: _Link, source: socket.socket, destination: socket.socket) -> None:
        """Copy bytes one way until either side ends; then end the whole connection, as that side did."""
        ended_cleanly = False
        try:
            while data := source.recv(CHUNK):
                destination.sendall(data)
            ended_cleanly = True
        except OSError:
            pass
        with self._lock:
            self._links.discard(link)
        link.close(abort=not ended_cleanly)
