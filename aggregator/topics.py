"""Topics, curated: the vocabulary of feeds.yaml, keyword rules, and which tags readers see.

Writers' categories are many and unruly ("CBT", "Cognitive Behavioral
Therapy", "Uncategorised thoughts"); curators name the topics of the room
under `tags.topics`, each with a label, a description for its page, and the
categories that mean it (`aliases`). With `tags.topics_only: true` only
topics (and noted topics) are shown as tags; the other categories are still
stored as tags of their posts, hidden, so that `aggregator tags --unmapped`
can count them for the curators to decide on, and a category made a topic
later shows at once, without reading any feed again.

Keyword rules (`tags.rules`) add a topic to posts whose title or text says a
word (`polyvagal`) or matches a /pattern/. They run on the cleaned text when
a post is stored, and when the rules change, a sync runs the changed rules
over the stored posts (`retag_stored`). A rule's pattern is the curator's
own, and the text a feed's: each match is bounded in text and time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import regex
import yaml
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from aggregator.models import Author, Entry, EntryTag, Feed, Setting
from aggregator.models import Tag as TagRow
from aggregator.store import RULES_KEY, TOPICS_KEY, _ensure_tags, dialect_insert
from aggregator.tagging import MAX_TAG_LENGTH, AliasLoop, Tag, resolve_aliases, tag_display_name, tag_slug

if TYPE_CHECKING:
    from aggregator.config import AuthorConfig, ContentNote

log = logging.getLogger("aggregator.topics")

TOPIC_KEYS = ("topics", "topics_only", "rules")  # beside `aliases` and `content_notes` under `tags:`
RULE_PLACES = ("title", "text")  # what a rule's `in:` may name; both when it says nothing
MAX_DESCRIPTION = 500
MAX_RULE_LENGTH = 200
# A rule reads at most this much of a post (a long book chapter), and gives
# up on one post after this long: a pattern that backtracks on some text
# costs one post its topic, never a poll its time.
MAX_MATCHED_TEXT = 100_000
MATCH_TIMEOUT = 0.05
# At `check`: texts on which a pattern that backtracks without end shows it.
_PROBES = ("a" * 3000 + "!", "ab" * 1500 + "!", "word " * 600 + "!", " " * 3000 + "!", "0" * 3000 + "!")
PROBE_TIMEOUT = 0.25
RETAG_BATCH = 500
_NULL = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class Topic:
    slug: str
    label: str
    description: str = ""
    aliases: tuple[str, ...] = ()  # as the curator wrote them


@dataclass(frozen=True)
class KeywordRule:
    """Tag a post `tag` when its title or text says `match` (plain words, or a /pattern/)."""

    match: str
    tag: str  # a tag slug, aliases followed
    places: tuple[str, ...] = RULE_PLACES

    @cached_property
    def pattern(self) -> regex.Pattern[str]:
        return compile_match(self.match)

    def matches(self, title: str, text: str) -> bool:
        """Whether the rule says this post is about its tag; False when the match ran out of time."""
        try:
            return any(
                self.pattern.search(value[:MAX_MATCHED_TEXT], timeout=MATCH_TIMEOUT) is not None
                for place, value in (("title", title), ("text", text))
                if place in self.places and value
            )
        except TimeoutError:
            log.warning("rule=%s tag=%s gave up on a post after %.0f ms", self.match, self.tag, MATCH_TIMEOUT * 1000)
            return False

    def as_setting(self) -> dict[str, Any]:
        return {"match": self.match, "tag": self.tag, "in": list(self.places)}


def compile_match(match: str) -> regex.Pattern[str]:
    """The pattern of a rule's `match`: /a regular expression/, or plain words as whole words.

    Both ignore case. Raises ValueError with a message for the curator.
    """
    value = match.strip()
    if len(value) >= 2 and value.startswith("/") and value.endswith("/"):
        try:
            pattern = regex.compile(value[1:-1], regex.IGNORECASE)
        except (regex.error, ValueError) as exc:
            raise ValueError(f"bad regular expression {value}: {exc}") from None
        if pattern.search("") is not None:
            raise ValueError(f"the pattern {value} matches empty text, so it would tag every post")
        return pattern
    words = value.split()
    if not any(character.isalnum() for character in value):
        raise ValueError(f"the rule {value!r} has no letters or digits to look for")
    # Whole words: "art" is not found in "heart"; spaces stand for any run of them.
    return regex.compile(r"(?<!\w)" + r"\s+".join(regex.escape(word) for word in words) + r"(?!\w)", regex.IGNORECASE)


def check_match(match: str) -> regex.Pattern[str]:
    """`compile_match`, also refusing a pattern that backtracks without end on a simple long text."""
    pattern = compile_match(match)
    for probe in _PROBES:
        try:
            pattern.search(probe, timeout=PROBE_TIMEOUT)
        except TimeoutError:
            raise ValueError(
                f"the pattern {match.strip()} takes too long on some texts (it tries the same "
                "characters again and again): write it without repeats inside repeats, like /polyvag\\w*/"
            ) from None
    return pattern


@dataclass(frozen=True)
class Vocabulary:
    """The curated topics, whether only they are shown, and the keyword rules."""

    topics: dict[str, Topic] = field(default_factory=dict)
    topics_only: bool = False
    rules: tuple[KeywordRule, ...] = ()

    def name(self, slug: str, fallback: str | None = None) -> str:
        """How a tag is shown: its topic's label, else `fallback`, else made of its slug."""
        topic = self.topics.get(slug)
        if topic is not None:
            return topic.label
        return fallback or tag_display_name(slug.replace("-", " "))

    def tag(self, tags: Sequence[Tag], title: str, text: str) -> tuple[Tag, ...]:
        """An entry's tags (from its categories and feed) with its rules' topics added, topics by their labels."""
        found = {tag.slug: tag.name for tag in tags}
        for rule in self.rules:
            if rule.tag not in found and rule.matches(title, text):
                found[rule.tag] = ""
        return tuple(Tag(slug, self.name(slug, name)) for slug, name in found.items())

    def shown(self, noted: Iterable[str]) -> frozenset[str] | None:
        """The tag slugs readers see (None: all of them); `noted`, the noted topics, always."""
        if not self.topics_only:
            return None
        return frozenset(self.topics) | frozenset(noted)

    def settings(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The two settings rows sync stores: the topics, and the rules."""
        topics = {
            slug: {"label": topic.label, "description": topic.description, "aliases": list(topic.aliases)}
            for slug, topic in sorted(self.topics.items())
        }
        return {"topics_only": self.topics_only, "topics": topics}, [rule.as_setting() for rule in self.rules]


def vocabulary_from_settings(topics: Mapping[str, Any] | None, rules: Sequence[Mapping[str, Any]] | None) -> Vocabulary:
    """The vocabulary as sync stored it (empty before the first sync)."""
    topics = topics or {}
    return Vocabulary(
        topics={
            slug: Topic(slug, value.get("label") or tag_display_name(slug.replace("-", " ")), value.get("description", ""), tuple(value.get("aliases", ())))
            for slug, value in (topics.get("topics") or {}).items()
        },
        topics_only=bool(topics.get("topics_only")),
        rules=_rules_from_settings(rules),
    )


def _rules_from_settings(rules: Sequence[Mapping[str, Any]] | None) -> tuple[KeywordRule, ...]:
    return tuple(KeywordRule(rule["match"], rule["tag"], tuple(rule.get("in") or RULE_PLACES)) for rule in rules or ())


def _settings(session: Session, *keys: str) -> dict[str, Any]:
    return dict(session.execute(select(Setting.key, Setting.value).where(Setting.key.in_(keys))).all())


# -- feeds.yaml --------------------------------------------------------------------


class _Reader(Protocol):
    """What config's reader lends: its shapes and its list of problems."""

    def error(self, node: yaml.Node | None, message: str) -> None: ...
    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, yaml.Node]: ...
    def text(self, node: yaml.Node | None, what: str, required: bool = False) -> str | None: ...
    def text_list(self, node: yaml.Node | None, what: str, example: str = ...) -> list[tuple[str, yaml.Node]]: ...


