"""Settings are read from the database in one place, once per transaction, into one typed object."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event

from aggregator.config import ContentNote, ScheduleConfig
from aggregator.db import transaction
from aggregator.settings import load_settings
from aggregator.sync import sync_config
from tests.helpers import feeds_yaml, write_and_sync

EXTRA = """tags:
  content_notes:
    suicide: {note: mentions suicide, support: crisis-lines}
  topics:
    cbt: {label: CBT, description: Cognitive behavioural therapy in practice.}
  topics_only: true
  rules:
    - {match: polyvagal, tag: cbt}
support:
  crisis-lines:
    title: If you need to talk to someone now
    links:
      - {label: Samaritans, url: "https://www.samaritans.org/"}
"""


def test_every_setting_comes_typed_from_one_query(sessions, tmp_path):
    write_and_sync(sessions, tmp_path, feeds_yaml({"jane-doe": ["https://jane.example/feed/"]}) + EXTRA)
    statements: list[str] = []
    engine = sessions.kw["bind"]
    listen = lambda *args: statements.append(args[2])  # noqa: E731 - the statement of each execute
    event.listen(engine, "before_cursor_execute", listen)
    try:
        with sessions() as session, session.begin():
            settings = load_settings(session)
            again = load_settings(session)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert again is settings and len([s for s in statements if "settings" in s]) == 1
    assert settings.site.title == "Test Reading Room"
    assert isinstance(settings.schedule, ScheduleConfig) and settings.schedule.interval == 1800
    assert settings.notes == {"suicide": ContentNote(note="mentions suicide", support="crisis-lines")}
    assert settings.support["crisis-lines"].links == (("Samaritans", "https://www.samaritans.org/"),)
    assert settings.vocabulary.topics["cbt"].label == "CBT" and settings.vocabulary.rules[0].tag == "cbt"
    assert settings.shown_tags == {"cbt", "suicide"}
    assert settings.config_state.state == "accepted"


def test_a_sync_in_the_same_transaction_is_seen_at_once(sessions, tmp_path):
    config, _ = write_and_sync(sessions, tmp_path, feeds_yaml({"jane-doe": ["https://jane.example/feed/"]}))
    write_and_sync(sessions, tmp_path, feeds_yaml({"jane-doe": ["https://jane.example/feed/"]}).replace("Test Reading Room", "Kept"))
    with transaction(sessions) as session:
        assert load_settings(session).site.title == "Kept"
        sync_config(session, config, datetime.now(UTC))
        assert load_settings(session).site.title == "Test Reading Room"
