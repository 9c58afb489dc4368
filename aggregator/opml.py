"""Carry the list of writers out of and into OPML 2.0, the format feed readers share.

Export turns the authors and feeds of `feeds.yaml` into an OPML document a
reader can subscribe to. Import goes the other way, but never straight into
the database: an OPML file from a reader becomes `feeds.yaml` entries that a
curator reviews, and that can be appended to the file without touching the
rest of it. OPML arrives from strangers, so parsing refuses DOCTYPEs (the
door to entity expansion and external entities) and caps the input size.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit
from xml.parsers.expat import ErrorString

import yaml

MAX_OPML_BYTES = 5 * 1024 * 1024
OPML_DOCS = "http://opml.org/spec2.opml"
DOCTYPE_REFUSED = "OPML with a DOCTYPE is refused: it could expand entities"

# Characters XML 1.0 cannot carry at all; ElementTree would write them raw and
# produce a document no reader (including ours) can open.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Characters PyYAML refuses or reads as line breaks inside a quoted scalar;
# json.dumps leaves them raw, so they are escaped after it.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
_PLAIN_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# A URL stays unquoted only when no character could mean something to YAML;
# a trailing ':' would read as a mapping key.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9._~/?&=%+:@,;-]*[A-Za-z0-9._~/?&=%+@,;-]", re.IGNORECASE)
# The line breaks PyYAML counts, so that line numbers of its marks match ours.
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
_SLUG_MAX = 60
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i"})
_COMMENT_COLUMN = 30
_STR_TAG = "tag:yaml.org,2002:str"
# How a document's first bytes give away a wide encoding; UTF-32 first, as
# its marks begin with UTF-16's.
_SIGNATURES = (
    (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
    (b"<\x00\x00\x00", "utf-32-le"), (b"\x00\x00\x00<", "utf-32-be"),
    (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"),
    (b"<\x00", "utf-16-le"), (b"\x00<", "utf-16-be"),
)
_NULL_TAG = "tag:yaml.org,2002:null"


class OpmlError(ValueError):
    """The document is not OPML that can be read; the message says why."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class OpmlFeed:
    xml_url: str
    title: str
    html_url: str | None
    group: str | None  # the text of the enclosing outline: a writer, a blog or a folder


# -- export --------------------------------------------------------------------


def export_opml(
    *,
    title: str,
    owner_url: str,
    date: datetime,
    authors: list[tuple[str, str, str | None, list[tuple[str, str | None, str | None]]]],
) -> bytes:
    """Build an OPML 2.0 document of the writers and their web feeds.

    Each author is (slug, name, homepage or None, feeds) and each feed is
    (xml_url, title or None, html_url or None). Feeds that are not http(s)
    (the demo feeds are local files) mean nothing to a reader and are left
    out, and so is a writer left with none. A feed without an html_url links
    to its writer's homepage. A naive `date` is taken as UTC.
    """
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_text(title)
    stamp = date if date.tzinfo is not None else date.replace(tzinfo=UTC)
    ET.SubElement(head, "dateCreated").text = format_datetime(stamp.astimezone(UTC), usegmt=True)
    ET.SubElement(head, "docs").text = OPML_DOCS
    ET.SubElement(head, "ownerId").text = _xml_text(owner_url)
    body = ET.SubElement(root, "body")
    for _slug, name, homepage, feeds in authors:
        web_feeds = [feed for feed in feeds if _is_http(feed[0])]
        if not web_feeds:
            continue
        author_name = _xml_text(name)
        group = ET.SubElement(body, "outline", text=author_name, title=author_name)
        for xml_url, feed_title, html_url in web_feeds:
            # OPML 2.0 requires `text` on every outline; the writer's name is
            # the best label for a feed that has no title of its own.
            label = _xml_text(feed_title or "") or author_name
            outline = ET.SubElement(group, "outline", type="rss", text=label, title=label, xmlUrl=_xml_text(xml_url))
            link = html_url if html_url and _is_http(html_url) else homepage
            if link and _is_http(link):
                outline.set("htmlUrl", _xml_text(link))
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


# -- import --------------------------------------------------------------------


