"""Counts that cost a scan of every entry, kept for a short while.

The topics with their numbers and the site's totals are read on most pages;
at 100,000 entries each is a scan of the whole entry_tags table. They are
computed at most once a minute per process: a count a minute old is fine,
a page that waits for it is not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from flask import current_app

T = TypeVar("T")
DEFAULT_TTL = 60.0


class Summaries:
    def __init__(self, ttl: float = DEFAULT_TTL):
        self.ttl = ttl
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            found = self._values.get(key)
        if found is not None and now - found[0] < self.ttl:
            return found[1]
        value = compute()
        with self._lock:
            self._values[key] = (now, value)
            if len(self._values) > 2000:  # one per writer at most, in practice
                self._values.clear()
        return value


def summary(key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, or its value from less than a minute ago in this process."""
    return current_app.extensions["aggregator.summaries"].get(key, compute)