class _EveryKey(tuple):
    """An `allowed` for mappings whose keys are the curator's own (topic slugs)."""

    def __contains__(self, key: object) -> bool:
        return True


def read_topics(
    reader: _Reader,
    fields: Mapping[str, yaml.Node],
    aliases: dict[str, str],
    content_notes: Mapping[str, ContentNote],
    authors: Sequence[AuthorConfig],
) -> tuple[Vocabulary, dict[str, str]]:
    """Read `tags.topics`, `tags.topics_only` and `tags.rules`; return them and every alias, the topics' merged in.

    `fields` are the nodes under `tags:`; `aliases` are `tags.aliases`
    resolved. Problems go to `reader`, each at its line.
    """
    topics, owners = _read_topic_map(reader, fields.get("topics"))
    merged = _merge_aliases(reader, topics, owners, aliases, fields.get("aliases"), content_notes)
    for slug in content_notes:
        if slug in merged and slug not in aliases:
            reader.error(
                _key_node(fields.get("content_notes"), slug),
                f"the content note '{slug}' is an alias of the topic '{merged[slug]}'; give the note to '{merged[slug]}'",
            )
    topics_only = _read_flag(reader, fields.get("topics_only"), "tags.topics_only")
    rules = _read_rules(reader, fields.get("rules"), merged)
    vocabulary = Vocabulary(topics=topics, topics_only=topics_only, rules=tuple(rule for rule, _ in rules))
    if topics_only:
        _check_curated(reader, vocabulary, merged, content_notes, authors, fields, rules)
    return vocabulary, merged


