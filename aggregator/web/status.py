"""The curators' page: which feed is sick and why, and what to tidy."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, render_template

from aggregator import reading
from aggregator.boilerplate import repeated_endings
from aggregator.settings import load_settings
from aggregator.web import db_session
from aggregator.web.summaries import summary

blueprint = Blueprint("status", __name__)


@blueprint.get("/status")
def status() -> str:
    session = db_session()
    feeds = reading.feed_health(session)
    suggestions = summary("ending-suggestions", lambda: _suggestions(session))
    return render_template(
        "status.html",
        config_state=load_settings(session).config_state,
        now=datetime.now(UTC),
        feeds=feeds,
        sick=sum(1 for health in feeds if health.sick),
        suggestions=suggestions,
    )


def _suggestions(session) -> dict[str, list[tuple[str, int]]]:
    return {
        slug: endings
        for slug, texts in reading.recent_texts_by_author(session).items()
        if (endings := repeated_endings(texts))
    }
