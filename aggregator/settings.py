"""The settings `aggregator sync` copied from feeds.yaml, read in one place into one typed object.

Workers and web processes may run where feeds.yaml is not: they read the
`settings` rows. The poller (when it starts), the RQ job and the web app (per
request) all take them from `load_settings`, which reads every row in one
query, once per transaction, and gives them typed; nothing else decodes the
stored JSON. The writers' wishes live on their author and feed rows, beside
the posts they govern, and are read with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.config import ContentNote, ScheduleConfig, SiteConfig, SupportPanel, site_from_settings
from aggregator.models import Setting
from aggregator.store import ALIASES_KEY, CONFIG_STATE_KEY, NOTES_KEY, RULES_KEY, SCHEDULE_KEY, SITE_KEY, SUPPORT_KEY, TOPICS_KEY
from aggregator.topics import Vocabulary, vocabulary_from_settings

_CACHE_KEY = "aggregator.settings"


@dataclass(frozen=True)
class ConfigState:
    """What the last sync made of feeds.yaml, for /status, /healthz and `aggregator status`.

    A refused edit leaves the last good configuration running: `problems`
    says why (FILE:LINE: message) and `last_good_at` since when it runs.
    """

    state: str  # "accepted", "rejected", or "unknown" (never synced)
    problems: tuple[str, ...] = ()
    rejected_at: str | None = None  # ISO 8601, UTC
    last_good_at: str | None = None

    @property
    def rejected(self) -> bool:
        return self.state == "rejected"

    @classmethod
    def from_setting(cls, stored: Any) -> ConfigState:
        if not isinstance(stored, dict):
            return cls("unknown")
        return cls(
            state=str(stored.get("state", "unknown")),
            problems=tuple(str(p) for p in stored.get("problems") or ()),
            rejected_at=stored.get("rejected_at"),
            last_good_at=stored.get("last_good_at"),
        )


@dataclass(frozen=True)
class Settings:
    site: SiteConfig  # AGGREGATOR_BASE_URL applied
    schedule: ScheduleConfig
    aliases: Mapping[str, str]  # category slug -> tag
    notes: Mapping[str, ContentNote]  # tag slug -> its content note
    support: Mapping[str, SupportPanel]  # panel name -> panel
    vocabulary: Vocabulary  # the curated topics and keyword rules
    shown_tags: frozenset[str] | None  # the tags readers may see; None: all
    config_state: ConfigState


def load_settings(session: Session) -> Settings:
    """Every setting, read once per transaction of `session` (defaults before the first sync)."""
    transaction = session.get_transaction()
    cached = session.info.get(_CACHE_KEY)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]
    rows = dict(session.execute(select(Setting.key, Setting.value)).all())
    settings = settings_from_rows(rows)
    session.info[_CACHE_KEY] = (session.get_transaction(), settings)
    return settings


def forget_settings(session: Session) -> None:
    """Read the settings again at their next use in `session` (a sync just changed them)."""
    session.info.pop(_CACHE_KEY, None)


def settings_from_rows(rows: Mapping[str, Any]) -> Settings:
    """The typed settings of stored rows by key."""
    notes = {
        slug: ContentNote(note=value.get("note", ""), support=value.get("support"))
        for slug, value in (rows.get(NOTES_KEY) or {}).items()
        if isinstance(value, dict)
    }
    support = {
        name: SupportPanel(
            title=value.get("title", ""), text=value.get("text", ""), links=tuple(tuple(link) for link in value.get("links", ()))
        )
        for name, value in (rows.get(SUPPORT_KEY) or {}).items()
        if isinstance(value, dict)
    }
    schedule = rows.get(SCHEDULE_KEY) or {}
    vocabulary = vocabulary_from_settings(rows.get(TOPICS_KEY), rows.get(RULES_KEY))
    return Settings(
        site=site_from_settings(rows.get(SITE_KEY)),
        schedule=ScheduleConfig(**{k: v for k, v in schedule.items() if k in ScheduleConfig.__dataclass_fields__}),
        aliases=dict(rows.get(ALIASES_KEY) or {}),
        notes=notes,
        support=support,
        vocabulary=vocabulary,
        shown_tags=vocabulary.shown(rows.get(NOTES_KEY) or {}),
        config_state=ConfigState.from_setting(rows.get(CONFIG_STATE_KEY)),
    )
