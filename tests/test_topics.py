"""Topics, curated: a vocabulary with labels, descriptions and aliases; topics_only;
keyword rules at poll and over stored posts when they change; `aggregator tags
--unmapped`; a reader leaving out any topic. Feeds from the fixture server,
on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from aggregator import topics
from aggregator.config import load_config
from aggregator.db import make_engine
from aggregator.models import Entry, EntryTag, Feed, Tag
from aggregator.web import create_app
from tests.helpers import feeds_yaml, poll_all, write_and_sync

VOCABULARY = """tags:
  topics:
    cbt: {label: CBT, description: "Cognitive behavioural therapy in practice.", aliases: [cognitive behavioural therapy, cognitive behavioral therapy]}
    neuroscience: {label: Brain and body, description: "What nerves and hormones have to do with feelings."}
    grief: {label: Grief, description: "Loss, and living alongside it."}
    sleep: {label: Sleep}
    breathing:
  topics_only: %(only)s
  rules:
%(rules)s
"""
RULES = """    - {match: polyvagal, tag: neuroscience}
    - {match: heart, tag: grief}
    - {match: grief, tag: grief, in: title}
    - {match: "/three in the (morning|night)/", tag: sleep}"""


def config_text(feed_server, *, only: bool = False, rules: str = RULES) -> str:
    head = VOCABULARY % {"only": "true" if only else "false", "rules": rules or "    []"}
    return head + feeds_yaml({"thinking": [feed_server.url("topics-rss20.xml")]})


def tags_by_title(sessions) -> dict[str, set[str]]:
    with sessions() as session:
        rows = session.execute(
            select(Entry.title, Tag.slug).join(EntryTag, EntryTag.entry_id == Entry.id).join(Tag, Tag.id == EntryTag.tag_id)
        ).all()
    found: dict[str, set[str]] = {}
    for title, slug in rows:
        found.setdefault(title, set()).add(slug)
    return found


@pytest.fixture
def client_for(database_url):
    engines = []

    def make():
        engine = make_engine(database_url)
        engines.append(engine)
        return create_app(engine=engine, TESTING=True).test_client()

    yield make
    for engine in engines:
        engine.dispose()


def test_feeds_yaml_topics_join_the_aliases(tmp_path):
    text = """tags:
  aliases: {ptsd: talking cure, "talking cure": cognitive behavioural therapy}
  topics:
    cbt: {label: CBT, aliases: [cognitive behavioural therapy]}
    neuroscience: {label: Brain and body}
    grief: Grief and loss
  rules:
    - {match: polyvagal, tag: brain and body}
authors:
  - slug: a
    name: A
    feeds:
      - url: https://a.example/feed