def _read_topic_map(reader: _Reader, node: yaml.Node | None) -> tuple[dict[str, Topic], dict[str, tuple[str, yaml.Node]]]:
    """The topics, and who owns each alias slug: {alias slug: (topic slug, its node)}."""
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
        return {}, {}
    if not isinstance(node, yaml.MappingNode):
        reader.error(node, "tags.topics must be a mapping of topic slugs, like 'cbt: {label: CBT, description: ...}'")
        return {}, {}
    topics: dict[str, Topic] = {}
    alias_nodes: dict[str, yaml.Node | None] = {}
    for key, value in reader.mapping(node, "tags.topics", _EveryKey()).items():
        if tag_slug(key) != key:
            suggestion = f", like {tag_slug(key)}" if tag_slug(key) else ""
            reader.error(_key_node(node, key), f"the topic '{key}' needs a slug as its key: lower-case words joined by hyphens{suggestion}")
            continue
        topic, alias_nodes[key] = _read_topic(reader, key, value)
        if topic is not None:
            topics[key] = topic
    owners: dict[str, tuple[str, yaml.Node]] = {}
    for key in topics:
        for alias, item in _quiet_list(alias_nodes[key]):
            slug = tag_slug(alias)
            if slug == key:
                continue  # "CBT" for cbt: already itself
            if slug in topics:
                reader.error(item, f"'{alias}' is an alias of the topic '{key}' but is a topic of its own; list it in one place")
            elif slug in owners and owners[slug][0] != key:
                first = owners[slug][1].start_mark.line + 1
                reader.error(item, f"'{alias}' is an alias of both '{owners[slug][0]}' (line {first}) and '{key}'; keep one")
            elif slug:
                owners[slug] = (key, item)
    return topics, owners


def _read_topic(reader: _Reader, slug: str, node: yaml.Node) -> tuple[Topic | None, yaml.Node | None]:
    """One topic, and the node of its aliases (checked against the other topics' by the caller)."""
    if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
        return Topic(slug, tag_display_name(slug.replace("-", " "))), None
    if isinstance(node, yaml.ScalarNode):  # `grief: Grief and loss`, the label alone
        label = reader.text(node, f"the label of the topic '{slug}'", required=True)
        return (Topic(slug, label) if label and _label_fits(reader, node, slug, label) else None), None
    fields = reader.mapping(node, f"the topic '{slug}'", ("label", "description", "aliases"))
    label = reader.text(fields.get("label"), f"the label of the topic '{slug}'", required="label" in fields)
    description = reader.text(fields.get("description"), f"the description of the topic '{slug}'") or ""
    aliases = reader.text_list(fields.get("aliases"), f"the aliases of the topic '{slug}'", "[cognitive behavioural therapy]")
    for alias, item in aliases:
        if not tag_slug(alias):
            reader.error(item, f"the alias {alias!r} of the topic '{slug}' has no letters or digits to make a tag of")
    if len(description) > MAX_DESCRIPTION:
        reader.error(fields["description"], f"the description of the topic '{slug}' is {len(description)} characters; keep it under {MAX_DESCRIPTION}")
        return None, None
    if not isinstance(node, yaml.MappingNode) or (label is not None and not _label_fits(reader, fields["label"], slug, label)):
        return None, None
    topic = Topic(slug, label or tag_display_name(slug.replace("-", " ")), description, tuple(alias for alias, _ in aliases))
    return topic, fields.get("aliases")


