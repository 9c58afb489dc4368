"""Edit feeds.yaml as a curator would by hand: only the block that changes, the rest byte for byte.

`aggregator add`, `aggregator fix` and `aggregator import-opml --write` all
write through `FeedsFile`. The file is the curators' own: its comments,
key order, blank lines, quoting and line ends are theirs, so nothing is
re-dumped. ruamel.yaml (a round-trip YAML library) reads the file as a node
tree whose marks say where each author, feed and URL stands, and renders
the new blocks; each edit splices text into the old at those marks.

Every edit is proved before it is kept: the edited text, loaded as data,
must equal the old data with just that change made, or the edit is
refused. `save()` then validates the whole file as `aggregator check`
does, and replaces the file atomically, so the scheduler watching it never
sees half a file nor one that does not validate.
"""

from __future__ import annotations

import copy
import difflib
import io
import os
import re
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from aggregator.config import ConfigError, parse_config
from aggregator.identity import feed_identity

# The line breaks YAML counts, so that lines split here match the marks.
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
# Characters a YAML reader refuses or reads as line breaks: written escaped, in double quotes.
_NEEDS_ESCAPE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_COMMENT_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_COMMENT_COLUMN = 30  # where a new author's comment starts, as the shipped feeds.yaml aligns them
_NULL = "tag:yaml.org,2002:null"
_STR = "tag:yaml.org,2002:str"
# PyYAML (which `check` uses) and many tools read YAML 1.1, where `yes`, `on`
# and `2024-01-01` are no text; such values are quoted for every reader.
_YAML_11 = VersionedResolver(version=(1, 1))


class FeedsFileError(ValueError):
    """feeds.yaml cannot be edited safely; the message says why and what to do instead."""


@dataclass(frozen=True)
class NewFeed:
    url: str
    type: str | None = None
    tags: tuple[str, ...] = ()
    comment: str | None = None  # after the url: what the feed calls itself


@dataclass(frozen=True)
class NewAuthor:
    slug: str
    name: str
    feeds: tuple[NewFeed, ...]
    homepage: str | None = None
    comment: str | None = None  # after the slug: where the writer came from
    extra: dict[str, Any] = field(default_factory=dict)  # more keys of feeds.yaml, in order


@dataclass(frozen=True)
class _Place:
    """Where an author, and maybe one of their feeds, stands in the node tree and in the data."""

    author_index: int
    author: MappingNode
    feed_index: int | None = None
    feed: MappingNode | None = None


