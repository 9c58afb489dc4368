"""At most N fetches at once per host across every worker, kept in Redis.

Each fetch holds a lease, a member of the host's sorted set scored by when
it expires; a worker killed mid-fetch frees its lease when it expires.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis

from aggregator.fetch import HostBusy

# Atomically: forget expired leases, then take one if fewer than the limit are held.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


class RedisHostLimiter:
    def __init__(self, connection: Redis, per_host: int = 2, *, lease_seconds: float = 120.0, wait_seconds: float = 30.0):
        self.connection = connection
        self.per_host = per_host
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self._acquire = connection.register_script(_ACQUIRE)

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        key = f"aggregator:host-slots:{host}"
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait_seconds
        while True:
            now = time.time()
            args = [now, now + self.lease_seconds, token, self.per_host, int(self.lease_seconds) + 60]
            if self._acquire(keys=[key], args=args):
                break
            if time.monotonic() > deadline:
                raise HostBusy(host)
            time.sleep(0.1)
        try:
            yield
        finally:
            self.connection.zrem(key, token)