def _label_fits(reader: _Reader, node: yaml.Node, slug: str, label: str) -> bool:
    if len(label) > MAX_TAG_LENGTH:
        reader.error(node, f"the label of the topic '{slug}' is {len(label)} characters; keep it under {MAX_TAG_LENGTH}")
        return False
    return True


def _quiet_list(node: yaml.Node | None) -> list[tuple[str, yaml.Node]]:
    """The plain-text items of a list node, without reporting (its reader did)."""
    if not isinstance(node, yaml.SequenceNode):
        return []
    return [(item.value.strip(), item) for item in node.value if isinstance(item, yaml.ScalarNode) and item.tag != _NULL]


def _key_node(mapping: yaml.Node | None, slug: str) -> yaml.Node | None:
    """The key node of `mapping` whose slug is `slug` (for its line)."""
    if not isinstance(mapping, yaml.MappingNode):
        return mapping
    return next(
        (key for key, _ in mapping.value if isinstance(key, yaml.ScalarNode) and slug in (key.value, tag_slug(key.value))), mapping
    )


def _merge_aliases(
    reader: _Reader,
    topics: dict[str, Topic],
    owners: dict[str, tuple[str, yaml.Node]],
    aliases: dict[str, str],
    aliases_node: yaml.Node | None,
    content_notes: Mapping[str, ContentNote],
) -> dict[str, str]:
    """`tags.aliases` with the topics' aliases and labels added, chains followed."""
    merged = dict(aliases)
    for alias, target in aliases.items():
        if alias in topics:
            reader.error(_key_node(aliases_node, alias), f"'{alias}' is a topic, so it cannot be an alias of '{target}' too; drop one")
            del merged[alias]
    for alias, (topic, node) in owners.items():
        if alias in aliases and aliases[alias] != topic:
            spelled = node.value.strip()
            reader.error(node, f"'{spelled}' is an alias of the topic '{topic}' and, in tags.aliases, of '{aliases[alias]}'; keep one")
            continue
        merged[alias] = topic
    for slug, topic in topics.items():
        # A category spelled as a topic's label ("Brain and body") is that topic, where the name is free.
        label = tag_slug(topic.label)
        if label and label not in topics and label not in merged and label not in content_notes:
            merged[label] = slug
    try:
        return resolve_aliases(merged)
    except AliasLoop as exc:  # through a topic's alias and tags.aliases together
        reader.error(_key_node(aliases_node, exc.alias), str(exc))
        return aliases


def _read_flag(reader: _Reader, node: yaml.Node | None, what: str) -> bool:
    if node is None:
        return False
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:bool":
        return node.value.lower() in ("true", "yes", "on")
    reader.error(node, f"{what} must be true or false")
    return False


def _read_rules(reader: _Reader, node: yaml.Node | None, aliases: Mapping[str, str]) -> list[tuple[KeywordRule, yaml.Node]]:
    """The rules, each with the node of its tag (where topics_only problems are told)."""
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
        return []
    if not isinstance(node, yaml.SequenceNode):
        reader.error(node, "tags.rules must be a list, like '- {match: polyvagal, tag: neuroscience}'")
        return []
    rules: list[tuple[KeywordRule, yaml.Node]] = []
    lines: dict[tuple[str, str], int] = {}
    for rule_node in node.value:
        fields = reader.mapping(rule_node, "a keyword rule", ("match", "tag", "in"), required=("match", "tag"))
        match = reader.text(fields.get("match"), "the rule's match", required="match" in fields)
        if match is not None and len(match) > MAX_RULE_LENGTH:
            reader.error(fields["match"], f"the rule's match is {len(match)} characters; keep it under {MAX_RULE_LENGTH}")
            match = None
        if match is not None:
            try:
                check_match(match)
            except ValueError as exc:
                reader.error(fields["match"], str(exc))
                match = None
        tag = reader.text(fields.get("tag"), "the rule's tag", required="tag" in fields)
        if tag is not None and not tag_slug(tag):
            reader.error(fields["tag"], f"the rule's tag {tag!r} has no letters or digits")
            tag = None
        places = RULE_PLACES
        if "in" in fields:
            place = reader.text(fields["in"], "the rule's 'in'", required=True)
            if place is not None and place not in RULE_PLACES:
                reader.error(fields["in"], f"a rule looks in 'title' or 'text' (or both, when 'in' is left out), not {place!r}")
            elif place is not None:
                places = (place,)
        if match is None or tag is None:
            continue
        slug = aliases.get(tag_slug(tag), tag_slug(tag))
        key = (match, slug)
        if key in lines:
            reader.error(rule_node, f"the same rule is given on line {lines[key]}")
            continue
        lines[key] = rule_node.start_mark.line + 1
        rules.append((KeywordRule(match, slug, places), fields["tag"]))
    return rules


