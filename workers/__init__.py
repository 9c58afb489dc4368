"""RQ entry points: thin shells around the one poll function.

`jobs` holds what a worker executes, `queue` what enqueues it and runs the
worker. No business logic lives here; the `aggregator` package never
imports rq.
"""
