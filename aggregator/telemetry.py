"""Poll counters and scheduler liveness, shared by every process through the database.

Polls run in RQ workers, in `aggregator poll` and in the scheduler thread of
`aggregator serve`, and the web app may itself run in several processes, so
nothing here lives in memory: each poll adds to its counters with one upsert
(`polls = polls + 1`), which stays right when processes write at once, and
/metrics and /healthz read the tables when they are asked. Callers own the
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from aggregator import reading
from aggregator.models import Feed, PollCount, PollDurationBucket, SchedulerLiveness
from aggregator.store import dialect_insert

POLL_RESULTS = ("ok", "not-modified", "failed", "deferred", "skipped")
FEED_STATES = ("ok", "failing", "moved", "gone", "retired")
# Upper bounds of the poll duration histogram. A fetch gives up after 60 s,
# but a poll may first wait for a slot on a busy host.
DURATION_BOUNDS_MS = (100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000)
# A scheduler that has not completed a round for this many of its intervals is stalled.
STALE_AFTER_INTERVALS = 3
SCHEDULER_PROCESSES = {
    "embedded": "the scheduler inside `aggregator serve`",
    "rq": "`aggregator schedule`",
}


# -- writing -------------------------------------------------------------------


def record_poll(session: Session, *, result: str, duration_seconds: float, new: int = 0, updated: int = 0) -> None:
    """Count one poll under its result, with how long it took and what it stored."""
    if result not in POLL_RESULTS:
        raise ValueError(f"unknown poll result {result!r}; expected one of {', '.join(POLL_RESULTS)}")
    duration = max(duration_seconds, 0.0)
    _add(
        session,
        PollCount,
        {"result": result},
        {"polls": 1, "duration_seconds": duration, "entries_new": new, "entries_updated": updated},
    )
    bound = _duration_bucket(duration)
    if bound is not None:
        _add(session, PollDurationBucket, {"result": result, "le_ms": bound}, {"polls": 1})


def scheduler_started(session: Session, *, scheduler: str, now: datetime, interval_seconds: float) -> None:
    """Record that a scheduler started; its rounds are awaited from now on."""
    _check_scheduler(scheduler)
    statement = dialect_insert(session, SchedulerLiveness).values(
        scheduler=scheduler, started_at=now, interval_seconds=interval_seconds, rounds=0
    )
    excluded = statement.excluded
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[SchedulerLiveness.scheduler],
            set_={"started_at": excluded.started_at, "interval_seconds": excluded.interval_seconds},
        )
    )


def round_completed(
    session: Session, *, scheduler: str, now: datetime, interval_seconds: float, queue_depth: int | None = None
) -> None:
    """Record that a scheduler finished a round (for RQ, with the queue's length it saw)."""
    _check_scheduler(scheduler)
    statement = dialect_insert(session, SchedulerLiveness).values(
        scheduler=scheduler,
        started_at=now,
        last_round_at=now,
        interval_seconds=interval_seconds,
        rounds=1,
        queue_depth=queue_depth,
    )
    excluded = statement.excluded
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[SchedulerLiveness.scheduler],
            set_={
                "last_round_at": excluded.last_round_at,
                "interval_seconds": excluded.interval_seconds,
                "rounds": SchedulerLiveness.rounds + 1,
                "queue_depth": excluded.queue_depth,
            },
        )
    )


def _add(session: Session, model: Any, key: dict[str, Any], amounts: dict[str, int | float]) -> None:
    """Add `amounts` to the row of `model` at `key`, creating it if missing, in one statement.

    INSERT ... ON CONFLICT DO UPDATE is atomic on SQLite and PostgreSQL:
    two processes counting at once both count, and neither fails.
    """
    statement = dialect_insert(session, model).values(**key, **amounts)
    increments = {name: getattr(model, name) + statement.excluded[name] for name in amounts}
    session.execute(statement.on_conflict_do_update(index_elements=list(key), set_=increments))


def _duration_bucket(duration_seconds: float) -> int | None:
    """The smallest bound (ms) the duration fits under; None past the largest."""
    milliseconds = duration_seconds * 1000
    return next((bound for bound in DURATION_BOUNDS_MS if milliseconds <= bound), None)


def _check_scheduler(scheduler: str) -> None:
    if scheduler not in SCHEDULER_PROCESSES:
        raise ValueError(f"unknown scheduler {scheduler!r}; expected one of {', '.join(SCHEDULER_PROCESSES)}")


# -- reading -------------------------------------------------------------------


@dataclass(frozen=True)
class Liveness:
    """Whether polling rounds still happen, judged on the scheduler heard from last.

    `scheduler` is None when no scheduler ever recorded itself here (a site
    that only serves, or one whose polling is not wired to this database):
    that is healthy, there is nothing to judge.
    """

    scheduler: str | None
    healthy: bool
    reason: str | None = None
    started_at: datetime | None = None
    last_round_at: datetime | None = None
    interval_seconds: float | None = None
    rounds: int = 0
    queue_depth: int | None = None  # as the scheduler saw it at its last round
    last_round_age_seconds: float | None = None