def parse_opml(data: bytes) -> list[OpmlFeed]:
    """Read the web feeds of an OPML 1.0 or 2.0 document, in document order.

    Any outline with an xmlUrl is a feed, whatever its `type` and however
    deep its folders; attribute names are matched without case, since
    readers disagree (`xmlUrl`, `xmlurl`). A feed's group is the label of the
    nearest enclosing outline that has one. Feeds that are not http(s) are
    skipped. Raise OpmlError for anything that is not readable OPML.
    """
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(f"the OPML file is too large: {len(data):,} bytes, the limit is {MAX_OPML_BYTES:,}")
    _refuse_doctype(data)
    parser = ET.XMLParser(target=_NoDoctypeBuilder())
    try:
        parser.feed(data)
        root = parser.close()
    except ET.ParseError as exc:
        line, column = exc.position
        raise OpmlError(
            f"broken OPML: XML syntax error at line {line}, column {column + 1}: {ErrorString(exc.code)}", line
        ) from None
    if _local(root.tag) != "opml":
        raise OpmlError(f"not an OPML document: the root element is <{_local(root.tag)}>, not <opml>")
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise OpmlError("broken OPML: the document has no <body>")

    feeds: list[OpmlFeed] = []
    # An explicit stack, not recursion: hostile nesting thousands deep would
    # otherwise exhaust Python's recursion limit.
    stack: list[tuple[ET.Element, str | None]] = [(child, None) for child in reversed(body)]
    while stack:
        element, group = stack.pop()
        if _local(element.tag) != "outline":
            continue
        attrs = {_local(name).lower(): value for name, value in element.attrib.items()}
        label = _clean(attrs.get("text", "")) or _clean(attrs.get("title", "")) or None
        xml_url = attrs.get("xmlurl", "").strip()
        if xml_url and _is_http(xml_url):
            html_url = attrs.get("htmlurl", "").strip()
            feeds.append(
                OpmlFeed(
                    xml_url=xml_url,
                    title=label or urlsplit(xml_url).hostname or xml_url,
                    html_url=html_url if _is_http(html_url) else None,
                    group=group,
                )
            )
        inner = label or group
        stack.extend((child, inner) for child in reversed(element))
    return feeds