"""
    (tmp_path / "feeds.yaml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "feeds.yaml")
    assert config.aliases == {
        "ptsd": "cbt", "talking-cure": "cbt", "cognitive-behavioural-therapy": "cbt",
        # A category spelled as a topic's label is that topic.
        "brain-and-body": "neuroscience", "grief-and-loss": "grief",
    }
    assert config.topics.topics["grief"].label == "Grief and loss"
    assert config.topics.rules == (topics.KeywordRule("polyvagal", "neuroscience"),)
    assert not config.topics.topics_only


def test_topics_and_their_aliases_gather_a_writers_categories(sessions, tmp_path, feed_server):
    write_and_sync(sessions, tmp_path, config_text(feed_server, rules=""))
    assert all(outcome.result == "ok" for outcome in poll_all(sessions))
    tags = tags_by_title(sessions)
    # "CBT", "Cognitive Behavioral Therapy" and "cognitive behavioural therapy": one topic.
    assert tags["Thought Records at the Kitchen Table"] == {"cbt", "homework"}
    assert tags["What Cognitive Behavioral Therapy Is Not"] == {"cbt", "mindfulness"}
    assert tags["Learning to Sit With Grief"] == {"cbt", "self-compassion"}
    assert tags["A Slow Exhale"] == {"mindfulness"}  # "Uncategorized" says nothing
    with sessions() as session:
        names = dict(session.execute(select(Tag.slug, Tag.name)).all())
    assert names["cbt"] == "CBT" and names["neuroscience"] == "Brain and body" and names["breathing"] == "Breathing"


def test_keyword_rules_tag_posts_as_they_are_polled(sessions, tmp_path, feed_server):
    write_and_sync(sessions, tmp_path, config_text(feed_server))
    poll_all(sessions)
    tags = tags_by_title(sessions)
    assert "neuroscience" in tags["A Slow Exhale"]  # "Polyvagal theory", in any case
    assert "grief" in tags["Learning to Sit With Grief"]  # the title says it
    assert "sleep" in tags["What Cognitive Behavioral Therapy Is Not"]  # "three in the morning"
    # Whole words: "heartbreak" is not "heart"; a title rule does not read the text.
    assert "grief" not in tags["Thought Records at the Kitchen Table"]
    assert not any("neuroscience" in found for title, found in tags.items() if title != "A Slow Exhale")


def test_changed_rules_tag_stored_posts_again_without_a_poll(sessions, tmp_path, feed_server, monkeypatch):
    monkeypatch.setattr(topics, "RETAG_BATCH", 2)  # four posts: two batches
    first_rules = RULES + "\n    - {match: thought record, tag: cbt}"
    write_and_sync(sessions, tmp_path, config_text(feed_server, rules=first_rules))
    poll_all(sessions)
    assert "cbt" in tags_by_title(sessions)["Thought Records at the Kitchen Table"]

    # Drop the polyvagal and thought-record rules, add one on breathing out.
    new_rules = "\n".join(line for line in first_rules.splitlines() if "polyvagal" not in line and "thought record" not in line)
    new_rules += "\n    - {match: \"/long(er)? exhale/\", tag: breathing, in: text}"
    _, report = write_and_sync(sessions, tmp_path, config_text(feed_server, rules=new_rules))
    assert "keyword rules (1 stored post tagged, 2 untagged)" in report.settings_changed
    tags = tags_by_title(sessions)
    assert tags["A Slow Exhale"] == {"mindfulness", "breathing"}
    # The dropped rule matched this post, whose category also says CBT: the
    # tag goes now, and the next full read of the feed brings it back.
    assert "cbt" not in tags["Thought Records at the Kitchen Table"]
    with sessions() as session:
        exhale = session.scalar(select(Entry).where(Entry.title == "A Slow Exhale"))
        assert "Breathing" in exhale.search_terms and "Brain and body" not in exhale.search_terms
        feed = session.scalar(select(Feed))
        assert feed.cleaned_with is None
    assert poll_all(sessions)[0].updated == 2  # only the two posts that lost a tag are written again
    tags = tags_by_title(sessions)
    assert tags["Thought Records at the Kitchen Table"] == {"cbt", "homework"}
    assert tags["A Slow Exhale"] == {"mindfulness", "breathing"}

    _, report = write_and_sync(sessions, tmp_path, config_text(feed_server, rules=new_rules))
    assert not any(item.startswith("keyword rules") for item in report.settings_changed)


def test_topics_only_shows_topics_and_their_pages(sessions, tmp_path, feed_server, client_for):
    write_and_sync(sessions, tmp_path, config_text(feed_server, only=True))
    poll_all(sessions)
    client = client_for()
    front = unescape(client.get("/").get_data(as_text=True))
    assert "Mindfulness" not in front and "Homework" not in front and "Self Compassion" not in front
    assert "CBT" in front and "Brain and body" in front
    listed = unescape(client.get("/tags").get_data(as_text=True))
    assert "CBT" in listed and "Mindfulness" not in listed
    assert client.get("/tag/mindfulness").status_code == 404
    page = unescape(client.get("/tag/cbt").get_data(as_text=True))
    assert "<h1>CBT</h1>" in page and "Cognitive behavioural therapy in practice." in page
    assert "Learning to Sit With Grief" in page
    # An alias leads to its topic; a topic without posts has its page all the same.
    assert client.get("/tag/cognitive-behavioral-therapy").headers["Location"].endswith("/tag/cbt")
    empty = unescape(client.get("/tag/breathing").get_data(as_text=True))
    assert "<h1>Breathing</h1>" in empty and "No posts on this topic right now" in empty
    feed = client.get("/feed.atom").get_data(as_text=True)
    assert 'term="cbt"' in feed and "mindfulness" not in feed
    # The hidden categories are kept, for `aggregator tags --unmapped`.
    assert "mindfulness" in tags_by_title(sessions)["A Slow Exhale"]

    # Made a topic, a hidden category shows at once: no feed is read again.
    extra = "    mindfulness: {label: Mindfulness}\n"
    write_and_sync(sessions, tmp_path, config_text(feed_server, only=True).replace("    breathing:\n", "    breathing:\n" + extra))
    assert "Mindfulness" in unescape(client_for().get("/tags").get_data(as_text=True))


def test_without_topics_only_every_category_is_a_tag(sessions, tmp_path, feed_server, client_for):
    write_and_sync(sessions, tmp_path, config_text(feed_server))
    poll_all(sessions)
    client = client_for()
    assert "Mindfulness" in unescape(client.get("/tags").get_data(as_text=True))
    page = unescape(client.get("/tag/mindfulness").get_data(as_text=True))
    assert "<h1>Mindfulness</h1>" in page and "Posts about Mindfulness." in page


def test_tags_unmapped_counts_the_categories_no_topic_takes(database_url, run_aggregator, tmp_path, feed_server):
    run_aggregator.env["DATABASE_URL"] = database_url
    path = tmp_path / "feeds.yaml"
    path.write_text(config_text(feed_server, only=True), encoding="utf-8")
    run_aggregator("poll", "--all", "--config", str(path))
    result = run_aggregator("tags", "--unmapped", "--config", str(path))
    lines = result.stdout.splitlines()
    assert lines[0] == "posts  category"
    assert [line.split(None, 1) for line in lines[1:4]] == [
        ["2", "Mindfulness"], ["1", "Homework"], ["1", "Self Compassion"],
    ]
    assert lines[4] == (
        "3 categories map to no topic; readers do not see them (topics_only: true). "
        "Make one a topic under tags.topics, or an alias of one."
    )
    # An alias in the file, not yet synced, already counts.
    aliased = config_text(feed_server, only=True).replace("  topics_only", "  aliases: {homework: cbt}\n  topics_only")
    path.write_text(aliased, encoding="utf-8")
    result = run_aggregator("tags", "--unmapped", "--config", str(path))
    assert "Homework" not in result.stdout and "2 categories map to no topic" in result.stdout
    listed = run_aggregator("tags", "--config", str(path)).stdout.splitlines()
    assert listed[0] == "posts  topic" and "    3  cbt  (CBT)" in listed and "    0  breathing  (Breathing)" in listed


def test_a_reader_leaves_out_any_topic(sessions, tmp_path, feed_server, client_for):
    write_and_sync(sessions, tmp_path, config_text(feed_server, only=True))
    poll_all(sessions)
    client = client_for()
    form = client.get("/settings").get_data(as_text=True)
    for slug in ("cbt", "neuroscience", "grief", "breathing"):
        assert f'name="hide" value="{slug}"' in form
    assert 'value="mindfulness"' not in form  # hidden from readers, so not offered
    response = client.post("/settings", data={"hide": ["neuroscience", "grief", "no-such-topic"]})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("hide_topics="))
    assert "neuroscience" in cookie and "grief" in cookie and "no-such-topic" not in cookie
    front = unescape(client.get("/").get_data(as_text=True))
    assert "A Slow Exhale" not in front and "Learning to Sit With Grief" not in front
    assert "Thought Records at the Kitchen Table" in front
    notice = re.search(r"Leaving out ([^<]*), as your <a", front)
    assert notice and set(notice.group(1).split(", ")) == {"Brain and body", "Grief"}
    assert re.search(r'value="grief" checked', client.get("/settings").get_data(as_text=True))


def test_without_a_vocabulary_the_most_used_tags_are_offered(sessions, tmp_path, feed_server, client_for):
    write_and_sync(sessions, tmp_path, feeds_yaml({"thinking": [feed_server.url("topics-rss20.xml")]}))
    poll_all(sessions)
    client = client_for()
    form = client.get("/settings").get_data(as_text=True)
    assert 'name="hide" value="mindfulness"' in form and 'name="hide" value="cbt"' in form
    client.post("/settings", data={"hide": ["mindfulness"]})
    front = unescape(client.get("/").get_data(as_text=True))
    assert "A Slow Exhale" not in front and "What Cognitive Behavioral Therapy Is Not" not in front
    assert "Thought Records at the Kitchen Table" in front


def test_a_new_alias_of_a_topic_gathers_stored_posts_at_the_next_poll(sessions, tmp_path, feed_server):
    write_and_sync(sessions, tmp_path, config_text(feed_server, only=True, rules=""))
    poll_all(sessions)
    assert tags_by_title(sessions)["A Slow Exhale"] == {"mindfulness"}
    text = config_text(feed_server, only=True, rules="").replace("    breathing:\n", "    breathing: {aliases: [mindfulness]}\n")
    _, report = write_and_sync(sessions, tmp_path, text)
    assert "topics" in report.settings_changed and "tag aliases" in report.settings_changed
    # The aliases changed: the feed is read again in full, and its posts tagged anew.
    assert poll_all(sessions)[0].updated == 2
    tags = tags_by_title(sessions)
    assert tags["A Slow Exhale"] == {"breathing"} and tags["What Cognitive Behavioral Therapy Is Not"] == {"cbt", "breathing"}