@dataclass(frozen=True)
class PollStats:
    """The counters of one poll result; `buckets` are cumulative, (upper bound in seconds, polls)."""

    result: str
    polls: int
    duration_seconds: float
    entries_new: int
    entries_updated: int
    buckets: tuple[tuple[float, int], ...]


@dataclass(frozen=True)
class Snapshot:
    """Everything /metrics reports from the database, read at one moment."""

    polls: list[PollStats]
    feeds_by_state: dict[str, int]
    entries: int
    liveness: Liveness


def liveness(session: Session, now: datetime) -> Liveness:
    """Judge the scheduler that recorded itself last.

    It is stalled when its newest completed round, or its start if it has
    completed none since, is more than STALE_AFTER_INTERVALS of its
    intervals old. A scheduler of the other kind that was heard from
    earlier (the site moved from the embedded scheduler to RQ) is not judged.
    """
    rows = session.scalars(select(SchedulerLiveness)).all()
    if not rows:
        return Liveness(scheduler=None, healthy=True)
    current = max(rows, key=_last_heard)
    reference = _last_heard(current)
    age = max((now - reference).total_seconds(), 0.0)
    allowed = STALE_AFTER_INTERVALS * current.interval_seconds
    healthy = age <= allowed
    return Liveness(
        scheduler=current.scheduler,
        healthy=healthy,
        reason=None if healthy else _stall_reason(current, age),
        started_at=current.started_at,
        last_round_at=current.last_round_at,
        interval_seconds=current.interval_seconds,
        rounds=current.rounds,
        queue_depth=current.queue_depth,
        last_round_age_seconds=max((now - current.last_round_at).total_seconds(), 0.0) if current.last_round_at else None,
    )


def _last_heard(row: SchedulerLiveness) -> datetime:
    return max(row.started_at, row.last_round_at) if row.last_round_at else row.started_at


def _stall_reason(row: SchedulerLiveness, age: float) -> str:
    process = SCHEDULER_PROCESSES.get(row.scheduler, row.scheduler)
    rhythm = f"it should complete one every {row.interval_seconds:g} s"
    if row.last_round_at is None or row.started_at > row.last_round_at:
        return f"no polling round completed in the {age:.0f} s since {process} started; {rhythm}"
    return f"no polling round completed in {age:.0f} s: {process} has stalled or stopped; {rhythm}"


def poll_stats(session: Session) -> list[PollStats]:
    """The counters of every poll result, zero for results not seen yet."""
    counts = {row.result: row for row in session.scalars(select(PollCount))}
    buckets: dict[str, dict[int, int]] = {}
    for result, le_ms, polls in session.execute(
        select(PollDurationBucket.result, PollDurationBucket.le_ms, PollDurationBucket.polls)
    ):
        # A bound no longer in use folds into the next one up: still a true count.
        bound = _duration_bucket(le_ms / 1000)
        if bound is not None:
            by_bound = buckets.setdefault(result, {})
            by_bound[bound] = by_bound.get(bound, 0) + polls
    stats = []
    for result in dict.fromkeys([*POLL_RESULTS, *counts]):
        row = counts.get(result)
        running, cumulative = 0, []
        for bound in DURATION_BOUNDS_MS:
            running += buckets.get(result, {}).get(bound, 0)
            cumulative.append((bound / 1000, running))
        stats.append(
            PollStats(
                result=result,
                polls=row.polls if row else 0,
                duration_seconds=row.duration_seconds if row else 0.0,
                entries_new=row.entries_new if row else 0,
                entries_updated=row.entries_updated if row else 0,
                buckets=tuple(cumulative),
            )
        )
    return stats


def feeds_by_state(session: Session) -> dict[str, int]:
    """How many feeds are in each of FEED_STATES; each feed counts once.

    The order decides: retired, then gone (410), then moved (a permanent
    redirect the feeds file has not followed yet), then failing, else ok.
    """
    state = case(
        (Feed.retired_at.is_not(None), "retired"),
        (Feed.gone_at.is_not(None), "gone"),
        (Feed.moved_to.is_not(None), "moved"),
        (Feed.error_count > 0, "failing"),
        else_="ok",
    ).label("state")
    counts = dict.fromkeys(FEED_STATES, 0)
    counts.update({name: count for name, count in session.execute(select(state, func.count(Feed.id)).group_by(state))})
    return counts


def snapshot(session: Session, now: datetime) -> Snapshot:
    """Read what /metrics reports."""
    return Snapshot(
        polls=poll_stats(session),
        feeds_by_state=feeds_by_state(session),
        entries=reading.site_counts(session)["entries"],
        liveness=liveness(session, now),
    )