def _check_curated(
    reader: _Reader,
    vocabulary: Vocabulary,
    aliases: Mapping[str, str],
    content_notes: Mapping[str, ContentNote],
    authors: Sequence[AuthorConfig],
    fields: Mapping[str, yaml.Node],
    rules: list[tuple[KeywordRule, yaml.Node]],
) -> None:
    """With topics_only, every tag feeds.yaml names is a topic (or a noted topic), or it would be hidden."""
    shown = vocabulary.shown(content_notes) or frozenset()
    advice = "add it under tags.topics or leave it out (topics_only: true shows only topics)"
    for rule, tag_node in rules:
        if rule.tag not in shown:
            reader.error(tag_node, f"the rule's tag '{rule.tag}' is not a topic; {advice}")
    for alias, target in aliases.items():
        if target not in shown:
            reader.error(_key_node(fields.get("aliases"), alias), f"the alias '{alias}' points at '{target}', which is not a topic; {advice}")
    for author in authors:
        for feed in author.feeds:
            for name in feed.tags:
                slug = aliases.get(tag_slug(name), tag_slug(name))
                if slug not in shown:
                    reader.error(_Line(feed.line), f"the feed's tag '{name}' is not a topic; {advice}")


class _Line:
    """A node-like mark for a line known only by number (a feed's)."""

    def __init__(self, line: int):
        self.start_mark = yaml.Mark("", 0, line - 1, 0, None, None)


# -- sync: the settings rows, topic names, stored posts ------------------------------------


class _Report(Protocol):
    settings_changed: list[str]


def sync_topics(session: Session, config: Any, report: _Report) -> _Report:
    """Store the vocabulary and rules of `config`; name topic tags by their labels; re-tag stored posts when rules changed.

    Called by `aggregator.sync.sync_config` in its transaction; adds what it
    did to `report` and returns it.
    """
    vocabulary: Vocabulary = config.topics
    stored = _settings(session, TOPICS_KEY, RULES_KEY)
    topics_value, rules_value = vocabulary.settings()
    if stored.get(TOPICS_KEY, {"topics_only": False, "topics": {}}) != topics_value:
        session.merge(Setting(key=TOPICS_KEY, value=topics_value))
        name_topic_tags(session, vocabulary)
        report.settings_changed.append("topics")
    if stored.get(RULES_KEY, []) != rules_value:
        session.merge(Setting(key=RULES_KEY, value=rules_value))
        counts = retag_stored(session, _rules_from_settings(stored.get(RULES_KEY)), vocabulary)
        report.settings_changed.append(f"keyword rules ({counts.describe()})")
    return report


def topic_changes(stored: Mapping[str, Any], vocabulary: Vocabulary) -> list[str]:
    """What `sync_topics` would update, named for a dry run; `stored` holds the settings rows by key."""
    topics_value, rules_value = vocabulary.settings()
    changes = []
    if stored.get(TOPICS_KEY, {"topics_only": False, "topics": {}}) != topics_value:
        changes.append("topics")
    if stored.get(RULES_KEY, []) != rules_value:
        changes.append("keyword rules (stored posts are tagged again by the changed rules)")
    return changes


def name_topic_tags(session: Session, vocabulary: Vocabulary) -> None:
    """Give every topic a tag row named by its label: its page exists before its first post."""
    if not vocabulary.topics:
        return
    _ensure_tags(session, [Tag(slug, topic.label) for slug, topic in vocabulary.topics.items()])
    for slug, topic in vocabulary.topics.items():
        session.execute(update(TagRow).where(TagRow.slug == slug, TagRow.name != topic.label).values(name=topic.label))