class _NoDoctypeBuilder(ET.TreeBuilder):
    """Stop at a DOCTYPE the byte check missed (a document in an exotic encoding)."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise OpmlError(DOCTYPE_REFUSED)


def _refuse_doctype(data: bytes) -> None:
    # ASCII-compatible encodings keep "<!DOCTYPE" as the same bytes, so
    # Latin-1 (which decodes any byte) shows it; UTF-16 and UTF-32 are
    # recognised by their byte order mark or the zero bytes around '<'.
    encoding = next((name for start, name in _SIGNATURES if data.startswith(start)), "latin-1")
    lowered = data.decode(encoding, errors="replace").lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        raise OpmlError(DOCTYPE_REFUSED)


def _local(tag: object) -> str:
    """Return an element or attribute name without its {namespace}."""
    name = tag if isinstance(tag, str) else ""
    return name.rsplit("}", 1)[-1]


def _clean(text: str) -> str:
    """Collapse whitespace and drop control characters, which no label needs."""
    kept = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs", "Cn") or ch.isspace())
    return " ".join(kept.split())


def _is_http(url: str | None) -> bool:
    if not url:
        return False
    try:
        parts = urlsplit(url.strip())
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a malformed address such as "http://[::1"
        return False


# -- into feeds.yaml -----------------------------------------------------------


def feeds_yaml_entries(
    feeds: list[OpmlFeed], existing_slugs: set[str], existing_urls: set[str]
) -> tuple[str, list[str]]:
    """Turn imported feeds into `authors:` items for feeds.yaml, and notes on what was skipped.

    Feeds are grouped by their group (a writer, a blog, or a reader's
    folder), else by their own title: one author per group. Slugs are made
    from the names and kept unique; feeds already listed (scheme and host
    compared without case) or listed twice are skipped with a note. The text
    is indented as list items under a top-level `authors:` key.
    """
    notes: list[str] = []
    known_urls = {_url_key(url) for url in existing_urls}
    seen_urls = set(known_urls)
    taken = set(existing_slugs)
    groups: dict[str, list[OpmlFeed]] = {}
    for feed in feeds:
        url = feed.xml_url.strip()
        if not _is_http(url):
            notes.append(f"skipped {url}: not an http(s) address")
            continue
        key = _url_key(url)
        if key in seen_urls:
            already = "already in feeds.yaml" if key in known_urls else "listed twice in the OPML"
            notes.append(f"skipped {url}: {already}")
            continue
        seen_urls.add(key)
        name = _clean(feed.group or "") or _clean(feed.title) or urlsplit(url).hostname or "writer"
        groups.setdefault(name, []).append(feed)

    blocks = []
    for name, members in groups.items():
        slug = _unique_slug(_slugify(name), taken)
        taken.add(slug)
        hosts = {urlsplit(f.xml_url.strip()).hostname for f in members}
        if len(hosts) > 1:
            notes.append(
                f'{slug}: the group "{name}" holds feeds of {len(hosts)} sites; split it if they are different writers'
            )
        homepage = next((f.html_url.strip() for f in members if f.html_url and _is_http(f.html_url)), None)
        first = f"  - slug: {_yaml_scalar(slug, _PLAIN_SLUG)}"
        lines = [
            f"{first.ljust(_COMMENT_COLUMN - 2)}  # from {_comment(name)} (OPML)",
            f"    name: {_yaml_scalar(name)}",
        ]
        if homepage:
            lines.append(f"    homepage: {_yaml_scalar(homepage, _PLAIN_URL)}")
        lines.append("    feeds:")
        for feed in members:
            line = f"      - url: {_yaml_scalar(feed.xml_url.strip(), _PLAIN_URL)}"
            title = _clean(feed.title)
            # The feed's own title has no key in feeds.yaml; a comment keeps it
            # in view for the curator when it says more than the writer's name.
            lines.append(f"{line}  # {_comment(title)}" if title and title != name else line)
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks), notes


def _url_key(url: str) -> str:
    """Compare feed URLs the way servers do: scheme and host are case-blind."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


def _slugify(name: str) -> str:
    # NFKD splits "é" into "e" and an accent; these letters have no such parts.
    spelled = name.lower().translate(_LETTERS)
    ascii_name = unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    if len(slug) > _SLUG_MAX:
        cut = slug[:_SLUG_MAX]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return slug or "writer"


def _unique_slug(base: str, taken: set[str]) -> str:
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _yaml_scalar(value: str, plain: re.Pattern[str] = _PLAIN_TEXT) -> str:
    """Write a scalar as plain YAML when nothing in it can be misread, else as a JSON string."""
    # "null", "yes" and "123" are alphanumeric yet load as other types.
    if plain.fullmatch(value) and yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG:
        return value
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


def _comment(text: str) -> str:
    return _YAML_UNSAFE.sub(" ", json.dumps(text, ensure_ascii=False))


