"""At most N fetches at once per host across every worker, kept in Redis.

Each fetch holds a lease, a member of the host's sorted set scored by when
it expires. A lease lives a little longer than the fetch's read timeout and
is renewed while the fetch runs, so the slot of a worker killed mid-fetch
is free again within the fetch's own time limit.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aggregator.fetch import FetchLimits, HostBusy
from aggregator.poll import InfrastructureUnavailable

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
# Extend a lease that is still held (XX: never re-create a released one).
_RENEW = """
if redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[1], ARGV[2]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""
MIN_LEASE_SECONDS = 5.0


def lease_seconds_for(limits: FetchLimits) -> float:
    """How long a lease lives between renewals: a stalled read ends the fetch anyway."""
    return max(MIN_LEASE_SECONDS, min(limits.read_timeout, limits.total_timeout))


class RedisHostLimiter:
    """Per-host fetch slots shared by every worker through Redis.

    A job that finds its host's slots taken does not wait (`wait_seconds`
    is 0 by default): the poll is put off and the worker moves on. Redis
    going away raises InfrastructureUnavailable, which is no fault of the feed.
    """

    def __init__(
        self,
        connection: Redis,
        per_host: int = 2,
        *,
        lease_seconds: float | None = None,
        wait_seconds: float = 0.0,
    ):
        self.connection = connection
        self.per_host = per_host
        self.lease_seconds = lease_seconds or lease_seconds_for(FetchLimits())
        self.wait_seconds = wait_seconds
        self._acquire = connection.register_script(_ACQUIRE)
        self._renew = connection.register_script(_RENEW)

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        key = f"aggregator:host-slots:{host}"
        token = uuid.uuid4().hex
        try:
            self._take(key, token, host)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise InfrastructureUnavailable(f"Redis is unavailable for the per-host limit: {exc}") from exc
        done = threading.Event()
        renewer = threading.Thread(target=self._keep, args=(key, token, done), name="host-slot-lease", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()
            try:
                self.connection.zrem(key, token)
            except (RedisConnectionError, RedisTimeoutError):
                pass  # the lease expires by itself

    def _take(self, key: str, token: str, host: str) -> None:
        deadline = time.monotonic() + self.wait_seconds
        while True:
            now = time.time()
            args = [now, now + self.lease_seconds, token, self.per_host, int(self.lease_seconds) + 60]
            if self._acquire(keys=[key], args=args):
                return
            if time.monotonic() >= deadline:
                raise HostBusy(host)
            time.sleep(0.1)

    def _keep(self, key: str, token: str, done: threading.Event) -> None:
        while not done.wait(self.lease_seconds / 3):
            try:
                if not self._renew(keys=[key], args=[time.time() + self.lease_seconds, token, int(self.lease_seconds) + 60]):
                    return
            except (RedisConnectionError, RedisTimeoutError):
                return  # Redis is away: the lease will have expired; the fetch itself goes on
