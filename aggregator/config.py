"""Read and validate `feeds.yaml`, the curators' source of truth.

Curators edit the file by hand, so every problem is reported at once, each as
`FILE:LINE: message` with a hint of what to write instead. The file is read
as a YAML node tree (not as plain data) because only nodes remember their
line numbers, and because PyYAML silently keeps the last of two duplicate
keys, which here would hide a curator's mistake.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from aggregator.boilerplate import curator_rule
from aggregator.identity import feed_identity
from aggregator.tagging import AliasLoop, resolve_aliases, tag_slug
from aggregator.topics import TOPIC_KEYS, Vocabulary, read_topics

DEFAULT_CONFIG_PATH = "feeds.yaml"
BASE_URL_VARIABLE = "AGGREGATOR_BASE_URL"
DEFAULT_INTERVAL = 30 * 60
DEFAULT_MIN_INTERVAL = 15 * 60
DEFAULT_MAX_INTERVAL = 6 * 3600
DEFAULT_MAX_PER_HOST = 2
MIN_INTERVAL = 60
MAX_INTERVAL = 7 * 24 * 3600
FEED_TYPES = ("rss", "atom", "json", "wagtail")
# What a Wagtail source's `fields:` may map, and to what: an API field name,
# or a path into one ("author.name").
WAGTAIL_FIELD_ROLES = ("title", "content", "summary", "date", "tags", "author", "image")
_API_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
MAX_POSTS_LIMIT = 10_000
DISPLAY_CHOICES = ("full", "excerpt", "title")
# Bounds on what a writer's profile says: a line on /authors, a short paragraph on their page.
PROFILE_LIMITS = {"name": 200, "pronouns": 40, "location": 120, "bio": 1000, "license": 500, "label": 80}
LIST_LIMITS = {"credentials": (10, 40), "modalities": (20, 60), "populations": (20, 60)}  # (items, characters each)
_LIST_EXAMPLES = {"credentials": "[LCSW, PhD]", "modalities": "[EMDR, attachment-focused]", "populations": "[adolescents, couples]"}
MAX_HIDDEN_POSTS = 1000

WISH_KEYS = ("display", "since", "noindex", "license")
AUTHOR_KEYS = (
    "slug", "name", "bio", "homepage", "avatar", "links", "feeds",
    "pronouns", "credentials", "modalities", "populations", "location", "hide", *WISH_KEYS,
)  # fmt: skip
FEED_KEYS = ("url", "path", "type", "tags", "interval", "boilerplate", "fields", "max_posts", *WISH_KEYS)

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# One part of a host name (underscores too: some real hosts have them).
_HOST_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_INTERVAL_PART = re.compile(r"(\d+)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ConfigError(Exception):
    """The feeds file cannot be used; `problems` says every reason."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class SiteConfig:
    title: str = "Therapy Writers"
    base_url: str = "http://127.0.0.1:5000"
    description: str = "A reading room for the blogs of psychotherapists and counsellors."


@dataclass(frozen=True)
class Wishes:
    """How a writer wants their posts shown; None where feeds.yaml does not say.

    Given on an author and on any of their feeds: the feed's own value wins
    (`Wishes.over`), then the author's, then full text, no date limit,
    indexed, no license line.
    """

    display: str | None = None  # "full", "excerpt" or "title"
    since: date | None = None  # posts published before this day are not shown
    noindex: bool | None = None  # their pages ask search engines not to index them
    license: str | None = None  # shown on each post and in output feeds

    def over(self, fallback: Wishes) -> Wishes:
        """These wishes, each one not said here taken from `fallback`."""
        return Wishes(**{
            name: mine if (mine := getattr(self, name)) is not None else getattr(fallback, name)
            for name in self.__dataclass_fields__
        })  # fmt: skip