def append_to_feeds_yaml(path: Path, entries_text: str) -> None:
    """Insert author entries at the end of the `authors:` list of a feeds file, changing nothing else.

    The entries go right after the last line of the last author, so comments
    and keys after the list stay after it; their indentation is moved to the
    list's own. A file without `authors:` gets one at its end. The file is
    replaced atomically, and only if the result reads as the old data plus
    the new authors. Raise ValueError when that cannot be done safely.
    """
    target = Path(os.path.realpath(path))
    with open(target, encoding="utf-8", newline="") as handle:
        original = handle.read()
    if not entries_text.strip():
        return
    newline = "\r\n" if "\r\n" in original else "\n"
    lines = _split_lines(original)
    try:
        root = yaml.compose(original, Loader=yaml.SafeLoader)
        old_data = yaml.safe_load(original)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML, so entries cannot be added safely: {exc}") from None
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise ValueError(f"{path} is not a feeds file: its top level is not a mapping of keys")
    authors_key, authors = _find_key(root, "authors")

    if authors is None:
        # No authors yet: the list goes at the end of the file.
        ends_with_break = original.endswith(("\n", "\r", "\x85", "\u2028", "\u2029"))
        text = original if not original or ends_with_break else original + newline
        separator = newline if text.strip() else ""
        updated = text + separator + "authors:" + newline + _with_newline(_reindent(entries_text, 2), newline)
        if original and not ends_with_break:
            updated = updated[: -len(newline)]
    else:
        if isinstance(authors, yaml.SequenceNode) and not authors.flow_style and authors.value:
            column = authors.start_mark.column
            last = _last_content_line(authors.value[-1], lines)
            separate = True  # a blank line between authors, as feeds.yaml has
        elif _is_empty(authors):
            # `authors:` with nothing after it (or `[]`, `~`): the value is
            # removed and the list starts on the next line.
            column = authors_key.start_mark.column + 2
            last = authors_key.start_mark.line
            if authors.start_mark.line != last or authors.end_mark.line != last:
                raise ValueError(f"{path}: the empty 'authors:' value spans lines; add the entries by hand")
            content, ending = _split_ending(lines[last])
            if authors.end_mark.column > authors.start_mark.column:
                content = content[: authors.start_mark.column].rstrip() + content[authors.end_mark.column :]
            lines[last] = content + ending
            separate = False
        else:
            raise ValueError(f"{path}: 'authors:' is not a block list ('- slug: ...' items); add the entries by hand")
        block = _with_newline(_reindent(entries_text, column), newline)
        content, ending = _split_ending(lines[last])
        if not ending:
            # The last line of the file had no line break: it needs one before
            # the new lines, and the file keeps ending without one.
            lines[last] = content + newline
            block = block[: -len(newline)]
        if separate:
            block = newline + block
        updated = "".join(lines[: last + 1]) + block + "".join(lines[last + 1 :])

    _check_only_added(path, updated, old_data, entries_text)
    _write_atomically(target, updated)


def _split_lines(text: str) -> list[str]:
    """Split text into lines that keep their line breaks, as PyYAML counts them."""
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


def _find_key(root: yaml.Node | None, key: str) -> tuple[yaml.Node | None, yaml.Node | None]:
    if not isinstance(root, yaml.MappingNode):
        return None, None
    for key_node, value_node in root.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None, None


def _is_empty(node: yaml.Node) -> bool:
    if isinstance(node, yaml.ScalarNode):
        return node.tag == _NULL_TAG
    return isinstance(node, yaml.SequenceNode) and not node.value


def _last_content_line(node: yaml.Node, lines: list[str]) -> int:
    """Return the index of the last line holding text of `node`.

    A block collection's end mark lies at the next token, past any blank
    lines and comments that follow it, so only scalars and flow collections,
    whose marks end where their text does, are trusted.
    """
    end = _last_end(node)
    line = end.line if end.column > 0 else end.line - 1
    # A block scalar (`|`, `>`) ends after the line breaks it consumed.
    while line > node.start_mark.line and not lines[line].strip():
        line -= 1
    return max(line, node.start_mark.line)


def _last_end(node: yaml.Node) -> yaml.Mark:
    marks = []
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, yaml.ScalarNode) or getattr(current, "flow_style", False):
            marks.append(current.end_mark)
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                pending.extend((key_node, value_node))
    return max(marks, key=lambda mark: mark.index) if marks else node.start_mark


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


def _check_only_added(path: Path, updated: str, old_data: object, entries_text: str) -> None:
    """Refuse to write unless the new file reads as the old data plus the new authors."""
    try:
        added = yaml.safe_load("authors:\n" + _reindent(entries_text, 2))
        new_data = yaml.safe_load(updated)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: the entries would not make valid YAML: {exc}") from None
    if not isinstance(added, dict) or not isinstance(added.get("authors"), list):
        raise ValueError("the entries are not a YAML list of authors ('- slug: ...' items)")
    expected = dict(old_data) if isinstance(old_data, dict) else {}
    expected["authors"] = list(expected.get("authors") or []) + added["authors"]
    if new_data != expected:
        raise ValueError(f"{path}: inserting the entries would change more than the authors list; add them by hand")


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