@dataclass
class RetagCounts:
    read: int = 0  # stored posts the changed rules were run over
    tagged: int = 0  # posts that gained a topic
    untagged: int = 0  # posts that lost one (read again at their feed's next poll)

    def describe(self) -> str:
        return f"{self.tagged} stored post{'s' if self.tagged != 1 else ''} tagged, {self.untagged} untagged"


def retag_stored(session: Session, previous: Sequence[KeywordRule], vocabulary: Vocabulary) -> RetagCounts:
    """Run the rules that changed since `previous` over every stored post, in batches by id.

    A post gains the tag of a new rule that matches it. It loses the tag of
    a dropped rule that matched it, unless a kept rule gives the same tag;
    since that tag may also have been one of its categories, which are not
    stored apart, such a post is marked for a new cleaning and its feed
    read again in full, which gives the categories' tags back.
    """
    added = [rule for rule in vocabulary.rules if rule not in previous]
    dropped = [rule for rule in previous if rule not in vocabulary.rules]
    counts = RetagCounts()
    if not added and not dropped:
        return counts
    ids = _ensure_tags(session, [Tag(rule.tag, vocabulary.name(rule.tag)) for rule in added])
    ids.update(session.execute(select(TagRow.slug, TagRow.id).where(TagRow.slug.in_([rule.tag for rule in dropped]))).all())
    kept = [rule for rule in vocabulary.rules if rule.tag in {dropped_rule.tag for dropped_rule in dropped}]
    stale_feeds: set[int] = set()
    last_id = 0
    while True:
        rows = session.execute(
            select(Entry.id, Entry.feed_id, Entry.title, func.substr(Entry.content_text, 1, MAX_MATCHED_TEXT))
            .where(Entry.id > last_id)
            .order_by(Entry.id)
            .limit(RETAG_BATCH)
        ).all()
        if not rows:
            break
        last_id = rows[-1][0]
        counts.read += len(rows)
        has: dict[int, set[int]] = {row[0]: set() for row in rows}
        for entry_id, tag_id in session.execute(select(EntryTag.entry_id, EntryTag.tag_id).where(EntryTag.entry_id.in_(has))):
            has[entry_id].add(tag_id)
        gains, losses = [], []
        for entry_id, feed_id, title, text in rows:
            text = text or ""
            gained = {ids[r.tag] for r in added if ids[r.tag] not in has[entry_id] and r.matches(title, text)}
            lost = {ids[r.tag] for r in dropped if r.tag in ids and ids[r.tag] in has[entry_id] and r.matches(title, text)}
            lost -= gained | {ids[r.tag] for r in kept if r.tag in ids and r.matches(title, text)}
            gains += [{"entry_id": entry_id, "tag_id": tag_id} for tag_id in gained]
            losses += [(entry_id, tag_id) for tag_id in lost]
            if lost:
                stale_feeds.add(feed_id)
        _write_tag_changes(session, gains, losses)
        counts.tagged += len({gain["entry_id"] for gain in gains})
        counts.untagged += len({entry_id for entry_id, _ in losses})
    if stale_feeds:
        # The next poll of these feeds reads them in full, as after new cleaning rules.
        session.execute(update(Feed).where(Feed.id.in_(stale_feeds)).values(cleaned_with=None))
    return counts


def _write_tag_changes(session: Session, gains: list[dict[str, int]], losses: list[tuple[int, int]]) -> None:
    if gains:
        session.execute(dialect_insert(session, EntryTag).values(gains).on_conflict_do_nothing(index_elements=["entry_id", "tag_id"]))
    by_tag: dict[int, list[int]] = {}
    for entry_id, tag_id in losses:
        by_tag.setdefault(tag_id, []).append(entry_id)
    for tag_id, entry_ids in by_tag.items():
        session.execute(delete(EntryTag).where(EntryTag.tag_id == tag_id, EntryTag.entry_id.in_(entry_ids)))
    _rewrite_entries(session, {gain["entry_id"] for gain in gains}, {entry_id for entry_id, _ in losses})