class FeedsFile:
    """One feeds file being edited: the text as read, the text as edited, and the edits' proofs."""

    def __init__(self, path: Path):
        self.path = Path(path)
        # A feeds.yaml that is a link (to a shared checkout) is edited where it lives.
        self.target = Path(os.path.realpath(self.path))
        try:
            with open(self.target, encoding="utf-8", newline="") as handle:
                self.original = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise FeedsFileError(f"{self.path} cannot be read: {exc}") from None
        self.text = self.original
        self.newline = "\r\n" if "\r\n" in self.original else "\n"

    @property
    def changed(self) -> bool:
        return self.text != self.original

    # -- edits -----------------------------------------------------------------

    def add_authors(self, authors: Sequence[NewAuthor]) -> None:
        """Append writers at the end of the `authors:` list (after its last line, before any comment that follows)."""
        if not authors:
            return
        root = self._root()
        key, value = _mapping_item(root, "authors")
        lines = _split_lines(self.text)
        if value is None:
            # No authors yet: the list goes at the end of the file.
            text = self.text
            ends_with_break = not text or bool(_LINE_BREAK.search(text[-1]))
            separator = self.newline if text.strip() else ""
            block = "authors:" + self.newline + render_authors(authors, 2, self.newline)
            updated = (text if ends_with_break else text + self.newline) + separator + block
            if not ends_with_break:
                updated = updated[: -len(self.newline)]
        elif isinstance(value, SequenceNode) and not value.flow_style and value.value:
            last = _last_content_line(value.value[-1], lines)
            # A blank line between writers, as feeds.yaml has them.
            updated = _insert_after(lines, last, render_authors(authors, value.start_mark.column, self.newline), self.newline, blank=True)
        elif _is_empty(value):
            # `authors:` with nothing after it (or `[]`, `~`): the value goes and the list starts on the next line.
            last = key.start_mark.line
            # A bare `authors:` has no text of its own to take away.
            written = not (isinstance(value, ScalarNode) and value.value == "")
            if written and (value.start_mark.line != last or value.end_mark.line != last):
                raise FeedsFileError(f"{self.path}: the empty 'authors:' value spans lines; add the writers by hand")
            content, ending = _split_ending(lines[last])
            if written:
                content = content[: value.start_mark.column].rstrip() + content[value.end_mark.column :]
            lines[last] = content + ending
            updated = _insert_after(lines, last, render_authors(authors, key.start_mark.column + 2, self.newline), self.newline)
        else:
            raise FeedsFileError(f"{self.path}: 'authors:' is not a block list ('- slug: ...' items); add the writers by hand")

        def expect(data: dict[str, Any]) -> None:
            data["authors"] = list(data.get("authors") or []) + [_author_data(author) for author in authors]

        self._commit(updated, expect)

    def add_feeds(self, slug: str, feeds: Sequence[NewFeed]) -> None:
        """Append feeds to the `feeds:` list of the writer `slug`."""
        if not feeds:
            return
        place = self._find_author(slug)
        _, feeds_node = _mapping_item(place.author, "feeds")
        if not isinstance(feeds_node, SequenceNode) or feeds_node.flow_style or not feeds_node.value:
            raise FeedsFileError(f"{self.path}: the feeds of '{slug}' are not a block list ('- url: ...' items); add the feed by hand")
        lines = _split_lines(self.text)
        last = _last_content_line(feeds_node.value[-1], lines)
        updated = _insert_after(lines, last, render_feeds(feeds, feeds_node.start_mark.column, self.newline), self.newline)

        def expect(data: dict[str, Any]) -> None:
            data["authors"][place.author_index]["feeds"] += [_feed_data(feed) for feed in feeds]

        self._commit(updated, expect)

    def move_feed(self, source: str, new_url: str) -> None:
        """Give the feed listed as `source` the address `new_url`, in the quoting it had."""
        place = self._find_feed(source)
        _, url_node = _mapping_item(place.feed, "url")
        if not isinstance(url_node, ScalarNode) or url_node.style in ("|", ">"):
            raise FeedsFileError(f"{self.path}: the url of {source} is not a one-line value; change it by hand")
        start, end = url_node.start_mark.index, url_node.end_mark.index
        updated = self.text[:start] + _render_scalar(new_url, url_node.style) + self.text[end:]

        def expect(data: dict[str, Any]) -> None:
            data["authors"][place.author_index]["feeds"][place.feed_index]["url"] = new_url

        self._commit(updated, expect)

    def comment_out_feed(self, source: str, reason: str) -> bool:
        """Turn the feed listed as `source` into comment lines that begin with `reason`.

        A writer left with no feed cannot stay listed (check would refuse
        them), so when this is their last feed the whole writer is
        commented out. Return True when the writer was.
        """
        place = self._find_feed(source)
        _, feeds_node = _mapping_item(place.author, "feeds")
        whole_author = len(feeds_node.value) == 1
        _, authors_node = _mapping_item(self._root(), "authors")
        item = place.author if whole_author else place.feed
        parent = authors_node if whole_author else feeds_node
        if parent.flow_style:
            raise FeedsFileError(f"{self.path}: {source} is in a flow list ('[...]'); comment it out by hand")
        lines = _split_lines(self.text)
        first, column = _dash_of(item, lines)
        last = _last_content_line(item, lines)
        prefix = f"# {_comment_text(reason)}: "
        for number in range(first, last + 1):
            content, ending = _split_ending(lines[number])
            if not content.strip():
                continue
            lead = min(column, len(content) - len(content.lstrip(" ")))
            mark = prefix if number == first else "#".ljust(len(prefix))
            lines[number] = content[:lead] + mark + content[lead:] + ending
        updated = "".join(lines)

        def expect(data: dict[str, Any]) -> None:
            if whole_author:
                del data["authors"][place.author_index]
                if not data["authors"]:
                    data["authors"] = None
            else:
                del data["authors"][place.author_index]["feeds"][place.feed_index]

        self._commit(updated, expect)
        return whole_author

    # -- results ---------------------------------------------------------------

    def diff(self) -> str:
        """The edits as a unified diff, as `git diff` would show them."""
        name = str(self.path)
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True), self.text.splitlines(keepends=True), f"a/{name}", f"b/{name}"
            )
        )

    def save(self) -> None:
        """Validate the edited file as `aggregator check` does, then replace the file in one step.

        Refuses (FeedsFileError) a result that check would refuse, and a file
        that someone changed since it was read here.
        """
        if not self.changed:
            return
        try:
            parse_config(self.text, self.path)
        except ConfigError as exc:
            problems = "\n".join(f"  {problem}" for problem in exc.problems)
            raise FeedsFileError(f"{self.path}: the edited file would not pass check:\n{problems}") from None
        try:
            with open(self.target, encoding="utf-8", newline="") as handle:
                now = handle.read()
        except OSError as exc:
            raise FeedsFileError(f"{self.path} cannot be read: {exc}") from None
        if now != self.original:
            raise FeedsFileError(f"{self.path} was changed by someone else meanwhile; nothing was written, run the command again")
        _write_atomically(self.target, self.text)
        self.original = self.text

    # -- inner workings --------------------------------------------------------

    def _root(self) -> MappingNode | None:
        try:
            root = YAML(typ="rt").compose(self.text)
        except YAMLError as exc:
            raise FeedsFileError(f"{self.path} is not valid YAML, so it cannot be edited safely: {exc}") from None
        if root is not None and not isinstance(root, MappingNode):
            raise FeedsFileError(f"{self.path} is not a feeds file: its top level is not a mapping of keys")
        return root

    def _authors(self) -> list[MappingNode]:
        _, authors = _mapping_item(self._root(), "authors")
        if not isinstance(authors, SequenceNode):
            return []
        return [node for node in authors.value if isinstance(node, MappingNode)]

    def _find_author(self, slug: str) -> _Place:
        for index, author in enumerate(self._authors()):
            _, slug_node = _mapping_item(author, "slug")
            if isinstance(slug_node, ScalarNode) and slug_node.value.strip() == slug:
                return _Place(index, author)
        raise FeedsFileError(f"{self.path}: no writer '{slug}' is listed")

    def _find_feed(self, source: str) -> _Place:
        wanted = feed_identity(source)
        for author_index, author in enumerate(self._authors()):
            _, feeds = _mapping_item(author, "feeds")
            for feed_index, feed in enumerate(feeds.value if isinstance(feeds, SequenceNode) else []):
                if isinstance(feed, MappingNode) and _feed_source(feed) == wanted:
                    return _Place(author_index, author, feed_index, feed)
        raise FeedsFileError(f"{self.path}: no feed {source} is listed")

    def _commit(self, updated: str, expect: Callable[[dict[str, Any]], None]) -> None:
        """Keep `updated` only if it loads as the old data with `expect`'s change made."""
        old = _load(self.text) or {}
        if not isinstance(old, dict):
            raise FeedsFileError(f"{self.path} is not a feeds file: its top level is not a mapping of keys")
        wanted = copy.deepcopy(old)
        expect(wanted)
        try:
            got = _load(updated)
        except YAMLError as exc:
            raise FeedsFileError(f"{self.path}: the edit would not make valid YAML ({exc}); make it by hand") from None
        if got != wanted:
            raise FeedsFileError(f"{self.path}: the edit would change more than it should; make it by hand")
        self.text = updated