@dataclass(frozen=True)
class FeedConfig:
    source: str  # the feed's identity in feeds.yaml: its URL, or "path:<relative path>"
    location: str  # what fetch reads: an http(s) URL or a file:// URI
    type: str | None = None  # None: detect from the document
    tags: tuple[str, ...] = ()
    interval: int | None = None  # seconds; None: the default
    boilerplate: tuple[str, ...] = ()  # the curator's removal rules: text, or /regex/
    # A Wagtail source's field map ((role, API field path), ...) and cap on
    # the posts its first read takes (None: the default).
    fields: tuple[tuple[str, str], ...] = ()
    max_posts: int | None = None
    wishes: Wishes = field(default_factory=Wishes)  # the feed's own; AuthorConfig.wishes_for adds the author's
    line: int = 0

    @property
    def source_options(self) -> dict[str, Any]:
        """What is stored on the feed's row for its polls (see aggregator.wagtail)."""
        options: dict[str, Any] = {}
        if self.fields:
            options["fields"] = dict(self.fields)
        if self.max_posts is not None:
            options["max_posts"] = self.max_posts
        return options


@dataclass(frozen=True)
class ContentNote:
    note: str  # shown before the post: "mentions suicide"
    support: str | None = None  # the name of a support panel


@dataclass(frozen=True)
class SupportPanel:
    title: str
    text: str = ""
    links: tuple[tuple[str, str], ...] = ()  # (label, url)


@dataclass(frozen=True)
class AuthorConfig:
    slug: str
    name: str
    bio: str = ""
    homepage: str | None = None
    avatar: str | None = None
    links: tuple[tuple[str, str], ...] = ()  # (label, url): Mastodon, Instagram, a booking page...
    feeds: tuple[FeedConfig, ...] = ()
    line: int = 0
    # What a reader choosing a therapist-writer wants to know.
    pronouns: str | None = None
    credentials: tuple[str, ...] = ()  # LCSW, PhD
    modalities: tuple[str, ...] = ()  # EMDR, attachment-focused
    populations: tuple[str, ...] = ()  # adolescents, couples
    location: str | None = None  # a place or the jurisdiction they are licensed in
    wishes: Wishes = field(default_factory=Wishes)
    hide: tuple[str, ...] = ()  # links of posts taken down at the writer's request

    def wishes_for(self, feed: FeedConfig) -> Wishes:
        return feed.wishes.over(self.wishes)


@dataclass(frozen=True)
class ScheduleConfig:
    """How often feeds are polled. A feed with its own interval keeps it; the
    others adapt to how often they publish, between min and max."""

    interval: int = DEFAULT_INTERVAL  # for a feed with no history yet
    min_interval: int = DEFAULT_MIN_INTERVAL
    max_interval: int = DEFAULT_MAX_INTERVAL
    max_per_host: int = DEFAULT_MAX_PER_HOST  # fetches at once against one host