def _rewrite_entries(session: Session, tagged: set[int], untagged: set[int]) -> None:
    """Make the entries' search terms name their tags as they are now (see store._entry_values).

    One UPDATE an entry: each rewrites the row's search index. An entry
    that lost a tag also gets an empty content hash, which matches no entry
    as parsed, so that the next full read of its feed stores it again.
    """
    entry_ids = sorted(tagged | untagged)
    if not entry_ids:
        return
    names: dict[int, list[str]] = {entry_id: [] for entry_id in entry_ids}
    for entry_id, name in session.execute(
        select(EntryTag.entry_id, TagRow.name).join(TagRow, TagRow.id == EntryTag.tag_id).where(EntryTag.entry_id.in_(entry_ids)).order_by(TagRow.slug)
    ):
        names[entry_id].append(name)
    rows = session.execute(
        select(Entry.id, Author.name, Entry.author_name).join(Author, Author.id == Entry.author_id).where(Entry.id.in_(entry_ids))
    ).all()
    changes = []
    for entry_id, writer, author_name in rows:
        change = {"id": entry_id, "search_terms": " ".join(dict.fromkeys(filter(None, (writer, author_name, *names[entry_id]))))}
        if entry_id in untagged:
            change["content_hash"] = ""
        changes.append(change)
    session.execute(update(Entry), changes)


# -- what curators and readers are told ----------------------------------------------------


def tag_post_counts(session: Session) -> list[tuple[str, str, int]]:
    """Every tag with the posts on the pages that carry it: (slug, name, posts), hidden tags too."""
    rows = session.execute(
        select(TagRow.slug, TagRow.name, func.count(EntryTag.entry_id))
        .join(EntryTag, EntryTag.tag_id == TagRow.id)
        .join(Entry, Entry.id == EntryTag.entry_id)
        .join(Feed, Feed.id == Entry.feed_id)
        .where(Feed.retired_at.is_(None), Entry.withdrawn_at.is_(None))
        .group_by(TagRow.slug, TagRow.name)
    ).all()
    return sorted(((slug, name, n) for slug, name, n in rows), key=lambda row: (-row[2], row[0]))


def unmapped_categories(session: Session, vocabulary: Vocabulary, aliases: Mapping[str, str], noted: Iterable[str]) -> list[tuple[str, str, int]]:
    """Stored tags that map to no topic (nor noted topic) under `aliases`, most used first: (slug, name, posts)."""
    curated = set(vocabulary.topics) | set(noted)
    return [(slug, name, n) for slug, name, n in tag_post_counts(session) if aliases.get(slug, slug) not in curated]


def topic_post_counts(session: Session, vocabulary: Vocabulary) -> list[tuple[Topic, int]]:
    """Each topic with the posts on the pages that carry it, in the order of feeds.yaml."""
    counts = {slug: n for slug, _, n in tag_post_counts(session)}
    return [(topic, counts.get(slug, 0)) for slug, topic in vocabulary.topics.items()]


def unmapped_lines(session: Session, config: Any) -> list[str]:
    """`aggregator tags --unmapped`: the categories of stored posts that map to no topic, most used first."""
    vocabulary: Vocabulary = config.topics
    rows = unmapped_categories(session, vocabulary, config.aliases, config.content_notes)
    if not rows:
        return ["Every category of the stored posts maps to a topic."]
    width = max(len("posts"), *(len(str(n)) for _, _, n in rows))
    lines = [f"{'posts':>{width}}  category"]
    lines += [f"{n:>{width}}  {name}" + (f"  ({slug})" if tag_slug(name) != slug else "") for slug, name, n in rows]
    hidden = "; readers do not see them (topics_only: true)" if vocabulary.topics_only else ""
    plural = "categories map" if len(rows) != 1 else "category maps"
    lines.append(f"{len(rows)} {plural} to no topic{hidden}. Make one a topic under tags.topics, or an alias of one.")
    return lines


def topic_lines(session: Session, config: Any) -> list[str]:
    """`aggregator tags`: the curated topics with the posts on the pages that carry them."""
    vocabulary: Vocabulary = config.topics
    if not vocabulary.topics:
        return ["feeds.yaml names no topics (tags.topics); `aggregator tags --unmapped` lists the categories posts carry."]
    rows = topic_post_counts(session, vocabulary)
    width = max(len("posts"), *(len(str(n)) for _, n in rows))
    lines = [f"{'posts':>{width}}  topic"]
    lines += [f"{n:>{width}}  {topic.slug}" + (f"  ({topic.label})" if topic.label != topic.slug else "") for topic, n in rows]
    return lines
