"""Probes for operators: /healthz (JSON) and /metrics (Prometheus text)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from aggregator import reading
from aggregator.models import Feed
from aggregator.web import db_session
from aggregator.web.dates import iso

log = logging.getLogger("aggregator.web")
blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        session = db_session()
        counts = reading.site_counts(session)
        last_check = session.scalar(select(func.max(Feed.last_checked_at)))
    except SQLAlchemyError as exc:
        log.error("healthz: database unavailable: %s", exc)
        return jsonify(status="error", database="unavailable"), 503
    response = jsonify(status="ok", database="ok", last_poll=iso(last_check) or None, **counts)
    response.headers["Cache-Control"] = "no-store"
    return response, 200