# -- rendering ---------------------------------------------------------------------


def render_authors(authors: Sequence[NewAuthor], column: int = 2, newline: str = "\n") -> str:
    """New writers as `authors:` list items whose dashes stand at `column`, a blank line between two."""
    blocks = []
    for author in authors:
        item = CommentedMap()
        item["slug"] = _scalar(author.slug)
        item["name"] = _scalar(author.name)
        if author.homepage:
            item["homepage"] = _scalar(author.homepage)
        for key, value in author.extra.items():
            item[key] = _scalar(value) if isinstance(value, str) else value
        item["feeds"] = _feeds_seq(author.feeds)
        if author.comment:
            item.yaml_add_eol_comment(_comment_text(author.comment), "slug", column=_COMMENT_COLUMN)
        blocks.append(_reindent(_dump(CommentedSeq([item])), column))
    return _with_newline("\n".join(blocks), newline)


def render_feeds(feeds: Sequence[NewFeed], column: int = 6, newline: str = "\n") -> str:
    """New feeds as `feeds:` list items whose dashes stand at `column`."""
    return _with_newline(_reindent(_dump(_feeds_seq(feeds)), column), newline)


def _feeds_seq(feeds: Sequence[NewFeed]) -> CommentedSeq:
    items = CommentedSeq()
    for feed in feeds:
        item = CommentedMap()
        item["url"] = _scalar(feed.url)
        if feed.type:
            item["type"] = _scalar(feed.type)
        if feed.tags:
            tags = CommentedSeq(_scalar(tag) for tag in feed.tags)
            tags.fa.set_flow_style()
            item["tags"] = tags
        if feed.comment:
            item.yaml_add_eol_comment(_comment_text(feed.comment), "url", column=0)
        items.append(item)
    return items