@dataclass(frozen=True)
class Config:
    path: Path
    site: SiteConfig = field(default_factory=SiteConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    aliases: dict[str, str] = field(default_factory=dict)  # alias slug -> tag slug
    content_notes: dict[str, ContentNote] = field(default_factory=dict)  # tag slug -> note
    support: dict[str, SupportPanel] = field(default_factory=dict)
    authors: tuple[AuthorConfig, ...] = ()
    topics: Vocabulary = field(default_factory=Vocabulary)  # tags.topics, tags.topics_only, tags.rules

    @property
    def feeds(self) -> list[tuple[AuthorConfig, FeedConfig]]:
        return [(author, feed) for author in self.authors for feed in author.feeds]

    def summary(self) -> str:
        feeds = self.feeds
        files = sum(1 for _, feed in feeds if feed.location.startswith("file:"))
        parts = [
            f"{len(self.authors)} author{'s' if len(self.authors) != 1 else ''}",
            f"{len(feeds)} feed{'s' if len(feeds) != 1 else ''}"
            + (f" ({files} from files)" if files else ""),
            f"{len(self.aliases)} tag alias{'es' if len(self.aliases) != 1 else ''}",
        ]
        return f"{self.path}: OK: " + ", ".join(parts)


def default_config_path() -> Path:
    return Path(os.environ.get("AGGREGATOR_CONFIG") or DEFAULT_CONFIG_PATH)


def is_web_address(value: str) -> bool:
    return web_address_problem(value) is None


def web_address_problem(value: str) -> str | None:
    """What makes `value` no usable http(s) address, in words that follow "the feed url "; None when it is one.

    A password is never repeated back: feeds.yaml and the messages about it
    are read by everyone who reads the repository.
    """
    if any(character.isspace() or ord(character) < 32 or ord(character) == 127 for character in value):
        return f"has a space or control character in it ({value!r}); write a space inside an address as %20"
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        return f"is not a web address ({exc}): {value!r}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"must be an http:// or https:// address, not {value!r}"
    if "@" in parts.netloc:
        shown = parts._replace(netloc="…@" + parts.netloc.rpartition("@")[2]).geturl()
        return f"holds a user name or password before its host ({shown!r}); take them out of feeds.yaml, which everyone can read"
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        return f"has a bad port ({value!r}); a port is a number from 1 to 65535"
    host = parts.hostname or ""
    problem = _host_problem(host, bracketed=parts.netloc.startswith("["))
    return f"{problem} ({value!r})" if problem else None


def _host_problem(host: str, *, bracketed: bool) -> str | None:
    """What is wrong with a URL's host name (IDNA names welcome); None when nothing is."""
    if not host:
        return "has no host name"
    if bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"has a bad IPv6 address {host!r}"
        return None
    labels = host.removesuffix(".").split(".")
    if any(not label for label in labels):
        return f"has an empty part in its host name {host!r}"
    if any(not label.isascii() for label in labels):
        try:
            labels = host.removesuffix(".").encode("idna").decode("ascii").split(".")
        except UnicodeError:
            return f"has a host name that is not a valid international name: {host!r}"
    bad = next((label for label in labels if not _HOST_LABEL.match(label)), None)
    if bad is not None:
        return f"has a bad host name {host!r}: each part has letters, digits and inner hyphens, at most 63 of them"
    if len(".".join(labels)) > 253:
        return "has a host name longer than 253 characters"
    return None


def base_url_from_environment() -> str | None:
    """AGGREGATOR_BASE_URL without a trailing slash; None when unset or empty.

    Raises ValueError, in words for an operator, when it is not a web address.
    """
    value = os.environ.get(BASE_URL_VARIABLE, "").strip()
    if not value:
        return None
    if not is_web_address(value):
        raise ValueError(f"{BASE_URL_VARIABLE} (which overrides site.base_url) must be an http:// or https:// address, not {value!r}")
    return value.rstrip("/")


def site_with_environment(site: SiteConfig) -> SiteConfig:
    """`site` with its base_url overridden by AGGREGATOR_BASE_URL when that is set."""
    base_url = base_url_from_environment()
    return replace(site, base_url=base_url) if base_url else site


def site_from_settings(stored: Mapping[str, Any] | None) -> SiteConfig:
    """The site settings as sync stored them (defaults before the first sync), AGGREGATOR_BASE_URL applied.

    A web process or worker may run with an environment of its own, so the
    override is applied where settings are read, not only where they are stored.
    """
    known = {key: value for key, value in (stored or {}).items() if key in SiteConfig.__dataclass_fields__}
    return site_with_environment(SiteConfig(**known))


def parse_interval(text: str) -> int:
    """Return the seconds in an interval such as `30m`, `2h`, `1h30m` or `1d`.

    Raises ValueError with a message fit for a curator.
    """
    compact = text.strip().lower().replace(" ", "")
    if not compact or _INTERVAL_PART.sub("", compact):
        raise ValueError(f"bad interval {text!r}: write a number and a unit, like 30m, 2h or 1d")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _INTERVAL_PART.findall(compact))
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise ValueError(f"interval {text!r} is out of range: use between 1m and 7d")
    return seconds


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a feeds file; raise ConfigError listing every problem."""
    config_path = Path(path) if path is not None else default_config_path()
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(config_path), 0, "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(config_path), 0, f"cannot read the file: {exc}")]) from None
    return parse_config(text, config_path)


def parse_config(text: str, path: Path) -> Config:
    """Validate the text of a feeds file that lives at `path`."""
    reader = _Reader(str(path), path.parent)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        problem = " ".join(filter(None, [exc.context, exc.problem])) or "not valid YAML"
        raise ConfigError([ConfigProblem(str(path), line, f"not valid YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(str(path), 0, f"not valid YAML: {exc}")]) from None
    config = reader.read_root(root, path)
    if reader.problems:
        raise ConfigError(sorted(reader.problems, key=lambda p: p.line))
    return config


class _Reader:
    """Walks the YAML node tree, collecting problems instead of stopping at one."""

    def __init__(self, file: str, base_dir: Path):
        self.file = file
        self.base_dir = base_dir
        self.problems: list[ConfigProblem] = []

    def error(self, node: yaml.Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.problems.append(ConfigProblem(self.file, line, message))

    # -- shapes ------------------------------------------------------------

    def mapping(
        self, node: yaml.Node, what: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            shape = "'key: value' lines" if isinstance(allowed, _AnyKey) else f"keys ({', '.join(allowed)})"
            self.error(node, f"{what} must be a mapping of {shape}")
            return {}
        found: dict[str, yaml.Node] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, f"{what} has a key that is not plain text")
                continue
            key = key_node.value
            if key in first_line:
                self.error(key_node, f"duplicate key '{key}' in {what} (first given on line {first_line[key]})")
                continue
            first_line[key] = key_node.start_mark.line + 1
            if key not in allowed:
                self.error(key_node, f"unknown key '{key}' in {what}{_suggest(key, allowed)}")
                continue
            found[key] = value_node
        for key in required:
            if key not in found and key not in first_line:
                self.error(node, f"{what} is missing '{key}'")
        return found

    def text(self, node: yaml.Node | None, what: str, required: bool = False) -> str | None:
        if node is None:
            return None
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            if required:
                self.error(node, f"{what} is empty")
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, f"{what} must be plain text")
            return None
        value = node.value.strip()
        if required and not value:
            self.error(node, f"{what} is empty")
            return None
        return value

    def text_list(self, node: yaml.Node | None, what: str, example: str = "[trauma, attachment]") -> list[tuple[str, yaml.Node]]:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list, like {example}")
            return []
        items = []
        for item in node.value:
            value = self.text(item, f"an item of {what}", required=True)
            if value is not None:
                items.append((value, item))
        return items

    def url(self, node: yaml.Node | None, what: str, required: bool = False) -> str | None:
        value = self.text(node, what, required)
        if value is None:
            return None
        problem = web_address_problem(value)
        if problem is not None:
            self.error(node, f"{what} {problem}")
            return None
        return value

    def interval(self, node: yaml.Node | None, what: str) -> int | None:
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag not in (_STR, "tag:yaml.org,2002:int"):
            self.error(node, f"{what} must be a duration like 30m, 2h or 1d")
            return None
        if node.tag != _STR:
            self.error(node, f"{what} {node.value} needs a unit: write {node.value}m for minutes or {node.value}h for hours")
            return None
        try:
            return parse_interval(node.value)
        except ValueError as exc:
            self.error(node, str(exc))
            return None

    # -- the document ------------------------------------------------------

    def read_root(self, root: yaml.Node | None, path: Path) -> Config:
        if root is None:
            self.error(None, "the file is empty: it needs at least an 'authors:' list")
            return Config(path=path)
        top = self.mapping(root, "the file", ("site", "defaults", "tags", "support", "authors"), required=("authors",))
        site = self.read_site(top.get("site"))
        schedule = self.read_schedule(top.get("defaults"))
        tags = self.mapping(top["tags"], "tags", ("aliases", "content_notes", *TOPIC_KEYS)) if "tags" in top else {}
        aliases = self.read_aliases(tags.get("aliases"))
        support = self.read_support(top.get("support"))
        content_notes = self.read_content_notes(tags.get("content_notes"), aliases, support)
        authors = self.read_authors(top.get("authors"))
        # Last: the topics' aliases join tags.aliases, and topics_only checks every tag named above.
        topics, aliases = read_topics(self, tags, aliases, content_notes, authors)
        return Config(
            path=path, site=site, schedule=schedule, aliases=aliases,
            content_notes=content_notes, support=support, authors=authors, topics=topics,
        )

    def read_schedule(self, node: yaml.Node | None) -> ScheduleConfig:
        if node is None:
            return ScheduleConfig()
        fields = self.mapping(node, "defaults", ("interval", "min_interval", "max_interval", "max_per_host"))
        base = ScheduleConfig()
        interval = self.interval(fields.get("interval"), "defaults.interval") or base.interval
        low = self.interval(fields.get("min_interval"), "defaults.min_interval") or min(base.min_interval, interval)
        high = self.interval(fields.get("max_interval"), "defaults.max_interval") or max(base.max_interval, interval)
        if not low <= interval <= high:
            self.error(node, "defaults need min_interval <= interval <= max_interval")
        per_host = base.max_per_host
        if "max_per_host" in fields:
            value = self.text(fields["max_per_host"], "defaults.max_per_host", required=True)
            if value is not None and (not value.isdigit() or not 1 <= int(value) <= 20):
                self.error(fields["max_per_host"], "defaults.max_per_host must be a whole number from 1 to 20")
            elif value is not None:
                per_host = int(value)
        return ScheduleConfig(interval=interval, min_interval=low, max_interval=high, max_per_host=per_host)

    def read_site(self, node: yaml.Node | None) -> SiteConfig:
        """The `site:` settings, with AGGREGATOR_BASE_URL applied so that sync stores it."""
        fields = self.mapping(node, "site", ("title", "base_url", "description")) if node is not None else {}
        defaults = SiteConfig()
        base_url = self.url(fields.get("base_url"), "site.base_url")
        site = SiteConfig(
            title=self.text(fields.get("title"), "site.title") or defaults.title,
            base_url=(base_url or defaults.base_url).rstrip("/"),
            description=self.text(fields.get("description"), "site.description") or defaults.description,
        )
        try:
            return site_with_environment(site)
        except ValueError as exc:
            self.error(fields.get("base_url", node), str(exc))
            return site

    def read_aliases(self, aliases_node: yaml.Node | None) -> dict[str, str]:
        if aliases_node is None or (isinstance(aliases_node, yaml.ScalarNode) and aliases_node.tag == _NULL):
            return {}
        entries = self.mapping(aliases_node, "tags.aliases", allowed=_AnyKey())
        aliases: dict[str, str] = {}
        lines = {tag_slug(alias): node for alias, node in entries.items()}
        for alias, target_node in entries.items():
            target = self.text(target_node, f"the alias '{alias}'", required=True)
            if target is None:
                continue
            if not tag_slug(alias) or not tag_slug(target):
                self.error(target_node, f"the alias '{alias}: {target}' has no letters or digits to make a tag of")
            elif tag_slug(alias) == tag_slug(target):
                self.error(target_node, f"the alias '{alias}' points at itself")
            else:
                aliases[alias] = target
        try:
            return resolve_aliases(aliases)
        except AliasLoop as exc:
            self.error(lines.get(exc.alias, aliases_node), str(exc))
            return {}

    def read_content_notes(
        self, node: yaml.Node | None, aliases: dict[str, str], support: dict[str, SupportPanel]
    ) -> dict[str, ContentNote]:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
            return {}
        notes: dict[str, ContentNote] = {}
        for topic, value in self.mapping(node, "tags.content_notes", allowed=_AnyKey()).items():
            slug = tag_slug(topic)
            if not slug:
                self.error(value, f"the content note '{topic}' has no letters or digits to make a tag of")
                continue
            if slug in aliases:
                self.error(value, f"the content note '{topic}' is an alias of '{aliases[slug]}'; give the note to '{aliases[slug]}'")
                continue
            if isinstance(value, yaml.ScalarNode):
                text = self.text(value, f"the content note '{topic}'", required=True)
                if text:
                    notes[slug] = ContentNote(note=text)
                continue
            fields = self.mapping(value, f"the content note '{topic}'", ("note", "support"), required=("note",))
            text = self.text(fields.get("note"), f"the content note '{topic}'", required="note" in fields)
            panel = self.text(fields.get("support"), f"the support panel of '{topic}'")
            if panel is not None and panel not in support:
                self.error(fields["support"], f"no support panel '{panel}' under 'support:'{_suggest(panel, tuple(support))}")
                panel = None
            if text:
                notes[slug] = ContentNote(note=text, support=panel)
        return notes

    def read_support(self, node: yaml.Node | None) -> dict[str, SupportPanel]:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
            return {}
        panels: dict[str, SupportPanel] = {}
        for name, value in self.mapping(node, "support", allowed=_AnyKey()).items():
            fields = self.mapping(value, f"the support panel '{name}'", ("title", "text", "links"), required=("title",))
            title = self.text(fields.get("title"), f"the title of the support panel '{name}'", required="title" in fields)
            links = []
            links_node = fields.get("links")
            if links_node is not None:
                if not isinstance(links_node, yaml.SequenceNode):
                    self.error(links_node, "links must be a list of '- label: ...' and 'url: ...' pairs")
                else:
                    for link_node in links_node.value:
                        link = self.mapping(link_node, "a support link", ("label", "url"), required=("label", "url"))
                        label = self.text(link.get("label"), "the link's label", required="label" in link)
                        url = self.url(link.get("url"), "the link's url", required="url" in link)
                        if label and url:
                            links.append((label, url))
            if title:
                panels[name] = SupportPanel(
                    title=title, text=self.text(fields.get("text"), "the panel's text") or "", links=tuple(links)
                )
        return panels

    def read_authors(self, node: yaml.Node | None) -> tuple[AuthorConfig, ...]:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
            return ()
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, "authors must be a list; start each author with '- slug: ...'")
            return ()
        authors = []
        slug_lines: dict[str, int] = {}
        feed_lines: dict[str, int] = {}
        for author_node in node.value:
            author = self.read_author(author_node, feed_lines)
            if author is None:
                continue
            if author.slug in slug_lines:
                self.error(author_node, f"duplicate author slug '{author.slug}' (first used on line {slug_lines[author.slug]})")
                continue
            slug_lines[author.slug] = author.line
            authors.append(author)
        return tuple(authors)

    def read_author(self, node: yaml.Node, feed_lines: dict[str, int]) -> AuthorConfig | None:
        fields = self.mapping(node, "an author", AUTHOR_KEYS, required=("slug", "name", "feeds"))
        if not fields:
            return None
        slug = self.text(fields.get("slug"), "the author's slug", required="slug" in fields)
        if slug is not None and not _SLUG.match(slug):
            self.error(fields["slug"], f"author slug {slug!r} must be lower-case letters, digits and hyphens, like jane-doe")
            slug = None
        name = self.bounded(self.text(fields.get("name"), "the author's name", required="name" in fields), fields.get("name"), "the author's name", "name")
        bio = self.bounded(self.text(fields.get("bio"), "the author's bio"), fields.get("bio"), "the author's bio", "bio") or ""
        homepage = self.url(fields.get("homepage"), "the author's homepage")
        avatar = self.url(fields.get("avatar"), "the author's avatar")
        links = []
        if fields.get("links") is not None:
            for label, link_node in self.mapping(fields["links"], "the author's links", allowed=_AnyKey()).items():
                url = self.url(link_node, f"the link '{label}'", required=True)
                if len(label) > PROFILE_LIMITS["label"]:
                    self.error(link_node, f"the link label {label[:20]!r}… is longer than {PROFILE_LIMITS['label']} characters")
                elif url:
                    links.append((label, url))
        profile = self.read_profile(fields)
        feeds = []
        feeds_node = fields.get("feeds")
        if feeds_node is not None:
            if not isinstance(feeds_node, yaml.SequenceNode) or not feeds_node.value:
                self.error(feeds_node, "feeds must be a list with at least one '- url: ...' or '- path: ...'")
            else:
                for feed_node in feeds_node.value:
                    feed = self.read_feed(feed_node)
                    if feed is None:
                        continue
                    identity = feed_identity(feed.source)
                    if identity in feed_lines:
                        self.error(feed_node, f"duplicate feed {feed.source} (first listed on line {feed_lines[identity]})")
                        continue
                    feed_lines[identity] = feed.line
                    feeds.append(feed)
        if slug is None or name is None:
            return None
        return AuthorConfig(
            slug=slug, name=name, bio=bio, homepage=homepage, avatar=avatar, links=tuple(links), feeds=tuple(feeds),
            line=node.start_mark.line + 1, wishes=self.read_wishes(fields, "the author's"), **profile,
        )

    def read_profile(self, fields: dict[str, yaml.Node]) -> dict[str, Any]:
        """An author's pronouns, credentials, modalities, populations, location and hidden posts."""
        profile: dict[str, Any] = {}
        for key in ("pronouns", "location"):
            what = f"the author's {key}"
            profile[key] = self.bounded(self.text(fields.get(key), what), fields.get(key), what, key)
        for key, (most, longest) in LIST_LIMITS.items():
            items = self.text_list(fields.get(key), f"the author's {key}", _LIST_EXAMPLES[key])
            if len(items) > most:
                self.error(fields[key], f"the author's {key} list has {len(items)} items; keep it to {most} at most")
            for value, item_node in items:
                if len(value) > longest:
                    self.error(item_node, f"an item of the author's {key} is longer than {longest} characters: {value[:30]!r}…")
            profile[key] = tuple(dict.fromkeys(value for value, _ in items if len(value) <= longest))
        hide = []
        hide_node = fields.get("hide")
        if hide_node is not None and not (isinstance(hide_node, yaml.ScalarNode) and hide_node.tag == _NULL):
            if not isinstance(hide_node, yaml.SequenceNode):
                self.error(hide_node, "hide must be a list of post links, like [https://example.org/blog/a-post/]")
            elif len(hide_node.value) > MAX_HIDDEN_POSTS:
                self.error(hide_node, f"hide lists {len(hide_node.value)} posts; at most {MAX_HIDDEN_POSTS}")
            else:
                for item in hide_node.value:
                    url = self.url(item, "a post link under hide", required=True)
                    if url:
                        hide.append(url)
        profile["hide"] = tuple(dict.fromkeys(hide))
        return profile

    def read_wishes(self, fields: dict[str, yaml.Node], whose: str) -> Wishes:
        """`display`, `since`, `noindex` and `license`, on an author or a feed."""
        display = self.text(fields.get("display"), f"{whose} 'display'")
        if display is not None and display not in DISPLAY_CHOICES:
            close = difflib.get_close_matches(display, DISPLAY_CHOICES, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.error(fields["display"], f"{whose} 'display' must be full, excerpt or title, not {display!r}{hint}")
            display = None
        since = None
        if "since" in fields:
            since = self.day(fields["since"], f"{whose} 'since'")
        noindex = None
        if "noindex" in fields:
            node = fields["noindex"]
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:bool":
                noindex = node.value.lower() in ("true", "yes", "on")
            else:
                self.error(node, f"{whose} 'noindex' must be true or false")
        what = f"{whose} 'license'"
        license = self.bounded(self.text(fields.get("license"), what), fields.get("license"), what, "license")
        return Wishes(display=display, since=since, noindex=noindex, license=license)

    def day(self, node: yaml.Node, what: str) -> date | None:
        """A day written as 2024-01-01 (YAML reads it as a date; quoted, it is text, also fine)."""
        value = self.text(node, what, required=True)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.error(node, f"{what} must be a day written like 2024-01-01, not {value!r}")
            return None

    def bounded(self, value: str | None, node: yaml.Node | None, what: str, limit: str) -> str | None:
        """`value`, unless it is longer than PROFILE_LIMITS[limit] (then an error, and None)."""
        if value is not None and len(value) > PROFILE_LIMITS[limit]:
            self.error(node, f"{what} is {len(value)} characters long; keep it to {PROFILE_LIMITS[limit]} at most")
            return None
        return value

    def read_feed(self, node: yaml.Node) -> FeedConfig | None:
        fields = self.mapping(node, "a feed", FEED_KEYS)
        if not fields:
            return None
        if "url" in fields and "path" in fields:
            self.error(node, "a feed has either 'url' or 'path', not both")
            return None
        if "url" not in fields and "path" not in fields:
            self.error(node, "a feed is missing 'url' (or 'path' for a file beside feeds.yaml)")
            return None
        if "url" in fields:
            source = location = self.url(fields["url"], "the feed url", required=True)
        else:
            source, location = self.feed_path(fields["path"])
        feed_type = self.text(fields.get("type"), "the feed type")
        if feed_type is not None and feed_type not in FEED_TYPES:
            self.error(
                fields["type"],
                f"unknown feed type {feed_type!r}{_suggest(feed_type, FEED_TYPES)} (leave it out to detect rss, atom or json)",
            )
            feed_type = None
        tags = []
        for name, tag_node in self.text_list(fields.get("tags"), "the feed's tags"):
            if not tag_slug(name):
                self.error(tag_node, f"the tag {name!r} has no letters or digits")
            else:
                tags.append(name)
        interval = self.interval(fields.get("interval"), "the feed interval")
        boilerplate = []
        for text, rule_node in self.text_list(fields.get("boilerplate"), "the feed's boilerplate rules", '["Book a session", "/^Follow me on .+/"]'):
            try:
                curator_rule(text)
            except ValueError as exc:
                self.error(rule_node, str(exc))
            else:
                boilerplate.append(text)
        field_map, max_posts = self.wagtail_options(fields, feed_type)
        wishes = self.read_wishes(fields, "the feed's")
        if source is None or location is None:
            return None
        return FeedConfig(
            source=source, location=location, type=feed_type, tags=tuple(tags), interval=interval,
            boilerplate=tuple(boilerplate), fields=field_map, max_posts=max_posts, wishes=wishes, line=node.start_mark.line + 1,
        )

    def wagtail_options(
        self, fields: dict[str, yaml.Node], feed_type: str | None
    ) -> tuple[tuple[tuple[str, str], ...], int | None]:
        """A Wagtail source's `fields:` map and `max_posts:` cap, which other feeds do not take."""
        for key in ("fields", "max_posts"):
            if key in fields and feed_type != "wagtail":
                self.error(fields[key], f"'{key}' is for Wagtail sources: add 'type: wagtail' or leave '{key}' out")
        if feed_type != "wagtail":
            return (), None
        field_map = []
        if "fields" in fields:
            for role, value_node in self.mapping(fields["fields"], "the feed's fields", WAGTAIL_FIELD_ROLES).items():
                path = self.text(value_node, f"the field for '{role}'", required=True)
                if path is None:
                    continue
                if not _API_FIELD_PATH.match(path):
                    self.error(value_node, f"the field for '{role}' must be an API field name like body or author.name, not {path!r}")
                    continue
                field_map.append((role, path))
        max_posts = None
        if "max_posts" in fields:
            value = self.text(fields["max_posts"], "max_posts", required=True)
            if value is not None and (not value.isdigit() or not 1 <= int(value) <= MAX_POSTS_LIMIT):
                self.error(fields["max_posts"], f"max_posts must be a whole number from 1 to {MAX_POSTS_LIMIT}")
            elif value is not None:
                max_posts = int(value)
        return tuple(field_map), max_posts

    def feed_path(self, node: yaml.Node) -> tuple[str | None, str | None]:
        value = self.text(node, "the feed path", required=True)
        if value is None:
            return None, None
        relative = Path(value)
        if relative.is_absolute():
            self.error(node, f"the feed path {value!r} must be relative to the folder of feeds.yaml")
            return None, None
        base = self.base_dir.resolve()
        target = (base / relative).resolve()
        if not target.is_relative_to(base):
            self.error(node, f"the feed path {value!r} leaves the folder of feeds.yaml; only files inside it may be read")
            return None, None
        if not target.is_file():
            self.error(node, f"the feed path {value!r}: no such file in {base}")
            return None, None
        return f"path:{target.relative_to(base).as_posix()}", target.as_uri()


class _AnyKey(tuple):
    """An `allowed` value for mappings whose keys are the curator's own."""

    def __contains__(self, key: object) -> bool:
        return True


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; expected one of: {', '.join(choices)}" if choices else ""
