"""The RQ job: poll one feed with `aggregator.poll`, like every other caller."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aggregator.db import make_engine, session_factory
from aggregator.poll import Poller


def poll_feed(feed_id: int) -> dict[str, Any]:
    """Poll one feed; a bad feed is recorded and returned, anything else raises.

    RQ's default worker runs each job in a forked child, so the engine is
    made here, in the process that uses it, and closed before it exits.
    """
    engine = make_engine(writer=True)
    try:
        with Poller(session_factory(engine)) as poller:
            return asdict(poller.poll(feed_id))
    finally:
        engine.dispose()