def _dump(value: Any) -> str:
    writer = YAML(typ="rt")
    writer.indent(mapping=2, sequence=4, offset=2)
    writer.width = 1_000_000  # never fold a long name or URL over lines
    writer.allow_unicode = True
    out = io.StringIO()
    writer.dump(value, out)
    return out.getvalue()


def _scalar(value: str) -> str:
    """A string as it should be written: escaped in double quotes when it holds what YAML cannot show."""
    if _NEEDS_ESCAPE.search(value):
        return DoubleQuotedScalarString(value)
    if _YAML_11.resolve(ScalarNode, value, (True, False)) != _STR:
        return SingleQuotedScalarString(value)
    return value


def _render_scalar(value: str, style: str | None) -> str:
    """One scalar in the quoting it replaces (plain stays plain when it can)."""
    if style == '"' or _NEEDS_ESCAPE.search(value):
        scalar: str = DoubleQuotedScalarString(value)
    elif style == "'":
        scalar = SingleQuotedScalarString(value)
    else:
        scalar = _scalar(value)
    text = _dump([scalar])
    return _split_ending(text.removeprefix("  - ").removeprefix("- "))[0]


def _comment_text(text: str) -> str:
    """Text that stays on one comment line."""
    return " ".join(_COMMENT_UNSAFE.sub(" ", text).split())


def _author_data(author: NewAuthor) -> dict[str, Any]:
    data: dict[str, Any] = {"slug": author.slug, "name": author.name}
    if author.homepage:
        data["homepage"] = author.homepage
    data.update(author.extra)
    data["feeds"] = [_feed_data(feed) for feed in author.feeds]
    return data


def _feed_data(feed: NewFeed) -> dict[str, Any]:
    data: dict[str, Any] = {"url": feed.url}
    if feed.type:
        data["type"] = feed.type
    if feed.tags:
        data["tags"] = list(feed.tags)
    return data


def _load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


# -- text and marks ----------------------------------------------------------------


def _mapping_item(node: Node | None, key: str) -> tuple[Node | None, Node | None]:
    if not isinstance(node, MappingNode):
        return None, None
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None, None


