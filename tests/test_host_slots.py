"""Per-host fetch slots in Redis: a busy host puts a poll off at once, a
lease lives while its fetch runs, a killed holder's slot frees itself."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from redis import Redis

from aggregator.fetch import FetchLimits, HostBusy
from aggregator.poll import InfrastructureUnavailable
from workers.limits import MIN_LEASE_SECONDS, RedisHostLimiter, lease_seconds_for

pytestmark = pytest.mark.redis
HOST = "writers.example"


@pytest.fixture
def redis(redis_url):
    connection = Redis.from_url(redis_url)
    yield connection
    connection.close()


def test_a_busy_host_puts_the_poll_off_at_once(redis):
    limiter = RedisHostLimiter(redis, per_host=2)
    with limiter.slot(HOST), limiter.slot(HOST):
        started = time.monotonic()
        with pytest.raises(HostBusy), limiter.slot(HOST):
            pass
        assert time.monotonic() - started < 5, "it waited for the host instead of moving on"
    with limiter.slot(HOST):
        pass  # both slots were given back


def test_a_lease_is_renewed_while_its_fetch_runs(redis):
    holder = RedisHostLimiter(redis, per_host=1, lease_seconds=1.0)
    other = RedisHostLimiter(redis, per_host=1, lease_seconds=1.0)
    with holder.slot(HOST):
        time.sleep(2.5)  # over twice the lease: only renewal keeps it
        with pytest.raises(HostBusy), other.slot(HOST):
            pass
    with other.slot(HOST):
        pass


def test_the_slot_of_a_killed_worker_is_free_once_its_lease_runs_out(redis, redis_url):
    script = (
        "import time, sys; from redis import Redis; from workers.limits import RedisHostLimiter\n"
        f"limiter = RedisHostLimiter(Redis.from_url({redis_url!r}), per_host=1, lease_seconds=1.0)\n"
        f"with limiter.slot({HOST!r}):\n    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        limiter = RedisHostLimiter(redis, per_host=1, lease_seconds=1.0)
        with pytest.raises(HostBusy), limiter.slot(HOST):
            pass
        holder.kill()
        holder.wait(10)
        deadline = time.monotonic() + 5
        while True:
            try:
                with limiter.slot(HOST):
                    break
            except HostBusy:
                assert time.monotonic() < deadline, "the dead worker's slot was never freed"
                time.sleep(0.2)
    finally:
        holder.kill()
        holder.wait(10)
        holder.stdout.close()


def test_leases_follow_the_fetch_time_limit():
    assert lease_seconds_for(FetchLimits()) <= FetchLimits().total_timeout
    assert lease_seconds_for(FetchLimits(read_timeout=3, total_timeout=8)) == MIN_LEASE_SECONDS
    assert lease_seconds_for(FetchLimits(read_timeout=30, total_timeout=12)) == 12


def test_redis_away_is_no_fault_of_the_feed():
    limiter = RedisHostLimiter(Redis(host="127.0.0.1", port=9, socket_connect_timeout=1), per_host=1)
    with pytest.raises(InfrastructureUnavailable), limiter.slot(HOST):
        pass