def _feed_source(feed: MappingNode) -> str | None:
    _, url = _mapping_item(feed, "url")
    if isinstance(url, ScalarNode):
        return feed_identity(url.value)
    _, path = _mapping_item(feed, "path")
    return f"path:{path.value.strip()}" if isinstance(path, ScalarNode) else None


def _is_empty(node: Node) -> bool:
    if isinstance(node, ScalarNode):
        return node.tag == _NULL
    return isinstance(node, SequenceNode) and not node.value


def _split_lines(text: str) -> list[str]:
    """Lines that keep their line breaks, split where YAML counts a line."""
    lines, start = [], 0
    for match in _LINE_BREAK.finditer(text):
        lines.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        lines.append(text[start:])
    return lines


def _split_ending(line: str) -> tuple[str, str]:
    match = _LINE_BREAK.search(line)
    return (line[: match.start()], line[match.start() :]) if match else (line, "")


def _with_newline(text: str, newline: str) -> str:
    """End every line of `text` with the file's own line break."""
    return "".join(_split_ending(line)[0] + newline for line in _split_lines(text))


def _insert_after(lines: list[str], last: int, block: str, newline: str, *, blank: bool = False) -> str:
    """The text with `block` inserted after line `last`, a blank line before it if asked."""
    lines = list(lines)
    content, ending = _split_ending(lines[last]) if lines else ("", "")
    if lines and not ending:
        # The file's last line had no line break: it gets one before the new
        # lines, and the file keeps ending without one.
        lines[last] = content + newline
        block = block[: -len(newline)]
    if blank:
        block = newline + block
    return "".join(lines[: last + 1]) + block + "".join(lines[last + 1 :])


def _last_content_line(node: Node, lines: list[str]) -> int:
    """The index of the last line holding text of `node`.

    A block collection's end mark lies at the next token, past any blank
    lines and comments that follow it, so only scalars and flow collections,
    whose marks end where their text does, are trusted.
    """
    end = _last_end(node)
    line = end.line if end.column > 0 else end.line - 1
    # A block scalar (`|`, `>`) ends after the line breaks it took.
    while line > node.start_mark.line and not lines[line].strip():
        line -= 1
    return max(line, node.start_mark.line)


def _last_end(node: Node) -> Any:
    marks = []
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, ScalarNode) or getattr(current, "flow_style", False):
            marks.append(current.end_mark)
        elif isinstance(current, SequenceNode):
            pending.extend(current.value)
        elif isinstance(current, MappingNode):
            for key_node, value_node in current.value:
                pending.extend((key_node, value_node))
    return max(marks, key=lambda mark: mark.index) if marks else node.start_mark


def _dash_of(item: Node, lines: list[str]) -> tuple[int, int]:
    """The line and column of the `-` that starts a block list item."""
    number, column = item.start_mark.line, item.start_mark.column
    while number >= 0:
        before = _split_ending(lines[number])[0][:column].rstrip()
        if before.endswith("-"):
            return number, len(before) - 1
        if before.strip():
            break
        number -= 1
        column = len(lines[number]) if number >= 0 else 0
    raise FeedsFileError("a list item without its '-' on the line: edit it by hand")


def _reindent(text: str, column: int) -> str:
    """Move YAML list items so that their dashes stand at `column`."""
    lines = [_split_ending(line)[0] for line in _split_lines(text)]
    items = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    indents = [len(line) - len(line.lstrip(" ")) for line in items]
    shift = column - min(indents, default=column)
    moved = []
    for line in lines:
        if not line.strip():
            moved.append("")
        elif shift >= 0:
            moved.append(" " * shift + line)
        else:
            lead = len(line) - len(line.lstrip(" "))
            moved.append(line[min(lead, -shift) :])
    return "\n".join(moved) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    # A reader of the file (the scheduler watches it) sees the old or the new
    # version, never half of one.
    mode = stat.S_IMODE(os.stat(path).st_mode)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
